"""torchvision's automatic augmentation policies on the host, in Pillow: TrivialAugmentWide
(``ta_wide``), RandAugment (``ra``) and AutoAugment's learned policies (``imagenet``, ``cifar10``,
``svhn``), the spellings of torchvision's ``train.py --auto-augment``.

Each operation is the Pillow call torchvision's PIL backend makes (the backend its reference
recipes train with), so the same operation and magnitude give torchvision's pixels exactly; the
operations and magnitudes are drawn as torchvision draws them, from a numpy ``Generator``. Like the
reference recipes, geometric operations resample bilinearly and fill with black.

The policies run on the host because there they are torchvision's own Pillow operations, exact by
construction, and cost little beside decoding: a streaming folder applies them in its decoding
threads after the random crop and flip (``transforms.train_transform``), a decoded-once data set in
``host_augmented_batches`` (docs/data.md quotes the measured cost).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

POLICIES = ("ta_wide", "ra", "imagenet", "cifar10", "svhn")
RA_NUM_OPS = 2  # RandAugment's operations per image in torchvision's presets
RA_BINS = 31  # its magnitude bins (``--ra-magnitude`` picks one, 0..30)

# AutoAugment's learned sub-policies: two (operation, probability, magnitude bin of 10) each.
_LEARNED = {
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    "cifar10": (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}


def _linspace(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace(start, end, steps)``'s values, correctly rounded to float32 (torch's own last
    bit depends on the CPU's vector width: within one unit in the last place of these)."""
    return np.linspace(start, end, steps).astype(np.float32)


def _posterize_bits(steps: int, levels: int) -> np.ndarray:
    return 8 - np.round(np.arange(steps, dtype=np.float32) / np.float32((steps - 1) / levels)).astype(np.int32)


def augmentation_space(policy: str, height: int, width: int, magnitude_bins: int) -> dict[str, tuple]:
    """torchvision's ``_augmentation_space`` of ``policy``'s family: operation name -> (float32
    magnitudes [magnitude_bins], or None for an operation without magnitude; whether a draw may
    negate it). ``ta_wide`` has the wide ranges; ``ra`` and the learned policies share the narrow
    ones (translations 150/331 of the image side); ``ra`` and ``ta_wide`` include "Identity", the
    learned policies "Invert"."""
    wide = policy == "ta_wide"
    span = lambda end: _linspace(0.0, end, magnitude_bins)  # noqa: E731
    space = {"Identity": (None, False)} if policy in ("ta_wide", "ra") else {}
    space.update(
        {
            "ShearX": (span(0.99 if wide else 0.3), True),
            "ShearY": (span(0.99 if wide else 0.3), True),
            "TranslateX": (span(32.0 if wide else 150.0 / 331.0 * width), True),
            "TranslateY": (span(32.0 if wide else 150.0 / 331.0 * height), True),
            "Rotate": (span(135.0 if wide else 30.0), True),
            **{name: (span(0.99 if wide else 0.9), True) for name in ("Brightness", "Color", "Contrast", "Sharpness")},
            "Posterize": (_posterize_bits(magnitude_bins, 6 if wide else 4), False),
            "Solarize": (_linspace(255.0, 0.0, magnitude_bins), False),
            "AutoContrast": (None, False),
            "Equalize": (None, False),
        }
    )
    if policy not in ("ta_wide", "ra"):
        space["Invert"] = (None, False)
    return space


