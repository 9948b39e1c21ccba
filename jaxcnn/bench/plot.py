"""``--plot``: images per second against batch size, one panel per model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .rows import Row


def plot_rows(rows: Sequence[Row], path: str | Path) -> Path:
    """Draw img/s (median, with the min-max range as error bars) against batch size, one panel
    per model and one line per framework, variant and mode; save to ``path`` (PNG, SVG, PDF).

    The figure is a bare ``matplotlib.figure.Figure``: pyplot's figures and backend stay untouched."""
    from matplotlib.figure import Figure

    ok = [r for r in rows if r.status == "ok"]
    if not ok:
        raise ValueError("no measured row to plot (all rows skipped or failed)")
    models = list(dict.fromkeys(r.model for r in ok))
    cols = min(3, len(models))
    rows_of_panels = math.ceil(len(models) / cols)
    fig = Figure(figsize=(5 * cols, 3.6 * rows_of_panels))
    axes = fig.subplots(rows_of_panels, cols, squeeze=False)
    for ax, model in zip(axes.flat, models):
        _panel(ax, [r for r in ok if r.model == model], model)
    for ax in list(axes.flat)[len(models) :]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _panel(ax, rows: Sequence[Row], model: str) -> None:
    lines: dict[str, list[Row]] = {}
    for r in rows:
        lines.setdefault(f"{r.framework} {r.variant} {r.mode} {r.dtype}", []).append(r)
    for label, series in lines.items():
        series = sorted(series, key=lambda r: r.batch)
        x = [r.batch for r in series]
        y = [r.img_s for r in series]
        err = [[r.img_s - r.img_s_min for r in series], [r.img_s_max - r.img_s for r in series]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_title(f"{model} ({rows[0].image_size}x{rows[0].image_size}x{rows[0].in_channels}, {rows[0].device_kind})")
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
