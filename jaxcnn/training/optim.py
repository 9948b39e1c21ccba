"""Optimizers and learning-rate schedules (optax).

Weight decay is set per group of parameters, grouped as torchvision's reference scripts group
them (``set_weight_decay``): biases, normalisation layers' scales and offsets, and the rest
(convolution and dense kernels). By default only the kernels decay. With SGD it is coupled L2
(``wd * w`` added to the gradient, as ``torch.optim.SGD(weight_decay=...)``); with AdamW it is
decoupled (Loshchilov & Hutter).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from .config import OPTIMIZERS, SCHEDULES, STEP_MILESTONES, WARMUP_METHODS


def schedule(
    name: str,
    peak: float,
    total_steps: int,
    warmup_steps: int = 0,
    milestones: tuple[float, ...] = STEP_MILESTONES,
    *,
    decay_steps: int = 1,
    gamma: float = 0.94,
    warmup_method: str = "linear",
    start_factor: float | None = None,
    steps_per_epoch: int | None = None,
    min_lr: float = 0.0,
    warmup_prefix: bool = True,
) -> optax.Schedule:
    """The learning rate at each step (a function int -> float32 []).

    A warm-up over ``warmup_steps`` from ``start_factor * peak`` (default ``peak / warmup_steps``):
    "linear" to ``peak`` (torchvision's ``LinearLR``) or "constant" there (``ConstantLR``; He et
    al.'s 0.01 before 0.1 for ResNet-110). Then "cosine" (to ``min_lr`` at ``total_steps``), "step" (x0.1
    at each of the ``milestones``, fractions of the remaining steps, rounded down to a step once
    float error is allowed for, so that 1/3 of 90 epochs ends epoch 30 exactly: by default 50% and
    75%, the ResNet paper's CIFAR recipe; 1/3 and 2/3 are torchvision's ImageNet recipe, x0.1
    every 30 of 90 epochs), "exponential" (x``gamma`` after every ``decay_steps`` steps, a
    staircase: TensorFlow's ``exponential_decay(staircase=True)``, the Inception v3 paper's 0.94
    every two epochs) or "constant".

    ``warmup_prefix``: the main schedule starts when the warm-up ends (torchvision's
    ``SequentialLR``); False: it counts from step 0 and the warm-up takes the place of its first
    steps (timm's schedulers without ``warmup_prefix``).

    ``steps_per_epoch``: the rate changes only when an epoch starts, to its value at that step,
    as torchvision's scripts step their schedulers once per epoch.
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    if warmup_method not in WARMUP_METHODS:
        raise ValueError(f"warmup_method must be one of {WARMUP_METHODS}, got {warmup_method!r}")
    if not 0 <= warmup_steps < max(total_steps, 1):
        raise ValueError(f"warmup_steps must be in 0..{total_steps - 1}, got {warmup_steps}")
    rest = total_steps - warmup_steps if warmup_prefix else total_steps
    if name == "cosine":
        main = optax.cosine_decay_schedule(peak, max(rest, 1), alpha=min_lr / peak)
    elif name == "step":
        main = optax.piecewise_constant_schedule(peak, {math.floor(f * rest + 1e-9): 0.1 for f in milestones})
    elif name == "exponential":
        main = optax.exponential_decay(peak, max(decay_steps, 1), gamma, staircase=True)
    else:
        main = optax.constant_schedule(peak)
    rate = main
    if warmup_steps:
        start = peak * (start_factor if start_factor is not None else 1 / warmup_steps)
        if warmup_method == "linear":
            warmup = optax.linear_schedule(start, peak, warmup_steps)
        else:
            warmup = optax.constant_schedule(start)
        if warmup_prefix:
            rate = optax.join_schedules([warmup, main], [warmup_steps])
        else:
            rate = lambda step: jnp.where(step < warmup_steps, warmup(step), main(step))  # noqa: E731
    if steps_per_epoch is None:
        return rate
    return lambda step: rate(step // steps_per_epoch * steps_per_epoch)


def optimizer(
    name: str = "sgd",
    learning_rate: float | optax.Schedule = 0.1,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
    norm_weight_decay: float | None = 0.0,
    bias_weight_decay: float | None = 0.0,
    rmsprop_decay: float = 0.9,
    rmsprop_epsilon: float = 1.0,
    clip_grad_norm: float | None = None,
) -> optax.GradientTransformation:
    """One of ``OPTIMIZERS``, each parameter decayed at the rate of its group (``decay_groups``):
    ``bias_weight_decay`` for biases, ``norm_weight_decay`` for normalisation layers,
    ``weight_decay`` for the rest; a group given None has no rate of its own, as torchvision's
    flags left out.

    - "sgd": SGD with ``momentum`` (and ``nesterov``), coupled L2 decay (``torch.optim.SGD``).
    - "adamw": Adam with decoupled decay (Loshchilov & Hutter; ``optax.adamw``).
    - "rmsprop_tf": RMSProp as TensorFlow 1 defines it, which the Inception v3 paper used (decay
      0.9, epsilon 1.0): ``ms = d * ms + (1 - d) * g**2`` from ``ms = 1``, ``mom = momentum * mom
      + lr * g / sqrt(ms + epsilon)``, ``w -= mom``; coupled L2 decay (TF-slim's regulariser).
    - "lamb": LAMB (You et al. 2020; ``optax.lamb``, epsilon 1e-6), decoupled decay.
    - "lamb_timm": LAMB as timm's ``Lamb`` computes it ("ResNet strikes back"'s): the gradients
      first scaled down to global norm 1.0 (its ``max_grad_norm``), the trust ratio only for the
      parameters that decay (its ``always_adapt=False``).

    ``clip_grad_norm``: the gradients are first scaled down to this global norm where it is
    larger (``torch.nn.utils.clip_grad_norm_``, before the optimizer and its decay)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    rates = {"weight_decay": weight_decay, "norm_weight_decay": norm_weight_decay}
    for field, rate in {**rates, "bias_weight_decay": bias_weight_decay}.items():
        if rate is not None and rate < 0:
            raise ValueError(f"{field} must be >= 0, got {rate}")
    decay = decayed_weights(weight_decay, norm_weight_decay, bias_weight_decay)
    clip = [optax.clip_by_global_norm(clip_grad_norm)] if clip_grad_norm is not None else []
    lr = optax.scale_by_learning_rate(learning_rate)
    if name == "adamw":
        return optax.chain(*clip, optax.scale_by_adam(), *decay, lr)
    if name == "lamb":
        return optax.chain(*clip, optax.scale_by_adam(eps=1e-6), *decay, optax.scale_by_trust_ratio(), lr)
    if name == "lamb_timm":
        adapt = optax.masked(
            optax.scale_by_trust_ratio(), decay_mask(weight_decay, norm_weight_decay, bias_weight_decay)
        )
        return optax.chain(*clip, optax.clip_by_global_norm(1.0), optax.scale_by_adam(eps=1e-6), *decay, adapt, lr)
    if name == "rmsprop_tf":
        rms = optax.rmsprop(
            learning_rate, decay=rmsprop_decay, eps=rmsprop_epsilon, initial_scale=1.0, momentum=momentum or None
        )
        return optax.chain(*clip, *decay, rms)
    return optax.chain(*clip, *decay, optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov))


def decay_groups(params, *, norm: bool = True, bias: bool = True):
    """The weight-decay group of each leaf of ``params``, as torchvision's ``set_weight_decay``:
    "bias" for a leaf named ``bias`` (when ``bias``), else "norm" for the parameters of a
    normalisation layer, a module with a ``scale`` (when ``norm``), else "other"."""
    paths = [tuple(k.key for k in path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    norm_layers = {path[:-1] for path in paths if path[-1] == "scale"}

    def group(path, _):
        keys = tuple(k.key for k in path)
        if bias and keys[-1] == "bias":
            return "bias"
        return "norm" if norm and keys[:-1] in norm_layers else "other"

    return jax.tree_util.tree_map_with_path(group, params)


def decayed_weights(
    weight_decay: float, norm_weight_decay: float | None = 0.0, bias_weight_decay: float | None = 0.0
) -> list[optax.GradientTransformation]:
    """One ``optax.add_decayed_weights`` per group of ``decay_groups`` whose rate is not 0, masked
    to that group (with the defaults: the kernels alone, at ``weight_decay``)."""
    rates, given = _group_rates(weight_decay, norm_weight_decay, bias_weight_decay)

    def in_group(name):
        return lambda params: jax.tree.map(lambda g: g == name, decay_groups(params, **given))

    return [optax.add_decayed_weights(rate, mask=in_group(name)) for name, rate in rates.items() if rate]


def decay_mask(weight_decay: float, norm_weight_decay: float | None = 0.0, bias_weight_decay: float | None = 0.0):
    """``params -> bool tree``: which leaves decay (their group's rate is not 0; ``decay_groups``)."""
    rates, given = _group_rates(weight_decay, norm_weight_decay, bias_weight_decay)
    return lambda params: jax.tree.map(lambda g: bool(rates[g]), decay_groups(params, **given))


def _group_rates(weight_decay, norm_weight_decay, bias_weight_decay) -> tuple[dict, dict]:
    """Each group's rate (None: no group of its own, its leaves are "other") and which groups have one."""
    given = {"norm": norm_weight_decay is not None, "bias": bias_weight_decay is not None}
    return {"other": weight_decay, "norm": norm_weight_decay, "bias": bias_weight_decay}, given


def frozen_stages(model, freeze: str) -> int:
    """The number of leading stages ``freeze`` ("none", "backbone" or "N") freezes in ``model``;
    ``ValueError`` for more stages than it has."""
    if freeze == "none":
        return 0
    if freeze == "backbone":
        return model.num_stages
    if int(freeze) > model.num_stages:
        raise ValueError(f"freeze: {type(model).__name__} has {model.num_stages} stages; got {freeze}")
    return int(freeze)


def frozen_labels(model, params):
    """ "frozen" for each parameter of a stage up to ``model.frozen_stages``, else "trained"."""

    def label(path, _):
        stage = model.stage_of(path[0].key)
        return "frozen" if stage is not None and stage <= model.frozen_stages else "trained"

    return jax.tree_util.tree_map_with_path(label, params)


def freeze(tx: optax.GradientTransformation, model) -> optax.GradientTransformation:
    """``tx`` for the parameters ``model`` trains; zero updates, no weight decay and no optimizer
    state (no momentum) for those of its frozen stages (``optax.multi_transform`` with
    ``set_to_zero``). ``tx`` itself when nothing is frozen."""
    if not getattr(model, "frozen_stages", 0):
        return tx
    return optax.multi_transform(
        {"trained": tx, "frozen": optax.set_to_zero()}, lambda params: frozen_labels(model, params)
    )
