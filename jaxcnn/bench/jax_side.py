"""jaxcnn's side: the train step users run, the eval step, and ``jaxcnn.fit`` end to end.

Everything is built by the code ``jaxcnn train`` runs (``TrainConfig`` -> ``jaxcnn.training.build``:
model, SGD with Nesterov momentum 0.9 and weight decay 5e-4, the schedule; ``make_train_step``
jitted with donation by ``Parallel('none')``), so the benchmark measures the step users get.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxcnn.data import Dataset
from jaxcnn.inspect import summary
from jaxcnn.training import (
    DataInfo,
    Parallel,
    TrainConfig,
    TrainState,
    build,
    fit,
    initial_state,
    make_eval_step,
    make_train_step,
)

from .device import environment, peak_memory_bytes
from .rows import Row, set_flops, set_rates
from .spec import Spec, time_blocks


def train_config(spec: Spec, **fields) -> TrainConfig:
    """The ``TrainConfig`` of a resolved spec (defaults elsewhere: what ``jaxcnn train`` uses),
    with plain cross-entropy (no label smoothing), the loss of the bare step and of PyTorch's."""
    return TrainConfig(
        model=spec.model,
        model_overrides=spec.model_overrides,
        batch_size=spec.batch,
        dtype=spec.dtype,
        image_size=spec.image_size,
        parallel="none",
        label_smoothing=0.0,
        **fields,
    )


def data_info(spec: Spec, examples: int) -> DataInfo:
    """What ``fit`` would learn from a dataset of ``examples`` images shaped as the spec's."""
    c = spec.in_channels
    return DataInfo(spec.num_classes, c, spec.image_size, (0.5,) * c, (0.25,) * c, examples)


def build_for(spec: Spec):
    """``(config, info, model, tx)`` of a resolved spec, as ``setup.build`` makes them for ``jaxcnn train``."""
    config, info = train_config(spec), data_info(spec, spec.batch)
    model, tx, _, _ = build(config, info)
    return config, info, model, tx


def synthetic_batch(spec: Spec, seed: int = 0) -> dict:
    """A device batch: 'image' float32 [B, S, S, C] ~ N(0, 1), 'label' int32 [B], 'index' int32 [B]."""
    rng = np.random.default_rng(seed)
    shape = (spec.batch, spec.image_size, spec.image_size, spec.in_channels)
    return jax.device_put(
        {
            "image": rng.standard_normal(shape, np.float32),
            "label": rng.integers(0, spec.num_classes, spec.batch).astype(np.int32),
            "index": np.arange(spec.batch, dtype=np.int32),
        }
    )


