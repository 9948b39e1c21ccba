"""The training step: the state (everything a step reads and writes, as one pytree), and the pure
train and eval steps (softmax cross-entropy, jax.grad, optax).

Metrics are sums over the batch (``loss``, ``top1``, ``top5``, ``count``), so adding them
on device over many steps and dividing once by ``count`` gives exact averages without a
host sync per step."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxcnn.models import Classifier, check_classifier

from .config import LOSSES


@flax.struct.dataclass
class TrainState:
    """params and batch_stats (float32 trees), opt_state (optax), step (int32 []), rng
    (uint32 raw key data; augmentation and dropout keys are folded from it) and ema (the moving
    average ``{'params', 'batch_stats'}`` of ``--model-ema``, see ``update_ema``; None without)."""

    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array
    ema: Any = None

    @property
    def variables(self) -> dict:
        """``{'params', 'batch_stats'}`` as ``model.apply`` takes them."""
        return {"params": self.params, "batch_stats": self.batch_stats}


def update_ema(state: TrainState, update: jax.Array, decay: jax.Array, weight: jax.Array) -> TrainState:
    """``state`` with its moving average moved towards its variables where ``update``: every leaf
    of ``state.ema`` becomes ``decay * ema + weight * variable`` (torchvision's
    ``ExponentialMovingAverage``, whose ``weight`` is ``1 - decay``; a copy: decay 0, weight 1).

    Args:
      update: bool []; decay, weight: float32 [] (traced: one compilation for every step).
    """
    ema = jax.tree.map(lambda e, v: jnp.where(update, decay * e + weight * v, e), state.ema, state.variables)
    return state.replace(ema=ema)


# XLA:CPU compiles with LLVM at level 3 by default; init's program (the unrolled threefry and
# truncated normals of every initializer; the forward pass is dead code) compiles markedly faster
# at level 2 and gives the same bits (tests/training/test_training_state.py compares them).
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}


def init_variables(model: nn.Module, key: jax.Array, input_shape: tuple[int, ...]) -> dict:
    """``model.init(key, zeros(input_shape) float32)``, jitted; on CPU compiled with
    ``INIT_COMPILER_OPTIONS`` (unless traced inside another jit or ``eval_shape``, whose own
    compilation decides). Returns the variables (``params``, ``batch_stats``: float32 trees)."""
    top_level = not isinstance(key, jax.core.Tracer)
    options = INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" and top_level else None
    return jax.jit(model.init, compiler_options=options)(key, jnp.zeros(input_shape, jnp.float32))


def create_train_state(
    model: nn.Module, rng: jax.Array, input_shape: tuple[int, ...], tx: optax.GradientTransformation
) -> TrainState:
    """Initialise ``model`` for float32 inputs of ``input_shape`` ([N, H, W, C]) and ``tx``.

    Args:
      model: a linen module taking ``(x, train=...)``.
      rng: a PRNG key (``jax.random.key`` or raw uint32 ``PRNGKey``); split into the
        initialisation key and the state's ``rng``.
      input_shape: the shape of one input batch (any N, e.g. 1).
      tx: the optimizer.
    """
    key = rng if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(rng)
    init_key, state_key = jax.random.split(key)
    variables = init_variables(model, init_key, input_shape)
    params = variables["params"]
    return TrainState(
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        step=jnp.zeros((), jnp.int32),
        rng=jax.random.key_data(state_key),
    )


Batch = dict  # 'image' [B, H, W, C], 'label' int32 [B], 'index' int32 [B], optional 'mask' bool [B]


# What a train step checks for NaN and infinity, in the order a divergence usually reaches them.
NONFINITE = ("loss", "gradients", "parameters", "batch_statistics")


def as_targets(labels: jax.Array, classes: int) -> jax.Array:
    """One-hot targets float [B, T] of labels int [B]; soft targets float [B, T] (MixUp, CutMix) as they are."""
    return labels.astype(jnp.float32) if labels.ndim == 2 else jax.nn.one_hot(labels, classes)


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Per-example softmax cross-entropy: logits float [B, T], labels int [B] or soft targets
    float [B, T] -> float32 [B]."""
    targets = as_targets(labels, logits.shape[-1])
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def binary_cross_entropy(
    logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0, target_threshold: float | None = None
) -> jax.Array:
    """Per-example binary cross-entropy of each class's logit against its one-hot target, averaged
    over the classes (timm's ``BinaryCrossEntropy``, the "ResNet strikes back" loss): smoothed
    targets ``1 - s + s / T`` and ``s / T``, set to 1 where above ``target_threshold`` and 0
    elsewhere when it is given. logits float [B, T], labels int [B] or soft targets float
    [B, T] -> float32 [B]."""
    classes = logits.shape[-1]
    off = label_smoothing / classes
    targets = as_targets(labels, classes) * (1 - label_smoothing) + off
    if target_threshold is not None:
        targets = (targets > target_threshold).astype(jnp.float32)
    return optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), targets).mean(axis=-1)


