"""torchvision's automatic augmentation policies on the host, in Pillow: TrivialAugmentWide
(``ta_wide``), RandAugment (``ra``) and AutoAugment's learned policies (``imagenet``, ``cifar10``,
``svhn``), the spellings of torchvision's ``train.py --auto-augment``; and timm's RandAugment,
spelled as timm's ``--aa`` spells it (``rand-m7-mstd0.5-inc1``, "ResNet strikes back"'s).

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
import re
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

POLICIES = ("ta_wide", "ra", "imagenet", "cifar10", "svhn")
TIMM_RAND_HELP = "timm's rand-m<M>[-n<N>][-mstd<S>][-mmax<X>][-inc<0|1>][-p<P>]"
RA_NUM_OPS = 2  # RandAugment's operations per image in torchvision's presets
RA_BINS = 31  # its magnitude bins (``--ra-magnitude`` picks one, 0..30)
# How geometric operations and resizes resample; "random" draws one of the two each time (timm's).
INTERPOLATIONS = ("bilinear", "bicubic")
TRAIN_INTERPOLATIONS = (*INTERPOLATIONS, "random")
_RESAMPLING = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}

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


def auto_augment(
    pixels: np.ndarray,
    policy: str,
    rng: np.random.Generator,
    magnitude: int = 9,
    *,
    fill: tuple[int, ...] | None = None,
    interpolation: str = "bilinear",
) -> np.ndarray:
    """``policy`` applied to one image: torchvision's (``sample_ops`` then ``apply_op`` of each)
    or timm's RandAugment (``sample_timm_ops`` then ``apply_timm_op``).

    Args:
      pixels: uint8 [H, W, 3] (RGB) or [H, W, 1] (greyscale).
      policy: one of ``POLICIES`` or a timm RandAugment string (``timm_rand``).
      rng: the draws' source.
      magnitude: torchvision RandAugment's magnitude bin, 0..30 (other policies ignore it).
      fill: timm's fill of uncovered pixels, 0..255 per channel (default ``TIMM_FILL``);
        torchvision's policies fill with black.
      interpolation: geometric operations' resampling, "bilinear", "bicubic" or "random" (each
        operation one of the two, as timm draws them).

    Returns:
      uint8 [H, W, C], the same shape.
    """
    height, width, channels = pixels.shape
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    spec = timm_rand(policy)
    if spec is not None:
        for name, args, resample in sample_timm_ops(spec, rng, interpolation):
            image = apply_timm_op(image, name, args, resample, fill or TIMM_FILL)
    else:
        for name, value in sample_ops(policy, rng, height, width, magnitude):
            image = apply_op(image, name, value, resampling(interpolation, rng))
    out = np.asarray(image, np.uint8)
    return out[..., None] if channels == 1 else out


def resampling(interpolation: str, rng: np.random.Generator | None = None) -> Image.Resampling:
    """Pillow's resampling for ``interpolation`` (one of ``TRAIN_INTERPOLATIONS``); "random" draws
    bilinear or bicubic from ``rng`` with equal chances."""
    if interpolation == "random":
        return (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)[rng.integers(2)]
    return _RESAMPLING[interpolation]


def host_augmented_batches(
    batches: Iterator[dict],
    policy: str,
    *,
    seed: int,
    pad: int = 0,
    flip: bool = False,
    out_size: int | None = None,
    magnitude: int = 9,
    fill: tuple[int, ...] | None = None,
    interpolation: str = "bilinear",
) -> Iterator[dict]:
    """Decoded-once training batches with their crop, flip and ``policy`` applied on the host, in
    torchvision's order: each image centre-padded to ``out_size``, padded by ``pad`` black pixels,
    cropped back at a random offset, flipped with probability 1/2 (``flip``), then ``auto_augment``.
    The draws come from ``numpy.random.default_rng([seed, index])``, ``index`` being the example's
    position in the run (``pipeline.train_batches``), so a resumed run draws the same. The device
    then only normalises (and erases): ``jaxcnn.training.parts.transforms``. ``magnitude``,
    ``fill``, ``interpolation``: see ``auto_augment``.

    Args:
      batches: dicts with 'image' uint8 [B, H, W, C] and 'index' int32 [B] (``train_batches``).

    Yields:
      the same dicts with 'image' uint8 [B, S, S, C], S = ``out_size`` (or H = W).
    """
    settings = {"magnitude": magnitude, "fill": fill, "interpolation": interpolation}
    for batch in batches:
        images = [
            _crop_flip_augment(image, np.random.default_rng([seed, int(i)]), policy, pad, flip, out_size, settings)
            for image, i in zip(batch["image"], batch["index"])
        ]
        yield {**batch, "image": np.stack(images)}


def _crop_flip_augment(image, rng, policy, pad, flip, out_size, settings) -> np.ndarray:
    height, width, _ = image.shape
    side = out_size or height
    top, left = (side - height) // 2, (side - width) // 2
    padded = np.pad(image, ((top + pad, side - height - top + pad), (left + pad, side - width - left + pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, size=2)
    out = padded[dy : dy + side, dx : dx + side]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return auto_augment(np.ascontiguousarray(out), policy, rng, **settings)


# timm's RandAugment operation sets: its default one and the "increasing" one (``inc1``), whose
# operations grow stronger with the magnitude.
_TIMM_GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
_TIMM_ENHANCE = ("Color", "Contrast", "Brightness", "Sharpness")
TIMM_OPS = {
    False: ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd")
    + _TIMM_ENHANCE
    + ("ShearX", "ShearY", "TranslateXRel", "TranslateYRel"),
    True: ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd")
    + tuple(f"{name}Increasing" for name in _TIMM_ENHANCE)
    + ("ShearX", "ShearY", "TranslateXRel", "TranslateYRel"),
}
TIMM_LEVEL_MAX = 10.0  # timm's magnitude scale: M of "rand-mM" is a level out of 10
TIMM_FILL = (128, 128, 128)  # timm's fill where no mean is given


class TimmRand(NamedTuple):
    """timm's RandAugment settings, parsed from its ``--aa`` string by ``timm_rand``."""

    magnitude: float = 10.0  # m: the level of every operation, 0..10
    num_ops: int = 2  # n: operations drawn per image, with replacement
    std: float = 0.0  # mstd: the level's Gaussian noise per use (inf: uniform in 0..m)
    level_max: float = TIMM_LEVEL_MAX  # mmax: the noisy level's upper clip
    increasing: bool = False  # inc1: the increasing operation set
    prob: float = 0.5  # p: each drawn operation applies with this probability


