"""One benchmark measurement as a row: its fields, the JSON-lines results file and the stdout table."""

from __future__ import annotations

import dataclasses
import datetime
import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

MODES = ("train", "eval", "fit")
LAYOUTS = {"default": None, "scan": True, "unrolled": False}  # --layout -> the ResNets' ``scan`` attribute
COMPARE = ("torch", "torch-eager")  # PyTorch eager and torch.compile, or eager only
FLOPS_PER_MAC = {"train": 6, "fit": 6, "eval": 2}  # forward 2 FLOPs per MAC; backward twice the forward


@dataclasses.dataclass
class Row:
    """One measured (or skipped) configuration. Rates are images per second.

    Attributes:
      framework: "jaxcnn" or "torch"; ``variant``: how it ran ("jit", "eager channels_last",
        "compile channels_first", "eager amp-bf16 channels_last", ...).
      model, mode, batch, dtype, image_size, in_channels, num_classes, layout: what ran; mode is
        train (the full optimizer step), eval (forward in eval mode) or fit (``jaxcnn.fit`` end
        to end); dtype is the compute dtype (parameters stay float32).
      warmup, steps, repeats: untimed steps, steps per timed block, timed blocks.
      img_s, img_s_min, img_s_max: median, min and max over the timed blocks; step_ms: the
        median block's time per step.
      compile_s: seconds to lower and compile (jax), or of the first call (torch.compile);
        None for eager PyTorch and for fit (see the train row).
      macs: multiply-accumulates of one image's forward pass (``jaxcnn.summary``).
      tflops: img_s x macs x (6 for train and fit, 2 for eval) / 1e12.
      peak_tflops, peak_source, mfu: the device's peak, where it came from, tflops / peak.
      peak_memory_bytes: the device's peak memory in use so far in this process (JAX has no reset; a
        batch sweep runs best from small to large), where the backend reports it.
      step_memory_bytes: the memory XLA assigns to the compiled step (jaxcnn rows, any backend; a
        fit row repeats its train step's): arguments + outputs + temporaries - outputs aliased to
        donated arguments.
      step_img_s, overhead_pct: for fit rows, the bare train step's rate in the same run and
        the share of it the pipeline costs: 100 x (1 - img_s / step_img_s).
      ratio: jaxcnn img/s divided by this row's img/s on torch rows; on the jaxcnn row,
        divided by the best PyTorch eager layout's. None alone.
      best: on torch eager rows, True for the faster memory layout.
      status: "ok", "skipped" or "failed"; note: the reason, or other remarks.
      device_kind, backend, cpu_count, jax_version, jaxlib_version, torch_version, date, command:
        where, with what and when it ran (date: UTC ISO 8601).
    """

    framework: str
    variant: str
    model: str
    mode: str
    batch: int
    dtype: str
    image_size: int
    in_channels: int
    num_classes: int
    layout: str = "default"
    warmup: int = 0
    steps: int = 0
    repeats: int = 0
    img_s: float | None = None
    img_s_min: float | None = None
    img_s_max: float | None = None
    step_ms: float | None = None
    compile_s: float | None = None
    params: int | None = None
    macs: int | None = None
    tflops: float | None = None
    peak_tflops: float | None = None
    peak_source: str | None = None
    mfu: float | None = None
    peak_memory_bytes: int | None = None
    step_memory_bytes: int | None = None
    step_img_s: float | None = None
    overhead_pct: float | None = None
    ratio: float | None = None
    best: bool | None = None
    status: str = "ok"
    note: str = ""
    device_kind: str = ""
    backend: str = ""
    cpu_count: int | None = None
    jax_version: str = ""
    jaxlib_version: str = ""
    torch_version: str | None = None
    date: str = ""
    command: str | None = None

    def to_json(self) -> dict:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(Row))


def median_rate(seconds: Sequence[float], images_per_block: int) -> float:
    """The median images per second of timed blocks of ``images_per_block`` images each."""
    return statistics.median(images_per_block / s for s in seconds)


def set_rates(row: Row, seconds: Sequence[float], images_per_block: int) -> Row:
    """Fill img_s (median), img_s_min, img_s_max and step_ms from timed blocks of ``row.steps`` steps."""
    rates = [images_per_block / s for s in seconds]
    row.img_s, row.img_s_min, row.img_s_max = median_rate(seconds, images_per_block), min(rates), max(rates)
    row.step_ms = 1000 * row.batch / row.img_s
    return row


def set_flops(row: Row, macs: int, peak_tflops: float | None, peak_source: str | None) -> Row:
    """Fill macs, tflops (img_s x macs x FLOPS_PER_MAC[mode] / 1e12), the peak and mfu."""
    row.macs = macs
    row.tflops = row.img_s * macs * FLOPS_PER_MAC[row.mode] / 1e12
    row.peak_tflops, row.peak_source = peak_tflops, peak_source
    row.mfu = row.tflops / peak_tflops if peak_tflops else None
    return row


def dated_path(directory: str | Path, name: str) -> Path:
    """``directory/YYYY-MM-DD-name.jsonl`` for today (UTC): where a benchmark script stores its rows."""
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return Path(directory) / f"{today}-{name}.jsonl"


def append_jsonl(path: str | Path, rows: Iterable[Row]) -> None:
    """Append one JSON object per row to ``path`` (created with its folder if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for row in rows:
            f.write(json.dumps(row.to_json()) + "\n")


def read_jsonl(path: str | Path) -> list[Row]:
    """The rows of a results file; fields this version does not know are dropped."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            data = json.loads(line)
            rows.append(Row(**{k: v for k, v in data.items() if k in FIELDS}))
    return rows


COLUMNS = ("model", "framework", "variant", "mode", "batch", "dtype", "img/s", "min-max", "step ms", "compile s")
MORE = ("TFLOP/s", "MFU", "peak mem", "ratio", "note")


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned plain-text table (the one ``jaxcnn bench`` prints)."""
    cells = [COLUMNS + MORE, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    left = {0, 1, 2, 3, 5, len(widths) - 1}
    lines = [
        "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cell, widths)))
        for cell in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _cells(r: Row) -> tuple[str, ...]:
    ok = r.status == "ok"
    note = r.note if ok else f"{r.status}: {r.note}"
    if r.overhead_pct is not None:
        note = f"{r.overhead_pct:.1f}% under the bare step ({r.step_img_s:,.1f} img/s); {note}".rstrip("; ")
    if r.best:
        note = ("best layout; " + note).rstrip("; ")
    return (
        r.model,
        r.framework,
        r.variant,
        r.mode,
        str(r.batch),
        r.dtype,
        _num(r.img_s, ",.1f"),
        f"{_num(r.img_s_min, ',.0f')}-{_num(r.img_s_max, ',.0f')}" if ok else "-",
        _num(r.step_ms, ",.1f"),
        _num(r.compile_s, ".1f"),
        _num(r.tflops, ".3f"),
        _num(r.mfu and 100 * r.mfu, ".1f", "%"),
        _num(r.peak_memory_bytes and r.peak_memory_bytes / 2**30, ".2f", " GiB"),
        _num(r.ratio, ".2f"),
        note,
    )


def _num(value, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"
