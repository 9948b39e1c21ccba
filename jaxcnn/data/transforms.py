"""How an image file becomes a model input: decoding to 8-bit RGB, the evaluation transform and
the training transform of streamed data (torchvision's ``RandomResizedCrop`` + horizontal flip).

One place for these, so that training's decoded-once cache, a streamed validation set and
prediction on new files give a model the same pixels for the same file.
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np
from PIL import Image

from . import autoaugment

# What Pillow's decoders raise for damaged or hostile files (its plugins parse with struct and index
# into headers); each becomes a ValueError naming the file (``cannot_decode``).
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


def cannot_decode(path: str | os.PathLike, err: BaseException) -> ValueError:
    """The one-line error for a file that failed to decode with ``err``."""
    return ValueError(f"cannot decode image {path}: {err}; fix or delete the file, or pass skip_bad=True to skip it")


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """The image at ``path``, fully decoded (a truncated file fails here, not later) as 8-bit RGB;
    16-bit, 32-bit integer and float images are scaled to 0..255 (see ``to_rgb``)."""
    return open_image(path, 3)


def open_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """The image at ``path``, fully decoded, as 8-bit RGB (``channels=3``, see ``to_rgb``) or 8-bit
    greyscale (``channels=1``: Pillow's ``convert("L")`` of colour images; greyscale modes scaled
    as ``to_rgb`` scales them)."""
    with Image.open(path) as image:
        return to_rgb(image) if channels == 3 else to_grey(image)


def is_greyscale(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` holds a one-band image (modes 1, L, I;16*, I, F), read from its
    header alone."""
    with Image.open(path) as image:
        return image.mode in GREY_MODES


def eval_transform(
    image: Image.Image, size: int, resize: int | None = None, interpolation: str = "bilinear"
) -> np.ndarray:
    """torchvision's ``Resize(resize)`` + ``CenterCrop(size)``: the shorter side scaled to
    ``resize`` (default ``size``), then the centre ``size`` x ``size`` square.

    Args:
      image: an RGB image (see ``open_rgb``).
      size: output side in pixels.
      resize: shorter side before cropping, >= ``size`` (ImageNet's evaluation uses 256 for 224).
      interpolation: the resize's, "bilinear" (torchvision's default) or "bicubic" (timm's).

    Returns:
      uint8 [size, size, 3] (RGB) or [size, size, 1] (greyscale).
    """
    resize = size if resize is None else resize
    width, height = image.size
    scale = resize / min(width, height)
    shape = (resize, int(height * scale)) if width <= height else (int(width * scale), resize)
    image = image.resize(shape, autoaugment.resampling(interpolation))
    left = int(round((shape[0] - size) / 2.0))
    top = int(round((shape[1] - size) / 2.0))
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop's range of the crop's area, as a fraction of the image's
CROP_RATIO = (3 / 4, 4 / 3)  # its range of the crop's aspect ratio (width / height)