def timm_rand(policy: str) -> TimmRand | None:
    """``policy`` as timm's ``rand_augment_transform`` reads it ("rand" then "-"-separated
    sections m, n, mstd (over 100: uniform), mmax, inc, p), or None when it is not such a string
    or a section is not one of these."""
    sections = policy.split("-") if isinstance(policy, str) else []
    if not sections or sections[0] != "rand":
        return None
    spec = TimmRand()
    keys = {"m": ("magnitude", int), "n": ("num_ops", int), "mstd": ("std", float), "mmax": ("level_max", int)}
    keys.update({"inc": ("increasing", lambda v: bool(int(v))), "p": ("prob", float)})
    for section in sections[1:]:
        match = re.fullmatch(r"([a-z]+)(\d.*)", section)
        if match is None or match[1] not in keys:
            return None
        field, parse = keys[match[1]]
        try:
            value = parse(match[2])
        except ValueError:
            return None
        spec = spec._replace(**{field: float("inf") if field == "std" and value > 100 else value})
    if not (spec.num_ops >= 1 and 0 <= spec.prob <= 1 and spec.magnitude >= 0):
        return None
    return spec


def is_policy(policy: str) -> bool:
    """Whether ``policy`` names one of ``POLICIES`` or is a timm RandAugment string (``timm_rand``)."""
    return policy in POLICIES or timm_rand(policy) is not None