def synthetic_dataset(spec: Spec, examples: int, seed: int = 0) -> Dataset:
    """``examples`` random uint8 images [S, S, C] with random labels in 0..num_classes-1."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (examples, spec.image_size, spec.image_size, spec.in_channels), dtype=np.uint8)
    labels = rng.integers(0, spec.num_classes, examples).astype(np.int32)
    return Dataset(images, labels, tuple(map(str, range(spec.num_classes))), source="synthetic")


def measure_step(spec: Spec, peak: tuple[float | None, str | None], state: TrainState | None = None) -> Row:
    """One train (full optimizer step) or eval (forward, eval mode) row of a resolved spec,
    from ``state`` (a host ``TrainState`` of this spec's model) or the seeded initial state.

    Compile time is that of ``lower(...).compile()``; the timed blocks call the compiled step
    and wait with ``jax.block_until_ready`` on its outputs at each block's end.
    """
    compiled, state, batch, compile_s, model = compile_step(spec, state)
    if spec.mode == "eval":
        seconds, _ = time_blocks(lambda _: compiled(state, batch), None, spec, jax.block_until_ready)
    else:
        seconds, _ = time_blocks(lambda out: compiled(out[0], batch), (state, None), spec, jax.block_until_ready)
    row = spec.row("jaxcnn", "jit", compile_s=compile_s, peak_memory_bytes=peak_memory_bytes(), **environment())
    row.step_memory_bytes = step_memory_bytes(compiled)
    stats = summary(model, (1, spec.image_size, spec.image_size, spec.in_channels))
    row.params = stats.total_params
    set_rates(row, seconds, spec.batch * spec.steps)
    return set_flops(row, stats.total_macs, *peak)


class CompiledStep(NamedTuple):
    """A spec's step compiled for its device state and synthetic batch (``synthetic_batch``)."""

    compiled: Any  # jax.stages.Compiled: (state, batch) -> (state, metrics) (train; state donated) or eval outputs
    state: TrainState
    batch: dict
    compile_s: float
    model: Any  # the flax module


def compile_step(spec: Spec, state: TrainState | None = None) -> CompiledStep:
    """The train step ``jaxcnn.fit`` runs (jitted with the state donated, by ``Parallel('none')``)
    or the eval step (``spec.mode == 'eval'``) of a resolved spec, compiled ahead of time with
    ``lower(...).compile()`` (its ``memory_analysis()`` and ``cost_analysis()`` describe it),
    with ``state`` (a host ``TrainState`` of the spec's model; None: the seeded initial state)
    put on the device and the compile seconds."""
    config, info, model, tx = build_for(spec)
    train_step, eval_step = Parallel("none").compile(make_train_step(model, tx), make_eval_step(model))
    state = jax.device_put(initial_state(config, info, model, tx) if state is None else state)
    batch = synthetic_batch(spec)
    compiled, compile_s = _compile(train_step if spec.mode != "eval" else eval_step, state, batch)
    return CompiledStep(compiled, state, batch, compile_s, model)


def run_fit(spec: Spec) -> tuple[list[float], TrainState]:
    """``jaxcnn.fit`` end to end on synthetic uint8 images, through the real pipeline (host
    batching, prefetch, on-device transform, metrics, per-epoch evaluation and checkpoint).

    Epoch 1 (``spec.steps`` steps, compilation included) is the warm-up; the timed blocks are
    epochs 2 .. ``repeats + 1``, timed by ``fit`` itself (its ``images_per_second``, which
    leaves out the evaluation and checkpoint at each epoch's end).

    Returns:
      (seconds of each timed epoch, the final state on the host).
    """
    train = synthetic_dataset(spec, spec.steps * spec.batch)
    test = synthetic_dataset(spec, spec.batch, seed=1)
    with tempfile.TemporaryDirectory(prefix="jaxcnn-bench-") as out:
        config = train_config(spec, epochs=spec.repeats + 1, eval_batch_size=spec.batch, out=out, progress=False)
        result = fit(config, train=train, test=test)
    return [spec.steps * spec.batch / epoch["images_per_second"] for epoch in result.history[1:]], result.state


def fit_row(spec: Spec, seconds: list[float], step_row: Row, peak: tuple[float | None, str | None]) -> Row:
    """The fit row of ``run_fit``'s ``seconds``, beside ``step_row`` (the bare train step of the
    same spec): its rate and the pipeline's overhead in %."""
    row = dataclasses.replace(step_row, mode="fit", variant="fit", compile_s=None, note="epoch 1 is the warm-up")
    row.warmup, row.peak_memory_bytes = spec.steps, peak_memory_bytes()
    set_rates(row, seconds, spec.batch * spec.steps)
    row.step_img_s = step_row.img_s
    row.overhead_pct = 100 * (1 - row.img_s / step_row.img_s)
    return set_flops(row, step_row.macs, *peak)


def step_memory_bytes(compiled) -> int | None:
    """The bytes XLA's buffer assignment gives a compiled step: arguments + outputs + temporaries,
    less the outputs that reuse donated argument buffers; None where the backend has no analysis."""
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    return int(
        stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes - stats.alias_size_in_bytes
    )


def _compile(jitted, *args):
    """(``jitted.lower(*args).compile()``, the seconds it took)."""
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - start
