"""Parsers for the official file formats: MNIST's idx and CIFAR's python pickles."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np

_IDX_UBYTE = 0x08


def parse_idx(payload: bytes, name: str = "idx file") -> np.ndarray:
    """Decode an uncompressed idx file (http://yann.lecun.com/exdb/mnist/) of unsigned bytes.

    The header is two zero bytes, the type code 0x08 (ubyte), the rank, then one
    big-endian int32 per dimension.

    Returns:
      uint8 array with the dimensions from the header, e.g. [N, 28, 28] or [N].
    """
    if len(payload) < 4 or payload[:2] != b"\0\0" or payload[2] != _IDX_UBYTE:
        raise ValueError(
            f"{name} is not an idx file of unsigned bytes: expected the header "
            f"00 00 08 <rank>, got {payload[:4].hex(' ')}"
        )
    rank = payload[3]
    header = 4 + 4 * rank
    shape = tuple(int(d) for d in np.frombuffer(payload[4:header], ">i4"))
    expected = header + int(np.prod(shape))
    if len(shape) != rank or len(payload) != expected:
        raise ValueError(
            f"{name} is truncated or padded: the header {shape} needs {expected} bytes, the file has {len(payload)}"
        )
    return np.frombuffer(payload, np.uint8, offset=header).reshape(shape)


def idx_images(payload: bytes, name: str) -> np.ndarray:
    """idx images [N, H, W] as uint8 NHWC [N, H, W, 1]."""
    images = parse_idx(payload, name)
    if images.ndim != 3:
        raise ValueError(f"{name}: expected an idx3 image file [N, H, W], got shape {images.shape}")
    return images[..., None]


def idx_labels(payload: bytes, name: str) -> np.ndarray:
    """idx labels [N] as int32 [N]."""
    labels = parse_idx(payload, name)
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected an idx1 label file [N], got shape {labels.shape}")
    return labels.astype(np.int32)


def cifar_archive(payload: bytes, members: list[str], label_key: str, meta_member: str, names_key: str):
    """Read CIFAR's python version (https://www.cs.toronto.edu/~kriz/cifar.html) from its tar.gz.

    Each member is a pickled dict with b'data' (uint8 [N, 3072]: the red, green and
    blue 32x32 planes of each image, row-major) and the labels under ``label_key``.

    Only call this on an archive whose checksum was verified: it unpickles.

    Returns:
      (images uint8 [N, 32, 32, 3], labels int32 [N], class names tuple[str]).
    """
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        batches = [_unpickle(tar, m) for m in members]
        meta = _unpickle(tar, meta_member)
    data = np.concatenate([np.asarray(b[b"data"], np.uint8) for b in batches])
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    labels = np.concatenate([np.asarray(b[label_key.encode()], np.int32) for b in batches])
    classes = tuple(n.decode() for n in meta[names_key.encode()])
    return np.ascontiguousarray(images), labels, classes


def _unpickle(tar: tarfile.TarFile, member: str) -> dict:
    try:
        handle = tar.extractfile(member)
    except KeyError:
        raise ValueError(f"the CIFAR archive has no member {member!r}; it holds {tar.getnames()}") from None
    # The official pickles were written by Python 2: keys and names are bytes.
    return pickle.load(handle, encoding="bytes")
