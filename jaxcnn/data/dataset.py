"""The in-memory dataset every loader returns, and its per-channel statistics."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled image set held as arrays (or memory maps).

    Attributes:
      images: uint8 array [N, H, W, C], pixel values 0..255, NHWC.
      labels: int32 array [N], each in 0..len(classes)-1.
      classes: class names; label k means ``classes[k]``.
      source: where the data came from (a path or URL).
      sha256: sha256 of the verified source (for idx files: of the decompressed
        images file), or None when unverified (an image folder, arrays in memory).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str
    sha256: str | None = None

    def __post_init__(self):
        _check_images(self.images)
        _check_labels(self.labels)
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"images and labels differ in length: {len(self.images)} images, "
                f"{len(self.labels)} labels; pass one label per image"
            )
        if len(self.images) == 0:
            raise ValueError("the dataset has no examples; expected at least one image")
        _check_classes(self.classes)
        _check_label_range(self.labels, len(self.classes))
        if not isinstance(self.source, str):
            raise TypeError(f"source must be a str (path or URL), got {type(self.source).__name__}")
        if self.sha256 is not None and not _SHA256.fullmatch(str(self.sha256)):
            raise ValueError(f"sha256 must be 64 lowercase hex digits or None, got {self.sha256!r}")

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W, C) of every image."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self)} images of {self.images.shape[1:]}, "
            f"{self.num_classes} classes, source={self.source!r})"
        )


def _check_images(images) -> None:
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"images must be a numpy array, got {type(images).__name__}; wrap it with np.asarray(images, np.uint8)"
        )
    if images.dtype != np.uint8:
        raise TypeError(
            f"images must have dtype uint8 (pixel values 0..255), got {images.dtype}; "
            "convert with images.astype(np.uint8) after scaling to 0..255"
        )
    if images.ndim != 4:
        raise ValueError(
            f"images must have rank 4 [N, H, W, C], got shape {images.shape}; "
            "add a channel axis with images[..., None] for grey images"
        )


def _check_labels(labels) -> None:
    if not isinstance(labels, np.ndarray):
        raise TypeError(
            f"labels must be a numpy array, got {type(labels).__name__}; wrap it with np.asarray(labels, np.int32)"
        )
    if labels.dtype != np.int32:
        raise TypeError(f"labels must have dtype int32, got {labels.dtype}; convert with labels.astype(np.int32)")
    if labels.ndim != 1:
        raise ValueError(f"labels must have rank 1 [N], got shape {labels.shape}")


def _check_classes(classes) -> None:
    if not isinstance(classes, tuple) or not all(isinstance(c, str) for c in classes):
        raise TypeError(f"classes must be a tuple of str, got {classes!r}")
    if not classes:
        raise ValueError("classes is empty; expected at least one class name")


def _check_label_range(labels: np.ndarray, num_classes: int) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{bad.size} labels are outside 0..{num_classes - 1} (there are {num_classes} "
            f"classes); the first is labels[{i}] = {int(labels[i])}"
        )


def channel_stats(ds: Dataset, *, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the pixels, in 0..1 units.

    Computed exactly from 256-bin histograms, so a memory-mapped dataset is read
    in chunks of ``chunk`` images and never converted to float as a whole.
    Compute it on the training split and use it for every split.

    Returns:
      (mean, std): two float32 arrays [C].
    """
    channels = ds.images.shape[-1]
    counts = np.zeros((channels, 256), np.int64)
    for start in range(0, len(ds), chunk):
        block = np.asarray(ds.images[start : start + chunk])
        for c in range(channels):
            counts[c] += np.bincount(block[..., c].ravel(), minlength=256)
    values = np.arange(256) / 255.0
    total = counts.sum(axis=1)
    mean = counts @ values / total
    var = counts @ values**2 / total - mean**2
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)
