"""Throughput benchmarks: jaxcnn's train step, eval step and ``fit``, with MFU, memory and
compile time, PyTorch side by side when installed; the engine of ``jaxcnn bench``.

    rows = jaxcnn.bench.benchmark(["resnet20"], batch_sizes=(32, 128), image_size=28, in_channels=1,
                                  compare="torch-eager")

Definitions (as timm's benchmark.py): train = the full optimizer step (forward, backward,
update) on a fixed device batch; eval = the forward pass in eval mode; fit = ``jaxcnn.fit``
end to end on synthetic uint8 images. A rate is the median over ``repeats`` timed blocks of
``steps`` steps after ``warmup`` untimed ones; compilation is timed apart. ``dtype`` is the
compute dtype; parameters and optimizer state stay float32.

Its names are imported on first use (``jaxcnn.lazy``): ``jaxcnn.bench.bench_cli`` alone loads no jax.
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from .jax_side import CompiledStep, compile_step, step_memory_bytes
    from .plot import plot_rows
    from .rows import COMPARE, FIELDS, Row, append_jsonl, format_table, read_jsonl
    from .runner import benchmark, iter_benchmark, resolve_models, run_spec
    from .spec import Spec

__all__ = [
    "COMPARE",
    "FIELDS",
    "CompiledStep",
    "Row",
    "Spec",
    "append_jsonl",
    "benchmark",
    "compile_step",
    "format_table",
    "iter_benchmark",
    "plot_rows",
    "read_jsonl",
    "resolve_models",
    "run_spec",
    "step_memory_bytes",
]

__getattr__, __dir__ = lazy_exports(__name__)
