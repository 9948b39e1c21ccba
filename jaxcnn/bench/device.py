"""What the benchmark knows of the device: its name and versions, its peak TFLOP/s (a table of
published figures, or a matmul roof measured in the run) and its peak memory."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib

# Dense (no sparsity) tensor-core peaks in TFLOP/s from the vendors' data sheets, by a substring
# of ``device_kind``, most specific first. float32 maps to TF32, what XLA's default precision
# uses for float32 matmuls and convolutions on these cards.
PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100 PCIe", {"bfloat16": 756.0, "float32": 378.0}),
    ("H100", {"bfloat16": 989.0, "float32": 494.0}),  # SXM
    ("H200", {"bfloat16": 989.0, "float32": 494.0}),  # SXM
    ("GH200", {"bfloat16": 989.0, "float32": 494.0}),
    ("A100", {"bfloat16": 312.0, "float32": 156.0}),
    ("L40S", {"bfloat16": 362.0, "float32": 183.0}),
    ("L4", {"bfloat16": 121.0, "float32": 60.0}),
    ("A10", {"bfloat16": 125.0, "float32": 62.5}),
    ("TPU v4", {"bfloat16": 275.0}),
    ("TPU v5 lite", {"bfloat16": 197.0}),
    ("TPU v5p", {"bfloat16": 459.0}),
    ("TPU v6 lite", {"bfloat16": 918.0}),
)


def device_kind() -> str:
    """``jax.devices()[0].device_kind``, e.g. "cpu" or "NVIDIA H100 80GB HBM3"."""
    return jax.devices()[0].device_kind


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else the machine type."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def environment() -> dict:
    """The row fields that say where and when: device_kind, backend, cpu_count, jax and jaxlib
    versions, date (UTC, ISO 8601, seconds)."""
    return {
        "device_kind": device_kind(),
        "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def table_peak(kind: str, dtype: str) -> float | None:
    """The published peak TFLOP/s of a device kind for ``dtype`` ("float32" | "bfloat16"), or None."""
    for key, peaks in PEAKS:
        if key.lower() in kind.lower():
            return peaks.get(dtype)
    return None


def peak_tflops(dtype: str, override: float | None = None) -> tuple[float | None, str | None]:
    """(peak TFLOP/s, where it comes from) for the default device: ``override`` (``--peak-tflops``),
    else the table, else a matmul roof measured now (``matmul_roof``)."""
    if override is not None:
        return override, "--peak-tflops"
    kind = device_kind()
    peak = table_peak(kind, dtype)
    if peak is not None:
        return peak, f"data sheet ({kind}, {dtype})"
    n = 1024 if jax.default_backend() == "cpu" else 8192
    return matmul_roof(dtype, n), f"measured {n}x{n} {dtype} matmul"


def matmul_roof(dtype: str, n: int = 1024, repeats: int = 5) -> float:
    """TFLOP/s of a jitted ``[n, n] @ [n, n]`` matmul in ``dtype`` on the default device: the
    median of ``repeats`` timed calls after one untimed call (2 n^3 FLOPs each)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
    matmul = jax.jit(jnp.matmul).lower(a, a).compile()
    matmul(a, a).block_until_ready()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        seconds.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(seconds) / 1e12


def peak_memory_bytes() -> int | None:
    """``peak_bytes_in_use`` of the default device's ``memory_stats()``; None where the backend
    does not report it (XLA:CPU)."""
    stats = jax.devices()[0].memory_stats()
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None
