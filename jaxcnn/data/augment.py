"""On-device augmentation and normalisation as pure jax functions.

Randomness is explicit: example i of a batch draws from
``jax.random.fold_in(key, index[i])``, where ``index`` is the example's position
in the run (see ``pipeline.train_batches``), so its crop and flip are the same
whatever the batch size, device count or sharding.

Padding adds zero (black) pixels before normalisation, like torchvision's
``RandomCrop(padding=...)`` on the image; ``out_size`` centre-pads small images
(28x28 -> 32x32) so that five halvings stay integral.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validate import NON_NEGATIVE_INT


def normalize(images, mean, std, out_size: int | None = None) -> jax.Array:
    """Scale to 0..1, centre-pad to ``out_size``, then subtract mean and divide by std.

    Args:
      images: uint8 [B, H, W, C].
      mean, std: per-channel statistics in 0..1 units, [C] or scalars, as host
        values (e.g. from ``channel_stats``); they are constants of the computation. ``mean``
        may also be a mean image [S, S, C] of the output's side (``pixel_mean``).
      out_size: side of the output; None keeps H x W.

    Returns:
      float32 [B, out_size, out_size, C] (or [B, H, W, C]).
    """
    mean, std = _check_inputs(images, mean, std, out_size)
    return _scale(_center_pad(images, out_size), mean, std)


def augment(
    images,
    index,
    key,
    *,
    mean,
    std,
    pad: int = 4,
    flip: bool = True,
    out_size: int | None = None,
    erase: float = 0.0,
) -> jax.Array:
    """Random crop with zero padding, random horizontal flip, then ``normalize``, then random
    erasing.

    Each image is centre-padded to ``out_size``, padded by ``pad`` zero pixels on
    every side, cropped back at a uniformly random offset in 0..2*pad per axis
    and, with ``flip``, mirrored left-right with probability 1/2. With probability ``erase`` a
    box drawn by ``erasing_box`` is then set to 0 in the normalised image (torchvision's
    ``RandomErasing(p=erase)`` after ``Normalize``, as its reference recipes place it).

    Args:
      images: uint8 [B, H, W, C].
      index: int [B], each example's position in the run; keys its randomness.
      key: a PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``).
      mean, std, out_size: as in ``normalize``.
      pad: padding in pixels, >= 0.
      flip: whether to flip.
      erase: the probability of erasing a box, in [0, 1].

    Returns:
      float32 [B, out_size, out_size, C] (or [B, H, W, C]).
    """
    mean, std = _check_inputs(images, mean, std, out_size)
    if jnp.ndim(index) != 1 or jnp.shape(index)[0] != jnp.shape(images)[0]:
        raise ValueError(
            f"index must have shape [B] = [{jnp.shape(images)[0]}], got {jnp.shape(index)}; pass the batch's 'index'"
        )
    if not jnp.issubdtype(jnp.result_type(index), jnp.integer):
        raise TypeError(f"index must be an integer array, got {jnp.result_type(index)}")
    NON_NEGATIVE_INT.require("pad", pad)

    def crop_and_flip(image, i):
        crop_key, flip_key = jax.random.split(jax.random.fold_in(key, i))
        dy, dx = jax.random.randint(crop_key, (2,), 0, 2 * pad + 1)
        padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)))
        out = jax.lax.dynamic_slice(padded, (dy, dx, 0), image.shape)
        if flip:
            out = jnp.where(jax.random.bernoulli(flip_key), out[:, ::-1], out)
        return out

    scaled = _scale(jax.vmap(crop_and_flip)(_center_pad(images, out_size), index), mean, std)
    if not erase:
        return scaled

    def random_erasing(image, i):
        example = jax.random.fold_in(jax.random.fold_in(key, i), 2)  # apart from the crop's and flip's keys
        apply_key, box_key = jax.random.split(example)
        found, top, left, height, width = erasing_box(box_key, image.shape[0], image.shape[1])
        rows, cols = jnp.arange(image.shape[0])[:, None], jnp.arange(image.shape[1])[None, :]
        inside = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        erased = found & jax.random.bernoulli(apply_key, erase)
        return jnp.where((inside & erased)[..., None], 0.0, image)

    return jax.vmap(random_erasing)(scaled, index)


def erasing_box(
    key, height: int, width: int, scale=(0.02, 0.33), ratio=(0.3, 3.3), attempts: int = 10
) -> tuple[jax.Array, ...]:
    """The box torchvision's ``RandomErasing`` erases in a ``height`` x ``width`` image: of up to
    ``attempts`` draws of an area (uniform in ``scale`` times the image's) and an aspect ratio
    (log-uniform in ``ratio``), sides ``round(sqrt(area * ratio))`` x ``round(sqrt(area / ratio))``,
    the first that fits strictly inside, at a uniformly random position.

    Returns:
      ``(found, top, left, box_height, box_width)``: bool and int32 scalars; ``found`` is False
      (nothing to erase) when no draw fits.
    """
    area_key, ratio_key, top_key, left_key = jax.random.split(key, 4)
    areas = height * width * jax.random.uniform(area_key, (attempts,), minval=scale[0], maxval=scale[1])
    log_ratio = np.log(np.asarray(ratio, np.float32))
    aspects = jnp.exp(jax.random.uniform(ratio_key, (attempts,), minval=log_ratio[0], maxval=log_ratio[1]))
    heights = jnp.round(jnp.sqrt(areas * aspects)).astype(jnp.int32)
    widths = jnp.round(jnp.sqrt(areas / aspects)).astype(jnp.int32)
    fits = (heights < height) & (widths < width)
    first = jnp.argmax(fits)
    box_height, box_width = heights[first], widths[first]
    top = jax.random.randint(top_key, (), 0, height - box_height + 1)
    left = jax.random.randint(left_key, (), 0, width - box_width + 1)
    return jnp.any(fits), top, left, box_height, box_width


def pixel_mean(images: np.ndarray, out_size: int | None = None) -> np.ndarray:
    """The mean image of ``images`` (uint8 [N, H, W, C]) centre-padded to ``out_size``, in 0..1
    units: float32 [S, S, C] (He et al.'s "per-pixel mean" of CIFAR), summed in float64."""
    total = np.zeros(images.shape[1:], np.float64)
    for start in range(0, len(images), 4096):  # a memory-mapped data set is read in pieces
        total += images[start : start + 4096].sum(axis=0, dtype=np.float64)
    mean = (total / (255.0 * len(images))).astype(np.float32)
    return np.asarray(_center_pad(mean[None], out_size)[0])


def _scale(images, mean, std) -> jax.Array:
    return (images.astype(jnp.float32) / 255.0 - mean) / std


def _center_pad(images, out_size: int | None):
    if out_size is None:
        return images
    _, height, width, _ = jnp.shape(images)
    if not isinstance(out_size, int) or out_size < max(height, width):
        raise ValueError(f"out_size must be an int >= the image side {max(height, width)}, got {out_size!r}")
    top, left = (out_size - height) // 2, (out_size - width) // 2
    return jnp.pad(images, ((0, 0), (top, out_size - height - top), (left, out_size - width - left), (0, 0)))


def _check_inputs(images, mean, std, out_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    if jnp.result_type(images) != jnp.uint8:
        raise TypeError(
            f"images must be uint8 (0..255), got {jnp.result_type(images)}; "
            "pass the batch's 'image' before any conversion"
        )
    if jnp.ndim(images) != 4:
        raise ValueError(f"images must have shape [B, H, W, C], got {jnp.shape(images)}")
    channels = jnp.shape(images)[-1]
    stats = []
    for name, value in (("mean", mean), ("std", std)):
        try:
            value = np.asarray(value, np.float32)
        except jax.errors.TracerArrayConversionError:
            raise TypeError(
                f"{name} must be a host value (numpy array, list or float), "
                "not a traced array; close over it instead of passing it "
                "through jit"
            ) from None
        shape = (out_size or jnp.shape(images)[1], out_size or jnp.shape(images)[2], channels)
        image = name == "mean" and value.shape == shape
        if not image and (value.ndim > 1 or value.size not in (1, channels)):
            raise ValueError(
                f"{name} must be a scalar or have shape [{channels}] (one per channel)"
                + (f" or {list(shape)} (a mean image of the output's size)" if name == "mean" else "")
                + f", got shape {value.shape}"
            )
        stats.append(value)
    if np.any(stats[1] <= 0):
        raise ValueError(f"std must be positive, got {stats[1]}")
    return stats[0], stats[1]
