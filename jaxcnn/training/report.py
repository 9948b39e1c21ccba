"""What a run leaves in its folder besides checkpoints: metrics.jsonl and curves.png."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .guard import writing

HISTORY = "metrics.jsonl"
CURVES = "curves.png"


def read_history(out: str | Path, *, up_to_step: int | None = None) -> list[dict]:
    """The per-epoch rows of ``out/metrics.jsonl`` (those with ``step <= up_to_step``)."""
    path = Path(out) / HISTORY
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if up_to_step is None or r["step"] <= up_to_step]


def write_history(out: str | Path, rows: list[dict]) -> None:
    """Rewrite ``metrics.jsonl`` with ``rows`` (atomically: a temporary file, then a rename)."""
    atomic_write(Path(out) / HISTORY, "".join(json.dumps(r) + "\n" for r in rows).encode())


def plot_curves(out: str | Path, rows: list[dict]) -> Path:
    """Draw train/test loss and accuracy against epoch into ``out/curves.png``."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
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
            plt.close(fig)
            tmp.unlink(missing_ok=True)
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a crash or a
    full disk leaves the old file whole. Failures are one-line errors naming ``path`` (``guard.writing``)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path):
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
