"""Reading torchvision checkpoints from disk: ``.pth``/``.pt`` (needs torch), ``.safetensors``
(read here with numpy alone) and ``.npz``."""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import flax.linen as nn
import numpy as np

from jaxcnn.convert.mapping import as_numpy, from_torchvision

TORCH_SUFFIXES = (".pth", ".pt")

# safetensors dtype names -> numpy (little-endian); BF16 is widened to float32 separately.
_SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as numpy arrays (BF16 widened to float32).

    The format: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then
    the raw little-endian data, offsets counted from the end of the header.
    """
    size = os.path.getsize(path)
    if size < 8:
        raise ValueError(f"{path} is not a safetensors file: it has {size} bytes, fewer than the 8-byte header length.")
    data = np.memmap(path, dtype=np.uint8, mode="r")
    (header_size,) = struct.unpack("<Q", data[:8].tobytes())
    if 8 + header_size > data.size:
        raise ValueError(
            f"{path} is not a safetensors file: its header length {header_size} exceeds the file size {data.size}."
        )
    try:
        header = json.loads(data[8 : 8 + header_size].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a safetensors file: its header is not JSON ({err}).") from None
    header.pop("__metadata__", None)
    body = data[8 + header_size :]
    return {name: _safetensors_array(path, name, info, body) for name, info in header.items()}


def _safetensors_array(path: Any, name: str, info: dict, body: np.ndarray) -> np.ndarray:
    dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
    if dtype != "BF16" and dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(
            f"{path}: tensor {name!r} has dtype {dtype}; supported: BF16, {', '.join(_SAFETENSORS_DTYPES)}."
        )
    itemsize = 2 if dtype == "BF16" else np.dtype(_SAFETENSORS_DTYPES[dtype]).itemsize
    if end - begin != itemsize * int(np.prod(shape)) or not 0 <= begin <= end <= body.size:
        raise ValueError(
            f"{path}: tensor {name!r} ({dtype} {shape}) has data_offsets [{begin}, {end}] "
            "that do not fit its size or the file."
        )
    raw = body[begin:end]
    if dtype == "BF16":  # bfloat16 is the upper half of a float32
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return raw.view(_SAFETENSORS_DTYPES[dtype]).reshape(shape).copy()


def _read_torch(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"reading {path} needs PyTorch (`pip install torch`); or convert it once where torch is "
            "installed: numpy.savez('weights.npz', **{k: v.numpy() for k, v in torch.load(path).items()})."
        ) from None
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or not all(hasattr(v, "detach") for v in state_dict.values()):
        raise ValueError(
            f"{path} holds a {type(state_dict).__name__}, not a state_dict of tensors; if it is a training checkpoint, "
            "pass its state_dict (often checkpoint['model'] or checkpoint['state_dict']) to from_torchvision."
        )
    return {key: as_numpy(value, key) for key, value in state_dict.items()}


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state_dict from ``.pth``/``.pt`` (needs torch), ``.safetensors`` or ``.npz``, as numpy arrays."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if suffix in TORCH_SUFFIXES:
        return _read_torch(path)
    if suffix == ".safetensors":
        return read_safetensors(path)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    raise ValueError(
        f"cannot read {path}: expected a .pth/.pt (torch), .safetensors or .npz file; got suffix {suffix!r}."
    )


def load_torchvision(model: str | nn.Module, path: str | os.PathLike, *, drop_aux: bool = False) -> dict:
    """``from_torchvision(model, read_state_dict(path), drop_aux=drop_aux)``: variables from a
    torchvision checkpoint file (``.pth``/``.pt`` with torch installed, ``.safetensors``, ``.npz``)."""
    return from_torchvision(model, read_state_dict(path), drop_aux=drop_aux)
