"""The run folder's records: ``config.json`` (the settings, the data's description ``DataInfo``
and the parallelism: ``write_config``, ``read_config``, ``read_data_info``, whose the folder is:
``check_run_folder``), ``metrics.jsonl`` (one row per epoch: ``read_history``, ``write_history``,
rebuilt from the checkpoints on a resume: ``resumed_history``), ``curves.png`` (``plot_curves``)
and the progress shown while a run writes them. ``fit`` writes them and readers read them
back; nothing else touches these files.

A new run starts only in a folder that holds nothing but what it writes itself, and a resume
continues only the run that the folder's ``config.json`` describes: nobody's files are
overwritten, and no run continues another."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import jax
from tqdm import tqdm

from ..config import ConfigError, TrainConfig
from ..parallel import Parallel
from .checkpoints import Checkpoints, first_line
from .lock import LOCK_NAME, atomic_write, writing

# Fields added after runs were first saved, read as their defaults (each default trains as the
# runs before it did) from a config.json that lacks them.
NEWER_FIELDS = {
    name: getattr(TrainConfig(), name)
    for name in (
        "init_from",
        "freeze",
        "accept_data_change",
        *("schedule_unit", "lr_gamma", "lr_step_epochs", "warmup_method", "warmup_start_factor"),
        *("norm_weight_decay", "bias_weight_decay", "rmsprop_decay", "rmsprop_epsilon", "clip_grad_norm"),
        *("loss", "bce_target_threshold", "model_ema", "model_ema_steps", "model_ema_decay", "mean", "std"),
        *("mixup_alpha", "cutmix_alpha", "random_erase", "auto_augment", "ra_magnitude", "ra_reps"),
        *("train_crop_size", "val_resize_size", "pixel_mean"),
        *("warmup_prefix", "min_lr", "mix_pairing", "mix_rounding", "train_interpolation", "val_interpolation"),
    )
}


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What the training data decides about the model and its inputs (saved in config.json).

    ``classes`` names the labels (label k is ``classes[k]``); ``folder`` describes an image
    folder's run (see ``jaxcnn.data.load_splits``: its root, layout, split, decode mode, image size,
    channels and evaluation transform), None for a named dataset or arrays."""

    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_examples: int
    classes: tuple[str, ...] = ()
    folder: dict | None = None


def read_config(out: str | Path) -> TrainConfig:
    """The ``TrainConfig`` saved in ``out/config.json``.

    Raises:
      FileNotFoundError: ``out`` is not a run folder.
      ValueError: the file is not valid JSON, lacks fields, or holds a bad value; the message names
        the file and the field.
    """
    path = Path(out) / "config.json"
    fields = {**NEWER_FIELDS, **read_run_file(out, "config")}
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in fields]
    if missing:
        raise ValueError(f"{path} lacks the fields {', '.join(missing)} in its 'config' section; {_FIX}")
    try:
        return TrainConfig.from_json(fields)
    except ConfigError as err:
        raise ValueError(f"{path}: field '{err.field}' {err.problem}; {_FIX}") from None
    except ValueError as err:
        raise ValueError(f"{path}: {err}; {_FIX}") from None


def read_run_file(out: str | Path, section: str) -> dict[str, Any]:
    """The dict ``section`` of ``out/config.json``; errors name the file and what is wrong with it."""
    path = Path(out) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out} is not a jaxcnn training folder")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); {_FIX}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get(section), dict):
        raise ValueError(f"{path} has no '{section}' section; {_FIX}")
    return payload[section]


_FIX = "restore the file written by the run (or start a new run in another --out)"


CONFIG = "config.json"


# What a new run may find in its folder and still call its own: its lock, the config.json that
# an earlier start of the very same run wrote, and the (step-less) checkpoints folder.
OWN = frozenset({LOCK_NAME, CONFIG, "checkpoints", f".{CONFIG}.tmp"})


LATER_FIELDS = frozenset({"classes", "folder"})  # DataInfo fields that older run folders lack


SHOWN = 5  # names listed in an error before "and N more"


