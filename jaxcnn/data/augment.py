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
        values (e.g. from ``channel_stats``); they are constants of the computation.
      out_size: side of the output; None keeps H x W.

    Returns:
      float32 [B, out_size, out_size, C] (or [B, H, W, C]).
    """
    mean, std = _check_inputs(images, mean, std)
    return _scale(_center_pad(images, out_size), mean, std)


def augment(
    images, index, key, *, mean, std, pad: int = 4, flip: bool = True, out_size: int | None = None
) -> jax.Array:
    """Random crop with zero padding, random horizontal flip, then ``normalize``.

    Each image is centre-padded to ``out_size``, padded by ``pad`` zero pixels on
    every side, cropped back at a uniformly random offset in 0..2*pad per axis
    and, with ``flip``, mirrored left-right with probability 1/2.

    Args:
      images: uint8 [B, H, W, C].
      index: int [B], each example's position in the run; keys its randomness.
      key: a PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``).
      mean, std, out_size: as in ``normalize``.
      pad: padding in pixels, >= 0.
      flip: whether to flip.

    Returns:
      float32 [B, out_size, out_size, C] (or [B, H, W, C]).
    """
    mean, std = _check_inputs(images, mean, std)
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

    return _scale(jax.vmap(crop_and_flip)(_center_pad(images, out_size), index), mean, std)


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


def _check_inputs(images, mean, std) -> tuple[np.ndarray, np.ndarray]:
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
        if value.ndim > 1 or value.size not in (1, channels):
            raise ValueError(
                f"{name} must be a scalar or have shape [{channels}] (one per channel), got shape {value.shape}"
            )
        stats.append(value)
    if np.any(stats[1] <= 0):
        raise ValueError(f"std must be positive, got {stats[1]}")
    return stats[0], stats[1]
