"""Run benchmarks: resolve model names and patterns, measure each (model, batch size) and yield its rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import jax

from jaxcnn.models import list_models, model_info
from jaxcnn.validate import one_of

from .device import peak_tflops
from .jax_side import fit_row, measure_step, run_fit
from .rows import COMPARE, Row
from .spec import Spec


def benchmark(models: str | Sequence[str], **kwargs) -> list[Row]:
    """``list(iter_benchmark(models, **kwargs))``: every row of the run."""
    return list(iter_benchmark(models, **kwargs))


def iter_benchmark(
    models: str | Sequence[str],
    *,
    batch_sizes: Sequence[int] = (32,),
    mode: str = "train",
    dtype: str = "float32",
    image_size: int | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    layout: str = "default",
    warmup: int = 3,
    steps: int = 10,
    repeats: int = 3,
    compare: str | None = None,
    peak: float | None = None,
    command: str | None = None,
    model_overrides: dict | None = None,
) -> Iterator[Row]:
    """Benchmark each model (names or fnmatch patterns) at each batch size; yields ``Row``s as
    they are measured.

    Args:
      models: registered names or patterns (``'resnet*'``).
      batch_sizes: global batch sizes, each its own row.
      mode: "train" (the full SGD-Nesterov step of ``jaxcnn.training``), "eval" (forward in
        eval mode) or "fit" (``jaxcnn.fit`` end to end; a bare train row comes first).
      dtype: compute dtype, "float32" or "bfloat16".
      image_size, in_channels, num_classes: the input ``[B, S, S, C]`` float32 and the number
        of outputs; None takes the model's own (e.g. 224, 3, 1000).
      layout: "default", "scan" or "unrolled" repeated blocks (ResNets).
      warmup, steps, repeats: untimed steps; steps per timed block; timed blocks.
      compare: None, "torch" (PyTorch eager in both memory layouts and ``torch.compile``) or
        "torch-eager" (no ``torch.compile``).
      peak: the peak TFLOP/s for MFU (None: the data-sheet table, else a measured matmul roof).
      command: recorded in every row (the CLI puts its command line here).
      model_overrides: extra model attributes (``{"head": "gap"}``), named in each row's note;
        not with ``compare`` (PyTorch builds the registered architecture only).

    Raises ``ValueError`` before measuring anything when a model, batch size or option is bad.
    """
    one_of(COMPARE).or_none().require("compare", compare)
    if model_overrides and compare:
        raise ValueError("model_overrides cannot be compared with PyTorch, which builds the registered models only")
    overrides = dict(model_overrides or {})
    specs = [
        Spec(
            name, mode, batch, dtype, image_size, in_channels, num_classes, layout, warmup, steps, repeats, overrides
        ).resolved()
        for name in resolve_models(models)
        for batch in batch_sizes
    ]
    peak_pair = peak_tflops(dtype, peak)
    for spec in specs:
        for row in run_spec(spec, peak_pair, compare):
            row.command = command
            yield row


def run_spec(spec: Spec, peak: tuple[float | None, str | None], compare: str | None = None) -> list[Row]:
    """The rows of one resolved spec: the jaxcnn step (train or eval), then the fit row in fit
    mode, then PyTorch's rows (of the step) when ``compare`` is set."""
    step_spec = dataclasses.replace(spec, mode="train") if spec.mode == "fit" else spec
    fitted = run_fit(spec) if spec.mode == "fit" else None  # its final state seeds the bare step
    try:
        step = measure_step(step_spec, peak, None if fitted is None else fitted[1])
    except jax.errors.JaxRuntimeError as err:  # out of memory at a large batch: report, go on
        return [step_spec.row("jaxcnn", "jit", status="failed", note=str(err).splitlines()[0][:300])]
    rows = [step] if fitted is None else [step, fit_row(spec, fitted[0], step, peak)]
    if compare:
        from .torch_side import torch_rows

        rows += torch_rows(step_spec, step, peak, compile=compare == "torch")
    return rows


def resolve_models(models: str | Sequence[str]) -> list[str]:
    """Registered names for names and fnmatch patterns, in order, without repeats;
    ``ValueError`` for an unknown name or a pattern that matches nothing."""
    names: list[str] = []
    for item in [models] if isinstance(models, str) else models:
        if any(ch in item for ch in "*?["):
            found = list_models(item)
            if not found:
                raise ValueError(f"no model matches {item!r}; `jaxcnn models` lists them all")
        else:
            found = [model_info(item).name]
        names += [n for n in found if n not in names]
    return names
