"""How an image file becomes a model input: decoding to 8-bit RGB, and the evaluation transform.

One place for these, so that training's decoded-once cache, a streamed validation set and
prediction on new files give a model the same pixels for the same file.
"""

from __future__ import annotations

import os
import struct

import numpy as np
from PIL import Image

# What decoding a damaged or hostile file may raise (Pillow's plugins parse with struct and index
# into headers; ``to_rgb`` raises ValueError): callers turn each into an error naming the file.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    LookupError,
    TypeError,
    ArithmeticError,
    struct.error,
    Image.DecompressionBombError,
)


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """The image at ``path``, fully decoded (a truncated file fails here, not later) as 8-bit RGB;
    16-bit, 32-bit integer and float images are scaled to 0..255 (see ``to_rgb``)."""
    with Image.open(path) as image:
        return to_rgb(image)


def eval_transform(image: Image.Image, size: int, resize: int | None = None) -> np.ndarray:
    """torchvision's ``Resize(resize)`` + ``CenterCrop(size)``: the shorter side scaled to
    ``resize`` (default ``size``, bilinear), then the centre ``size`` x ``size`` square.

    Args:
      image: an RGB image (see ``open_rgb``).
      size: output side in pixels.
      resize: shorter side before cropping, >= ``size`` (ImageNet's evaluation uses 256 for 224).

    Returns:
      uint8 [size, size, 3].
    """
    resize = size if resize is None else resize
    width, height = image.size
    scale = resize / min(width, height)
    shape = (resize, int(height * scale)) if width <= height else (int(width * scale), resize)
    image = image.resize(shape, Image.Resampling.BILINEAR)
    left = int(round((shape[0] - size) / 2.0))
    top = int(round((shape[1] - size) / 2.0))
    return np.asarray(image.crop((left, top, left + size, top + size)), np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB image. Pillow's own conversion clips integer values at 255 (a mid-grey 16-bit
    image would turn white) and truncates floats, so these modes are scaled to 0..255 from the
    range of their values: 16-bit modes (``I;16*``) from 0..65535; 32-bit integers (``I``), whose
    files do not say how many bits are used, from the smallest of 0..255, 0..65535 and
    0..2147483647 that holds the image's values; floats (``F``) from 0..1. Values outside that
    range, and modes Pillow cannot convert to RGB, raise ``ValueError`` naming the mode (and the
    values found)."""
    if image.mode not in _RANGES:
        try:
            return image.convert("RGB")
        except ValueError as err:
            raise ValueError(f"mode {image.mode} image: {err}; convert it to 8-bit RGB") from err
    pixels = np.asarray(image, np.float64)
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    fits = [top for top in _RANGES[image.mode] if np.isfinite(pixels).all() and 0 <= low and high <= top]
    if not fits:
        expected = " or ".join(f"0..{top:g}" for top in _RANGES[image.mode])
        raise ValueError(
            f"mode {image.mode} image with values in [{low:g}, {high:g}]: jaxcnn reads {image.mode} "
            f"images with values in {expected}; convert it to 8-bit"
        )
    return Image.fromarray(np.round(pixels * (255 / fits[0])).astype(np.uint8), "L").convert("RGB")


_RANGES = {  # mode: the value ranges it may use, smallest first
    **dict.fromkeys(("I;16", "I;16L", "I;16B", "I;16N"), (65535.0,)),
    "I": (255.0, 65535.0, 2147483647.0),
    "F": (1.0,),
}