def batch_metrics(
    logits: jax.Array, labels: jax.Array, losses: jax.Array, mask: jax.Array | None = None, axis_name: str | None = None
) -> dict[str, jax.Array]:
    """Sums of loss, top-1 and top-5 hits and the example count (float32 scalars)."""
    weight = jnp.ones_like(losses) if mask is None else mask.astype(jnp.float32)
    k = min(5, logits.shape[-1])
    top_k = jax.lax.top_k(logits, k)[1]
    sums = {
        "loss": jnp.sum(losses * weight),
        "top1": jnp.sum((top_k[:, 0] == labels) * weight),
        "top5": jnp.sum(jnp.any(top_k == labels[:, None], axis=-1) * weight),
        "count": jnp.sum(weight),
    }
    return jax.lax.psum(sums, axis_name) if axis_name else sums


def check_batch(batch: Batch, needs: tuple[str, ...], step: str) -> None:
    """``ValueError`` naming every key ``step`` needs when ``batch`` (a dict of arrays) lacks one;
    checked while tracing, before XLA sees the batch."""
    missing = [key for key in needs if key not in batch]
    if missing:
        raise ValueError(
            f"the {step} needs a batch dict with keys {', '.join(repr(k) for k in needs)}; "
            f"got {', '.join(repr(k) for k in batch) or 'no keys'} (missing {', '.join(map(repr, missing))})"
        )


