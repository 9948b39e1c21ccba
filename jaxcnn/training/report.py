"""What a run reports: the progress of each epoch on stderr, and metrics.jsonl and curves.png
in its folder (written at each epoch's end, read back when a run resumes)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from .checkpoint import Checkpoints, first_line
from .guard import atomic_write, writing

HISTORY = "metrics.jsonl"
CURVES = "curves.png"
LINE_EVERY = 100  # steps between progress lines when stderr is not a terminal


def progress(total: int, initial: int, desc: str, enabled: bool, file: TextIO | None = None):
    """A progress display for an epoch of ``total`` steps starting at ``initial``: a tqdm bar on
    a terminal; elsewhere (CI, nohup, a notebook's captured stream) a :class:`LineProgress`
    that prints plain lines instead of carriage-return frames."""
    file = sys.stderr if file is None else file
    if enabled and not file.isatty():
        return LineProgress(total, initial, desc, file)
    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=not enabled, file=file)


class LineProgress:
    """The part of tqdm's interface ``fit`` uses (``n``, ``update``, ``set_postfix``, ``close``),
    printing one line when the step passes a multiple of ``LINE_EVERY`` and at the end of the epoch:
    ``epoch 1/3: step 100/625 loss=0.912 acc=67.3% img_s=140``."""

    def __init__(self, total: int, initial: int, desc: str, file: TextIO):
        self.total, self.n, self.desc, self.file = total, initial, desc, file
        self.printed = initial

    def update(self, steps: int) -> None:
        self.n += steps

    def set_postfix(self, **values: str) -> None:
        if self.n // LINE_EVERY > self.printed // LINE_EVERY or (self.n >= self.total > self.printed):
            shown = " ".join(f"{k}={v}" for k, v in values.items())
            print(f"{self.desc}: step {self.n}/{self.total} {shown}", file=self.file, flush=True)
            self.printed = self.n

    def close(self) -> None:
        pass


def read_history(out: str | Path, *, up_to_step: int | None = None) -> list[dict]:
    """The per-epoch rows of ``out/metrics.jsonl`` (those with ``step <= up_to_step``). Lines that
    are not a whole row (a write cut short, a damaged file) are left out with a note on stderr that
    names the file and the lines."""
    path = Path(out) / HISTORY
    if not path.is_file():
        return []
    rows, damaged = [], []
    for number, line in enumerate(path.read_bytes().decode(errors="replace").splitlines(), 1):
        row = _row(line)
        if row is not None:
            rows.append(row)
        elif line.strip():
            damaged.append(str(number))
    if damaged:
        print(
            f"note: {path} has damaged lines ({', '.join(damaged)}), left out; "
            "the history continues from the rows that are whole",
            file=sys.stderr,
        )
    return [r for r in rows if up_to_step is None or r["step"] <= up_to_step]


def _row(line: str) -> dict | None:
    """The row a line of metrics.jsonl holds, or None when it is not a whole row."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    whole = isinstance(row, dict) and ROW_FIELDS <= row.keys() and isinstance(row["step"], int)
    return row if whole else None


ROW_FIELDS = frozenset({"epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy"})


def resumed_history(out: str | Path, checkpoints: Checkpoints, step: int) -> list[dict]:
    """The rows of ``out/metrics.jsonl`` up to ``step``, with the rows saved in ``checkpoints`` put
    back where the file lost them (a write cut short, a damaged line)."""
    rows = {row["step"]: row for row in read_history(out, up_to_step=step)}
    for saved in checkpoints.steps():
        if saved <= step and saved not in rows and (row := checkpoints.saved_row(saved)):
            rows[saved] = row
    return [rows[s] for s in sorted(rows)]


def write_history(out: str | Path, rows: list[dict]) -> None:
    """Rewrite ``metrics.jsonl`` with ``rows`` (atomically: a temporary file, then a rename)."""
    atomic_write({Path(out) / HISTORY: "".join(json.dumps(r) + "\n" for r in rows).encode()})


def report_epoch(out: str | Path, rows: list[dict], *, show: bool) -> None:
    """What an epoch leaves after its checkpoint: ``metrics.jsonl`` rewritten with ``rows``, the
    last row as a line on stderr (when ``show``), then ``curves.png``."""
    write_history(out, rows)
    if show:
        row = rows[-1]
        tqdm.write(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} acc {100 * row['train_accuracy']:.2f}% | "
            f"test loss {row['test_loss']:.4f} acc {100 * row['test_accuracy']:.2f}% | "
            f"{row['images_per_second']:.0f} img/s",
            file=sys.stderr,
        )
    _plot_or_warn(out, rows)


def _plot_or_warn(out: str | Path, rows: list[dict]) -> None:
    """Draw curves.png; a picture that cannot be drawn is a warning, never the end of training."""
    try:
        plot_curves(out, rows)
    except Exception as err:
        print(f"warning: {Path(out) / CURVES} not drawn ({first_line(err)}); training goes on", file=sys.stderr)


def plot_curves(out: str | Path, rows: list[dict]) -> Path:
    """Draw train/test loss and accuracy against epoch into ``out/curves.png``.

    The figure is a bare ``matplotlib.figure.Figure``: neither pyplot's figures nor the process's
    backend are touched, so plots inline in a notebook keep showing after ``fit``."""
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(9, 3.5), constrained_layout=True)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split in ("train", "test"):
        loss_ax.plot(epochs, [r[f"{split}_loss"] for r in rows], "o-", label=split)
        acc_ax.plot(epochs, [100 * r[f"{split}_accuracy"] for r in rows], "o-", label=split)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    path = Path(out) / CURVES
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path):
        try:
            fig.savefig(tmp, format="png", dpi=100)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path