def sample_timm_ops(spec: TimmRand, rng: np.random.Generator, interpolation: str = "random") -> list:
    """The operations timm's ``RandAugment`` applies to one image, drawn from ``rng`` as timm draws
    them: ``num_ops`` of its set, uniformly with replacement; each kept with probability ``prob``;
    its level ``magnitude`` plus Gaussian noise of ``std`` (uniform in 0..magnitude for inf),
    clipped to 0..``level_max``; a signed argument negated with probability 1/2; geometric
    operations resampled bilinearly or bicubically with equal chances (``interpolation``
    "random", timm's default) or as ``interpolation`` says.

    Returns:
      a list of (operation name, its arguments as ``timm_args`` gives them, Pillow resampling or
      None for an operation that does not resample).
    """
    names = TIMM_OPS[spec.increasing]
    ops = []
    for index in rng.integers(len(names), size=spec.num_ops):
        name = names[index]
        if spec.prob < 1.0 and rng.random() > spec.prob:
            continue
        level = spec.magnitude
        if spec.std == float("inf"):
            level = rng.uniform(0, level)
        elif spec.std > 0:
            level = rng.normal(level, spec.std)
        level = max(0.0, min(float(level), spec.level_max or TIMM_LEVEL_MAX))
        negate = bool(rng.random() > 0.5)
        resample = resampling(interpolation, rng) if name in _TIMM_GEOMETRIC else None
        ops.append((name, timm_args(name, level, negate), resample))
    return ops


def timm_args(name: str, level: float, negate: bool = False) -> tuple:
    """timm's ``LEVEL_TO_ARG[name](level)``: the arguments of operation ``name`` at ``level``
    (0..10), ``negate`` taking the place of its coin for the signed ones."""
    fraction = level / TIMM_LEVEL_MAX
    sign = -1.0 if negate else 1.0
    if name in ("AutoContrast", "Equalize", "Invert"):
        return ()
    if name == "Rotate":
        return (sign * (fraction * 30.0),)
    if name in ("ShearX", "ShearY"):
        return (sign * (fraction * 0.3),)
    if name in ("TranslateXRel", "TranslateYRel"):
        return (sign * (fraction * 0.45),)
    if name in _TIMM_ENHANCE:
        return (fraction * 1.8 + 0.1,)
    if name.endswith("Increasing") and name.removesuffix("Increasing") in _TIMM_ENHANCE:
        return (max(0.1, 1.0 + sign * (fraction * 0.9)),)
    if name == "Posterize":
        return (int(fraction * 4),)
    if name == "PosterizeIncreasing":
        return (4 - int(fraction * 4),)
    if name == "Solarize":
        return (min(256, int(fraction * 256)),)
    if name == "SolarizeIncreasing":
        return (256 - min(256, int(fraction * 256)),)
    if name == "SolarizeAdd":
        return (min(128, int(fraction * 110)),)
    raise ValueError(f"unknown timm augmentation operation {name!r}")


def apply_timm_op(image: Image.Image, name: str, args: tuple, resample=Image.Resampling.BICUBIC, fill=TIMM_FILL):
    """One operation of timm's ``auto_augment`` module on a Pillow image (mode RGB or L), the
    Pillow call timm makes; geometric operations fill with ``fill`` (RGB values; timm passes the
    normalisation mean in 0..255) and resample with ``resample``."""
    fillcolor = fill[0] if image.mode == "L" else tuple(fill)
    geometric = {"fillcolor": fillcolor, "resample": resample}
    if name == "Rotate":
        return image.rotate(args[0], **geometric)
    if name in _TIMM_GEOMETRIC:
        amount = args[0]
        matrix = {
            "ShearX": (1, amount, 0, 0, 1, 0),
            "ShearY": (1, 0, 0, amount, 1, 0),
            "TranslateXRel": (1, 0, amount * image.size[0], 0, 1, 0),
            "TranslateYRel": (1, 0, 0, 0, 1, amount * image.size[1]),
        }[name]
        return image.transform(image.size, Image.Transform.AFFINE, matrix, **geometric)
    base = name.removesuffix("Increasing")
    if base in _TIMM_ENHANCE:
        return getattr(ImageEnhance, base)(image).enhance(args[0])
    if base == "Posterize" and args[0] >= 8:
        return image
    if base == "Posterize":  # 0 bits: black, what Pillow gave timm before it refused 0 bits
        return ImageOps.posterize(image, args[0]) if args[0] else Image.new(image.mode, image.size)
    if base == "Solarize":
        return ImageOps.solarize(image, args[0])
    if name == "SolarizeAdd":
        lut = [min(255, i + args[0]) if i < 128 else i for i in range(256)]
        return image.point(lut * len(image.getbands()))
    whole_image = {"AutoContrast": ImageOps.autocontrast, "Equalize": ImageOps.equalize, "Invert": ImageOps.invert}
    return whole_image[name](image)