def make_train_step(
    model: Classifier,
    tx: optax.GradientTransformation,
    *,
    axis_name: str | None = None,
    label_smoothing: float = 0.0,
    transform: Callable | None = None,
    loss: str = "cross_entropy",
    bce_target_threshold: float | None = None,
    mix: Callable | None = None,
    ema: Callable | None = None,
) -> Callable:
    """A pure ``(state, batch) -> (state, metrics)``: one minibatch gradient-descent step.

    The loss (``loss``: softmax ``cross_entropy`` or ``bce``, ``binary_cross_entropy`` with
    ``bce_target_threshold``) is averaged over the (per-device) minibatch, plus
    ``model.aux_weight`` times that of each of its ``model.aux_heads`` auxiliary heads
    (Inception with ``aux_logits=True``).

    Args:
      model: a ``jaxcnn.models.Classifier``; under ``axis_name`` a model with ``bn_axis_name=None`` is cloned
        with ``bn_axis_name=axis_name`` so batch statistics come from the global batch.
      tx: the optax optimizer.
      axis_name: the ``pmap`` axis; gradients are averaged over it with ``lax.pmean`` and the
        metrics summed with ``lax.psum``.
      label_smoothing: in [0, 1).
      transform: ``(images, index, key) -> float images`` run on device before the model (for
        example ``jaxcnn.data.augment``); None feeds ``batch['image']`` as it is.
      mix: ``(images, labels, key) -> (images, soft targets [B, T])`` after ``transform``
        (``jaxcnn.data.mix.mix_batch``: MixUp, CutMix), its key drawn anew each step (and on
        each device under ``axis_name``); the top-1/top-5 metrics then count the largest target.
      ema: ``step -> (update, decay, weight)`` for the state's step before this one
        (``jaxcnn.training.parts.ema_schedule``): after the update, ``update_ema``.

    Returns:
      ``train_step(state, batch)``; metrics as in ``batch_metrics`` plus, for each of
      ``NONFINITE`` (loss, gradients, parameters, batch statistics), ``nonfinite_<what>``: the
      step number (1-based) when any of its values is NaN or infinite, else inf
      (``add_metrics`` keeps the minimum, so the first such step survives the sums).
    """
    model = _with_bn_axis(model, axis_name, "make_train_step")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "bce":
        per_example = functools.partial(
            binary_cross_entropy, label_smoothing=label_smoothing, target_threshold=bce_target_threshold
        )
    else:
        per_example = functools.partial(cross_entropy, label_smoothing=label_smoothing)

    needs = ("image", "label") if transform is None else ("image", "label", "index")

    def train_step(state: TrainState, batch: Batch):
        check_batch(batch, needs, "train step")
        key = jax.random.wrap_key_data(state.rng)
        images = (
            batch["image"]
            if transform is None
            else transform(batch["image"], batch["index"], jax.random.fold_in(key, 0))
        )
        dropout = jax.random.fold_in(jax.random.fold_in(key, 1), state.step)
        mixing = jax.random.fold_in(jax.random.fold_in(key, 3), state.step)
        if axis_name:
            dropout = jax.random.fold_in(dropout, jax.lax.axis_index(axis_name))
            mixing = jax.random.fold_in(mixing, jax.lax.axis_index(axis_name))
        labels = batch["label"]
        if mix is not None:
            images, labels = mix(images, labels, mixing)

        def loss_fn(params):
            out, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                images,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": dropout},
            )
            logits, aux = out if model.aux_heads else (out, ())
            losses = per_example(logits, labels)
            aux_loss = sum(per_example(a, labels).mean() for a in aux)
            return losses.mean() + model.aux_weight * aux_loss, (logits, losses, updates)

        (loss, (logits, losses, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        if axis_name:
            grads = jax.lax.pmean(grads, axis_name)
        steps, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            params=optax.apply_updates(state.params, steps),
            batch_stats=updates.get("batch_stats", state.batch_stats),
            opt_state=opt_state,
            step=state.step + 1,
        )
        if ema is not None:
            new_state = update_ema(new_state, *ema(state.step))
        hard_labels = labels if labels.ndim == 1 else jnp.argmax(labels, axis=-1)
        metrics = batch_metrics(logits, hard_labels, losses, axis_name=axis_name)
        checked = (loss, grads, new_state.params, new_state.batch_stats)
        for what, tree in zip(NONFINITE, checked):
            metrics[f"nonfinite_{what}"] = _nonfinite_step(tree, new_state.step, axis_name)
        return new_state, metrics

    return train_step


def _nonfinite_step(tree, step: jax.Array, axis_name: str | None) -> jax.Array:
    """``step`` as float32 when a leaf of ``tree`` holds a NaN or infinity (on any device of
    ``axis_name``), else inf: one fused reduction per leaf, read by the host only every few steps."""
    finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)] or [True]))
    if axis_name:
        finite = jax.lax.psum((~finite).astype(jnp.int32), axis_name) == 0
    return jnp.where(finite, jnp.inf, step.astype(jnp.float32))


def make_eval_step(model: Classifier, *, axis_name: str | None = None, transform: Callable | None = None) -> Callable:
    """A pure ``(state, batch) -> metrics`` in eval mode; rows with ``batch['mask']`` False
    (the padding of a last partial batch) are not counted.

    ``transform``: ``images -> float images`` (for example ``jaxcnn.data.normalize``).
    """
    model = _with_bn_axis(model, axis_name, "make_eval_step")

    def eval_step(state: TrainState, batch: Batch):
        check_batch(batch, ("image", "label"), "eval step")
        images = batch["image"] if transform is None else transform(batch["image"])
        logits = model.apply(state.variables, images, train=False)
        losses = cross_entropy(logits, batch["label"])
        return batch_metrics(logits, batch["label"], losses, batch.get("mask"), axis_name)

    return eval_step


def _with_bn_axis(model: Classifier, axis_name: str | None, caller: str) -> Classifier:
    check_classifier(model, caller)
    if axis_name and model.bn_axis_name is None:
        return model.clone(bn_axis_name=axis_name)
    return model