def sample_ops(policy: str, rng: np.random.Generator, height: int, width: int, magnitude: int = 9) -> list:
    """The operations ``policy`` applies to one ``height`` x ``width`` image, drawn from ``rng`` as
    torchvision draws them: ``ta_wide`` one operation of 14 and one of its 31 magnitudes, each
    uniformly; ``ra`` 2 operations of 14, each at bin ``magnitude`` of 31; a learned policy one
    of its 25 sub-policies, each of its two operations applied with its probability. A signed
    magnitude is negated with probability 1/2.

    Returns:
      a list of (operation name, magnitude as a Python float), in the order they apply.
    """
    if policy == "ta_wide":
        space = augmentation_space(policy, height, width, 31)
        name = list(space)[rng.integers(len(space))]
        magnitudes, signed = space[name]
        value = 0.0 if magnitudes is None else float(magnitudes[rng.integers(len(magnitudes))])
        return [(name, -value if signed and rng.integers(2) else value)]
    if policy == "ra":
        space = augmentation_space(policy, height, width, RA_BINS)
        ops = []
        for _ in range(RA_NUM_OPS):
            name = list(space)[rng.integers(len(space))]
            magnitudes, signed = space[name]
            value = 0.0 if magnitudes is None else float(magnitudes[magnitude])
            ops.append((name, -value if signed and rng.integers(2) else value))
        return ops
    if policy not in _LEARNED:
        raise ValueError(f"auto_augment policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    space = augmentation_space(policy, height, width, 10)
    chosen = _LEARNED[policy][rng.integers(len(_LEARNED[policy]))]
    probs, signs = rng.random(2), rng.integers(2, size=2)
    ops = []
    for (name, p, bin_), prob, sign in zip(chosen, probs, signs):
        if prob <= p:
            magnitudes, signed = space[name]
            value = 0.0 if bin_ is None else float(magnitudes[bin_])
            ops.append((name, -value if signed and sign == 0 else value))
    return ops


def apply_op(image: Image.Image, name: str, magnitude: float, interpolation=Image.Resampling.BILINEAR) -> Image.Image:
    """One operation of torchvision's ``_apply_op`` on a Pillow image (mode RGB or L), as its PIL
    backend computes it, black fill."""
    fill = 0 if image.mode == "L" else (0,) * len(image.getbands())
    if name in ("ShearX", "ShearY", "TranslateX", "TranslateY"):
        shear = math.degrees(math.atan(magnitude))
        shift = float(int(magnitude))
        shear_x, shear_y, dx, dy, center = {
            "ShearX": (shear, 0.0, 0.0, 0.0, (0.0, 0.0)),
            "ShearY": (0.0, shear, 0.0, 0.0, (0.0, 0.0)),
            "TranslateX": (0.0, 0.0, shift, 0.0, None),
            "TranslateY": (0.0, 0.0, 0.0, shift, None),
        }[name]
        center = center or (image.width * 0.5, image.height * 0.5)
        matrix = _inverse_affine(center, (dx, dy), (shear_x, shear_y))
        return image.transform(image.size, Image.Transform.AFFINE, matrix, interpolation, fillcolor=fill)
    if name == "Rotate":
        return image.rotate(magnitude, interpolation, False, None, fillcolor=fill)
    enhancers = {
        "Brightness": ImageEnhance.Brightness,
        "Color": ImageEnhance.Color,
        "Contrast": ImageEnhance.Contrast,
        "Sharpness": ImageEnhance.Sharpness,
    }
    if name in enhancers:
        return enhancers[name](image).enhance(1.0 + magnitude)
    operations = {
        "Posterize": lambda: ImageOps.posterize(image, int(magnitude)),
        "Solarize": lambda: ImageOps.solarize(image, magnitude),
        "AutoContrast": lambda: ImageOps.autocontrast(image),
        "Equalize": lambda: ImageOps.equalize(image),
        "Invert": lambda: ImageOps.invert(image),
        "Identity": lambda: image,
    }
    if name not in operations:
        raise ValueError(f"unknown augmentation operation {name!r}")
    return operations[name]()


def _inverse_affine(center, translate, shear) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix`` without rotation and scaling: the output-to-input
    map Pillow's ``AFFINE`` transform takes, for a shear (degrees) about ``center`` then ``translate``."""
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    (cx, cy), (tx, ty) = center, translate
    a = math.cos(-sy) / math.cos(sy)
    b = -math.cos(-sy) * math.tan(sx) / math.cos(sy)
    c = math.sin(-sy) / math.cos(sy)
    d = -math.sin(-sy) * math.tan(sx) / math.cos(sy) + 1.0
    matrix = [d, -b, 0.0, -c, a, 0.0]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def auto_augment(pixels: np.ndarray, policy: str, rng: np.random.Generator, magnitude: int = 9) -> np.ndarray:
    """``policy`` applied to one image: ``sample_ops`` then ``apply_op`` of each.

    Args:
      pixels: uint8 [H, W, 3] (RGB) or [H, W, 1] (greyscale).
      policy: one of ``POLICIES``.
      rng: the draws' source.
      magnitude: RandAugment's magnitude bin, 0..30 (other policies ignore it).

    Returns:
      uint8 [H, W, C], the same shape.
    """
    height, width, channels = pixels.shape
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    for name, value in sample_ops(policy, rng, height, width, magnitude):
        image = apply_op(image, name, value)
    out = np.asarray(image, np.uint8)
    return out[..., None] if channels == 1 else out


def host_augmented_batches(
    batches: Iterator[dict],
    policy: str,
    *,
    seed: int,
    pad: int = 0,
    flip: bool = False,
    out_size: int | None = None,
    magnitude: int = 9,
) -> Iterator[dict]:
    """Decoded-once training batches with their crop, flip and ``policy`` applied on the host, in
    torchvision's order: each image centre-padded to ``out_size``, padded by ``pad`` black pixels,
    cropped back at a random offset, flipped with probability 1/2 (``flip``), then ``auto_augment``.
    The draws come from ``numpy.random.default_rng([seed, index])``, ``index`` being the example's
    position in the run (``pipeline.train_batches``), so a resumed run draws the same. The device
    then only normalises (and erases): ``jaxcnn.training.parts.transforms``.

    Args:
      batches: dicts with 'image' uint8 [B, H, W, C] and 'index' int32 [B] (``train_batches``).

    Yields:
      the same dicts with 'image' uint8 [B, S, S, C], S = ``out_size`` (or H = W).
    """
    for batch in batches:
        images = [
            _crop_flip_augment(image, np.random.default_rng([seed, int(i)]), policy, pad, flip, out_size, magnitude)
            for image, i in zip(batch["image"], batch["index"])
        ]
        yield {**batch, "image": np.stack(images)}


def _crop_flip_augment(image, rng, policy, pad, flip, out_size, magnitude) -> np.ndarray:
    height, width, _ = image.shape
    side = out_size or height
    top, left = (side - height) // 2, (side - width) // 2
    padded = np.pad(image, ((top + pad, side - height - top + pad), (left + pad, side - width - left + pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, size=2)
    out = padded[dy : dy + side, dx : dx + side]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return auto_augment(np.ascontiguousarray(out), policy, rng, magnitude)