def check_run_folder(config: TrainConfig, *, main_process: bool = True) -> None:
    """Refuse to train ``config`` into a folder that is not its own.

    A resume needs the folder's ``config.json`` and settings that do not change the run (see
    ``TrainConfig.differences``). A new run (checked on process 0, which holds the lock) needs a
    folder that is missing, empty, or holds only what an earlier start of the same run left.

    Raises:
      FileNotFoundError: a resume of a folder without ``config.json``.
      ValueError: a resume with settings that differ from the saved ones.
      FileExistsError: a new run into a folder with other files; names them.
    """
    out = Path(config.out)
    if config.resume:
        config.check_resumable_from(read_config(out), saved_mode(out))
    elif main_process and out.is_dir():
        foreign = [_describe(out, name, config) for name in sorted(entry.name for entry in out.iterdir())]
        foreign = [text for text in foreign if text]
        if foreign:
            shown = ", ".join(foreign[:SHOWN]) + (f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else "")
            raise FileExistsError(
                f"{out} holds files that are not this run's: {shown}; they are left as they are: "
                "move them away or choose another --out (or pass --resume to continue the run of its config.json)"
            )


def write_config(config: TrainConfig, info: DataInfo, parallel: Parallel) -> None:
    """Write ``config.json`` into ``config.out``: the settings, the data's description and the
    parallelism of the run (atomically: a failure leaves no partial file)."""
    payload = {
        "config": config.to_json(),
        "data": dataclasses.asdict(info),
        "parallel": {"mode": parallel.mode, "devices": parallel.devices, "processes": jax.process_count()},
    }
    then = "rerun with --resume" if config.resume else "rerun"  # no config.json: nothing to resume yet
    atomic_write({Path(config.out) / CONFIG: (json.dumps(payload, indent=2) + "\n").encode()}, then=then)


def read_data_info(out: str | Path) -> DataInfo:
    """The ``DataInfo`` saved in ``out/config.json`` (runs saved before ``classes`` and ``folder``
    were recorded read as without them)."""
    saved = read_run_file(out, "data")
    fields = {f.name for f in dataclasses.fields(DataInfo)}
    if not set(saved) <= fields or not fields - LATER_FIELDS <= set(saved):
        wrong = ", ".join(sorted((fields - LATER_FIELDS - set(saved)) | (set(saved) - fields)))
        raise ValueError(f"{Path(out) / CONFIG}: its 'data' section lacks or adds the fields {wrong}")
    for name in ("num_classes", "in_channels", "image_size", "train_examples"):
        if not isinstance(saved[name], int) or isinstance(saved[name], bool) or saved[name] < 1:
            raise ValueError(
                f"{Path(out) / CONFIG}: field 'data.{name}' expected a positive integer, got {saved[name]!r}"
            )
    return DataInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def saved_mode(out: str | Path) -> str | None:
    """The parallel mode the run in ``out`` ran with (from its config.json), if recorded."""
    try:
        mode = read_run_file(out, "parallel").get("mode")
    except ValueError:
        return None
    return mode if isinstance(mode, str) else None


def _describe(out: Path, name: str, config: TrainConfig) -> str | None:
    """None when ``out/name`` may belong to this new run, else how it is named in the refusal."""
    if name not in OWN:
        return name
    if name != CONFIG:
        return None
    try:
        differ = config.differences(read_config(out), saved_mode(out))
    except ValueError:
        return f"{CONFIG} (not a jaxcnn run's)"
    return f"{CONFIG} (another run's: {', '.join(differ)})" if differ else None


HISTORY = "metrics.jsonl"


CURVES = "curves.png"


LINE_EVERY = 100  # steps between progress lines when stderr is not a terminal


def progress(total: int, initial: int, desc: str, enabled: bool, file: TextIO | None = None):
    """A progress display for an epoch of ``total`` steps starting at ``initial``: a tqdm bar on
    a terminal; elsewhere (CI, nohup, a notebook's captured stream) a ``LineProgress``
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