def random_resized_crop_params(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params`` with scale (0.08, 1) and ratio (3/4, 4/3),
    drawn from ``rng``: up to 10 attempts of an area fraction uniform in the scale range and an
    aspect ratio log-uniform in the ratio range, the first whose rounded sides fit the image
    taken at a uniformly random place; else the centre crop of the whole image clamped to the
    ratio range.

    Returns:
      (top, left, crop height, crop width), ints, the crop inside the ``width`` x ``height`` image.
    """
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target_area = area * rng.uniform(*CROP_SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif in_ratio > CROP_RATIO[1]:
        w, h = int(round(height * CROP_RATIO[1])), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_transform(
    path: str | os.PathLike,
    size: int,
    rng: np.random.Generator,
    auto_augment: str | None = None,
    magnitude: int = 9,
    *,
    interpolation: str = "bilinear",
    fill: tuple[int, ...] | None = None,
) -> np.ndarray:
    """torchvision's ``RandomResizedCrop(size)`` + ``RandomHorizontalFlip()`` of the image at
    ``path``: the crop is drawn from the file's header size (``random_resized_crop_params``),
    then a flip with probability 1/2, both from ``rng``; the crop resampled as ``interpolation``
    says ("bilinear", "bicubic", or "random": one of the two with equal chances, timm's
    ``RandomResizedCropAndInterpolation``); then, given, the ``auto_augment`` policy
    (``jaxcnn.data.autoaugment.auto_augment`` with ``magnitude``, ``fill`` and the same
    ``interpolation``), its draws from ``rng`` too.

    A JPEG is decoded at 1/2, 1/4 or 1/8 of its size (Pillow's ``draft``, the decoder's own
    scaling) when the crop still has at least ``size`` pixels in each direction at that scale;
    otherwise (and for every other format) the pixels are torchvision's exactly: the crop of the
    full image resized to ``size`` x ``size``.

    Returns:
      uint8 [size, size, 3].
    """
    with Image.open(path) as image:
        top, left, height, width = random_resized_crop_params(*image.size, rng)
        flip = rng.random() < 0.5
        resample = autoaugment.resampling(interpolation, rng)
        box = _draft(image, (left, top, left + width, top + height), size)
        image = to_rgb(image)
    if all(float(edge).is_integer() for edge in box):
        image = image.crop(box).resize((size, size), resample)
    else:  # a reduced decode: the crop in its pixels, resampled without rounding its edges
        image = image.resize((size, size), resample, box=box)
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(image, np.uint8)
    if auto_augment is None:
        return pixels
    return autoaugment.auto_augment(pixels, auto_augment, rng, magnitude, fill=fill, interpolation=interpolation)


def _draft(image: Image.Image, box: tuple[int, int, int, int], size: int) -> tuple:
    """Ask a JPEG's decoder for the smallest of 1/2, 1/4 and 1/8 of its size at which ``box`` (the
    crop, in full-size pixels) keeps ``size`` pixels per side; returns the box in the pixels that
    will be decoded (unchanged when nothing is reduced)."""
    reduction = min(box[2] - box[0], box[3] - box[1]) // size
    if image.format != "JPEG" or reduction < 2:
        return box
    factor = min(8, 2 ** int(math.log2(reduction)))
    width, height = image.size
    drafted = image.draft(image.mode, (width // factor, height // factor))
    if drafted is None or drafted[1][2] == width:  # the decoder cannot reduce this file
        return box
    scale = drafted[1][2] / width  # the decoder's exact scaling (1/2, 1/4 or 1/8)
    return tuple(edge * scale for edge in box)


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB image. Pillow's own conversion clips integer values at 255 (a mid-grey 16-bit
    image would turn white) and truncates floats, so these modes are scaled to 0..255 from the
    range of their values: 16-bit modes (``I;16*``) from 0..65535; 32-bit integers (``I``), whose
    files do not say how many bits are used, from the smallest of 0..255, 0..65535 and
    0..2147483647 that holds the image's values; floats (``F``) from 0..1. Values outside that
    range, and modes Pillow cannot convert to RGB, raise ``ValueError`` naming the mode (and the
    values found)."""
    return _convert(_to_8bit(image), "RGB")


def to_grey(image: Image.Image) -> Image.Image:
    """An 8-bit greyscale (mode L) image: greyscale modes scaled to 0..255 as ``to_rgb`` scales
    them, colour images converted with Pillow's ``convert("L")`` (ITU-R 601-2 luma)."""
    return _convert(_to_8bit(image), "L")


def _convert(image: Image.Image, mode: str) -> Image.Image:
    try:
        return image.convert(mode)
    except ValueError as err:
        raise ValueError(f"mode {image.mode} image: {err}; convert it to 8-bit RGB") from err


def _to_8bit(image: Image.Image) -> Image.Image:
    """``image`` itself, or for the 16-bit, 32-bit integer and float modes, the mode L image of
    its values scaled to 0..255 (see ``to_rgb``)."""
    if image.mode not in _RANGES:
        return image
    pixels = np.asarray(image, np.float64)
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    fits = [top for top in _RANGES[image.mode] if np.isfinite(pixels).all() and 0 <= low and high <= top]
    if not fits:
        expected = " or ".join(f"0..{top:g}" for top in _RANGES[image.mode])
        raise ValueError(
            f"mode {image.mode} image with values in [{low:g}, {high:g}]: jaxcnn reads {image.mode} "
            f"images with values in {expected}; convert it to 8-bit"
        )
    return Image.fromarray(np.round(pixels * (255 / fits[0])).astype(np.uint8), "L")


GREY_MODES = ("1", "L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_RANGES = {  # mode: the value ranges it may use, smallest first
    **dict.fromkeys(("I;16", "I;16L", "I;16B", "I;16N"), (65535.0,)),
    "I": (255.0, 65535.0, 2147483647.0),
    "F": (1.0,),
}
