"""MixUp and CutMix of a training batch, as torchvision's ``transforms.v2.MixUp`` and ``CutMix``
(given both, one of the two per batch with equal chances, as ``RandomChoice`` of the two in its
reference scripts): each image is mixed with the one before it in the batch (``roll(1)``) and
its one-hot label with that image's, by a ratio drawn from ``Beta(alpha, alpha)``. timm's
``Mixup`` (mode "batch") draws the same way and mixes each image with its mirror in the batch
(``flip(0)``): ``pairing="flip"``. Both mix each GPU's batch on its own: ``group_size``.

The parameters are drawn (``sample_mix``) apart from their use (``apply_mix``), so each can be
checked against torchvision's given the same draw."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp


class MixParams(NamedTuple):
    """One batch's draw: ``cutmix`` (bool []: CutMix, else MixUp), ``lam`` (float32 []: the share
    of each image's own label; for CutMix 1 - the box's share of the image, torchvision's
    ``lam_adjusted``) and ``box`` (int32 [4]: x1, y1, x2, y2 of CutMix's pasted box)."""

    cutmix: jax.Array
    lam: jax.Array
    box: jax.Array


def sample_mix(key, height: int, width: int, *, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0) -> MixParams:
    """Draw MixUp's or CutMix's parameters for ``height`` x ``width`` images as torchvision does:
    ``lam ~ Beta(alpha, alpha)``; CutMix's box centred at a uniform pixel, of half-sides
    ``int(0.5 * sqrt(1 - lam) * side)``, clipped to the image. At least one alpha must be > 0."""
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        raise ValueError(f"mixup_alpha or cutmix_alpha must be > 0, got {mixup_alpha} and {cutmix_alpha}")
    choice_key, mixup_key, cutmix_key, x_key, y_key = jax.random.split(key, 5)
    if mixup_alpha > 0 and cutmix_alpha > 0:
        cutmix = jax.random.bernoulli(choice_key)
    else:
        cutmix = jnp.asarray(cutmix_alpha > 0)
    mixup_lam = jax.random.beta(mixup_key, mixup_alpha, mixup_alpha) if mixup_alpha > 0 else jnp.float32(1)
    cutmix_lam = jax.random.beta(cutmix_key, cutmix_alpha, cutmix_alpha) if cutmix_alpha > 0 else jnp.float32(1)
    centre_x = jax.random.randint(x_key, (), 0, width)
    centre_y = jax.random.randint(y_key, (), 0, height)
    half = 0.5 * jnp.sqrt(1.0 - cutmix_lam)
    half_w, half_h = jnp.floor(half * width).astype(jnp.int32), jnp.floor(half * height).astype(jnp.int32)
    x1, y1 = jnp.maximum(centre_x - half_w, 0), jnp.maximum(centre_y - half_h, 0)
    x2, y2 = jnp.minimum(centre_x + half_w, width), jnp.minimum(centre_y + half_h, height)
    box = jnp.stack([x1, y1, x2, y2]).astype(jnp.int32)
    lam_adjusted = 1.0 - (x2 - x1) * (y2 - y1) / (width * height)
    lam = jnp.where(cutmix, lam_adjusted, mixup_lam).astype(jnp.float32)
    return MixParams(cutmix, lam, jnp.where(cutmix, box, 0))


PAIRINGS = {"roll": lambda x: jnp.roll(x, 1, axis=0), "flip": lambda x: jnp.flip(x, axis=0)}


def apply_mix(
    images: jax.Array,
    labels: jax.Array,
    num_classes: int,
    params: MixParams,
    pairing: str = "roll",
    pixel_stats: tuple | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Mix a batch with its ``roll(1)`` (``pairing`` "roll") or ``flip(0)`` ("flip") by ``params``.
    images float [B, H, W, C], labels int [B] -> (mixed images float [B, H, W, C], soft targets
    float32 [B, num_classes]).

    ``pixel_stats``: (mean, std) the images were normalised with (``jaxcnn.data.normalize``);
    MixUp's blend is then rounded to whole 0..255 levels before normalising again, as timm's
    ``FastCollateMixup`` blends uint8 images (its default, prefetching, path)."""
    partner = PAIRINGS[pairing]
    x1, y1, x2, y2 = params.box
    rows, cols = jnp.arange(images.shape[1])[:, None], jnp.arange(images.shape[2])[None, :]
    in_box = (rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2)
    partners = partner(images)
    pasted = jnp.where(in_box[None, :, :, None], partners, images)
    blended = partners * (1.0 - params.lam) + images * params.lam
    if pixel_stats is not None:
        mean, std = pixel_stats
        levels = lambda x: jnp.rint((x * std + mean) * 255.0)  # noqa: E731  (normalize's inverse)
        rounded = jnp.rint(levels(images) * params.lam + levels(partners) * (1.0 - params.lam))
        blended = (rounded / 255.0 - mean) / std
    one_hot = jax.nn.one_hot(labels, num_classes)
    targets = partner(one_hot) * (1.0 - params.lam) + one_hot * params.lam
    return jnp.where(params.cutmix, pasted, blended), targets


def mix_batch(
    images: jax.Array,
    labels: jax.Array,
    key,
    num_classes: int,
    *,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    pairing: str = "roll",
    group_size: int | None = None,
    pixel_stats: tuple | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``apply_mix`` of a ``sample_mix`` draw from ``key``: (images float [B, H, W, C], soft
    targets float32 [B, num_classes]). ``group_size``: each consecutive group of that many images
    (a GPU's batch in the recipe) mixed on its own, with its own draw; B must be a multiple.
    ``pixel_stats``: see ``apply_mix``."""
    alphas = {"mixup_alpha": mixup_alpha, "cutmix_alpha": cutmix_alpha}
    batch = images.shape[0]
    if group_size and group_size < batch:
        if batch % group_size:
            raise ValueError(f"mix groups of {group_size} images do not divide a batch of {batch}")
        groups = batch // group_size
        mix_one = functools.partial(
            mix_batch, num_classes=num_classes, pairing=pairing, pixel_stats=pixel_stats, **alphas
        )
        grouped = images.reshape(groups, group_size, *images.shape[1:]), labels.reshape(groups, group_size)
        mixed, targets = jax.vmap(mix_one)(*grouped, jax.random.split(key, groups))
        return mixed.reshape(images.shape), targets.reshape(batch, num_classes)
    params = sample_mix(key, images.shape[1], images.shape[2], **alphas)
    return apply_mix(images, labels, num_classes, params, pairing, pixel_stats)
