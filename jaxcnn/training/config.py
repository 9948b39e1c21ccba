"""The run configuration shared by ``jaxcnn train`` and ``jaxcnn.fit``: ``TrainConfig``'s fields,
the choices and rules each field is checked against, and which fields a resume may change.
Imports no jax, so that ``jaxcnn --help`` stays fast."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from pathlib import Path
from typing import Any

from jaxcnn.data.sources import DECODE_MODES

DTYPES = ("float32", "bfloat16")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "constant")
MODES = ("auto", "none", "sharded", "pmap")
STEP_MILESTONES = (0.5, 0.75)  # fractions of training at which "step" divides the rate by 10

PATHS = frozenset({"data_root", "init_from"})  # compared as the folders they name


# Fields that say how this process is started rather than what the run is: a resume does not
# take them from the saved config (``out`` is where the saved config was read from, so it names
# the same folder by definition).
INVOCATION = frozenset(
    {"out", "resume", "accept_data_change", "distributed", "coordinator_address", "num_processes", "process_id"}
)


# Fields that may differ between a run and its --resume: they do not change what is trained
# (the evaluation batch size changes only how the test metrics are summed). ``parallel`` is
# compared as the mode it resolves to (``auto`` is ``none`` on one device).
RESUMABLE = INVOCATION | {"checkpoint_every", "keep_checkpoints", "progress", "eval_batch_size", "parallel", "workers"}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. The defaults are ``jaxcnn train``'s main job:
    resnet20 on the embedded fashion_mnist_small at 28x28, 2 epochs of batch 16 at learning rate
    0.05 with label smoothing 0.1: the README quotes its measured accuracy and time, and
    docs/recipes.md every recipe tried (from benchmarks/results/main-job). Augmentation is off by
    default because so short a run underfits rather than overfits (docs/recipes.md).

    Attributes:
      model, model_overrides: a registered model name and extra model attributes.
      data: a name from ``jaxcnn.data.list_datasets()`` (``data_root`` is searched first), or a
        folder of images: ``PATH/train/<class>/...`` + ``PATH/val/<class>/...`` (or ``test/``), or
        ``PATH/<class>/...`` of which ``val_fraction`` is held out (``jaxcnn.data.split_folder``).
      decode: how a folder is fed: ``once`` (decoded once to ``image_size``, cached
        memory-mapped), ``stream`` (decoded every epoch) or ``auto`` (``jaxcnn.data.resolve_decode``);
        ``workers`` decoding threads (default: the CPU count); ``skip_bad`` skips
        files that fail to decode.
      epochs, batch_size: the global batch size (all devices and processes together).
      max_steps: stop after this many steps (the schedule then spans them); None = all epochs.
      lr, optimizer, schedule, warmup_epochs, momentum, nesterov, weight_decay, label_smoothing:
        see ``jaxcnn.training.optimizer`` and ``schedule``; ``step_milestones``: the fractions
        of training after warm-up at which the ``step`` schedule multiplies the rate by 0.1.
      pad, flip: random-crop padding (pixels) and horizontal flips; ``image_size``: inputs are
        centre-padded to it (None: the smallest size every stride-2 reduction of the model
        halves exactly, see ``setup.halving_size``); a folder's images are brought to it (None:
        the model's natural input size, ``jaxcnn.models.model_info(model).input_size``).
      dtype: compute dtype; parameters and optimizer state stay float32.
      init_from: start from these weights instead of a random initialisation: a run folder (its
        newest good checkpoint) or a torchvision weight file of ``model`` (see
        ``jaxcnn.load_source`` and ``jaxcnn.convert.merge_weights``); a resume takes its
        checkpoint instead.
      freeze: "none", "backbone" (train only the head: a linear probe) or "N" (the first N
        stages, see ``jaxcnn.models.Classifier``): frozen parameters are not updated (nor
        decayed) and their batch norms use running statistics.
      parallel: auto | none | sharded | pmap.
      checkpoint_every: also checkpoint every N steps (0: only at epoch ends); keep the last
        ``keep_checkpoints``.
      out: the output folder; resume: continue from its latest checkpoint; accept_data_change:
        let a resume continue although the image folder's files changed since the run started
        (the change is recorded in config.json; without it such a resume is refused).
      distributed: call ``jax.distributed.initialize`` (address, count and id from the fields
        below or the environment).
    """

    model: str = "resnet20"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    data: str = "fashion_mnist_small"
    data_root: str | None = None
    val_fraction: float = 0.1
    decode: str = "auto"
    workers: int | None = None
    skip_bad: bool = False
    epochs: int = 2
    batch_size: int = 16
    max_steps: int | None = None
    lr: float = 0.05
    optimizer: str = "sgd"
    schedule: str = "cosine"
    step_milestones: tuple[float, ...] = STEP_MILESTONES
    warmup_epochs: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    pad: int = 0
    flip: bool = False
    image_size: int | None = None
    dtype: str = "float32"
    init_from: str | None = None
    freeze: str = "none"
    parallel: str = "auto"
    seed: int = 0
    eval_batch_size: int = 500
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    out: str = "runs/latest"
    resume: bool = False
    accept_data_change: bool = False
    progress: bool = True
    distributed: bool = False
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    def __post_init__(self):
        if isinstance(self.step_milestones, list):  # as JSON stores it
            object.__setattr__(self, "step_milestones", tuple(self.step_milestones))
        validate(self)

    def to_json(self) -> dict:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> TrainConfig:
        """The inverse of ``to_json``; unknown fields raise ``ValueError``, bad values ``ConfigError``."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**fields)

    def check_resumable_from(self, saved: TrainConfig, saved_mode: str | None = None) -> None:
        """Raise ``ValueError`` naming the fields that differ from the run being resumed (see
        ``differences``)."""
        differ = self.differences(saved, saved_mode)
        if differ:
            raise ValueError(
                "--resume continues the run in the output folder, whose config differs in: "
                f"{', '.join(differ)}; use the same settings or another --out"
            )

    def differences(self, saved: TrainConfig, saved_mode: str | None = None) -> list[str]:
        """``"name (saved -> ours)"`` for each field that makes this a different run than ``saved``.

        Values are compared as JSON stores them (a tuple equals the list it is saved as), and
        paths as the folders they name (``runs/a`` equals ``./runs/a/`` and its absolute form).
        ``out`` is not compared: the saved config is the one in the folder being resumed, so a
        run folder resumes after being moved or copied. ``saved_mode`` is the parallel mode the
        saved run resolved to (default: what ``saved.parallel`` resolves to here); ours must
        resolve to the same one."""
        differ = [
            f"{name} ({getattr(saved, name)!r} -> {getattr(self, name)!r})"
            for name in self.to_json()
            if name not in RESUMABLE
            and _comparable(name, getattr(saved, name)) != _comparable(name, getattr(self, name))
        ]
        mode, saved_mode = resolve_mode(self.parallel), saved_mode or resolve_mode(saved.parallel)
        if mode != saved_mode:
            differ.append(f"parallel (ran as {saved_mode!r} -> {self.parallel!r}, here {mode!r})")
        return differ


def resolve_mode(mode: str) -> str:
    """'auto' -> 'sharded' when there is more than one device (of all processes), else 'none'."""
    if mode not in MODES:
        raise ValueError(f"parallel must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        import jax  # the device count; this module alone loads no jax

        return "sharded" if jax.device_count() > 1 else "none"
    return mode


class ConfigError(ValueError):
    """A ``TrainConfig`` field has a bad value. ``field`` names it; ``problem`` says what was expected
    and what came (``"expected a finite number > 0, got nan"``)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


_POSITIVE_INTS = (
    "epochs",
    "batch_size",
    "eval_batch_size",
    "keep_checkpoints",
    "max_steps",
    "image_size",
    "num_processes",
    "workers",
)


# field: (test, what is expected). Numbers must be finite; None is allowed only for OPTIONAL fields.
RULES = {
    **dict.fromkeys(_POSITIVE_INTS, (lambda v: _is_int(v) and v >= 1, "a positive integer")),
    **dict.fromkeys(
        ("seed", "pad", "checkpoint_every", "process_id"), (lambda v: _is_int(v) and v >= 0, "an integer >= 0")
    ),
    "lr": (lambda v: _is_real(v) and v > 0, "a finite number > 0"),
    "weight_decay": (lambda v: _is_real(v) and v >= 0, "a finite number >= 0"),
    "momentum": (lambda v: _is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "label_smoothing": (lambda v: _is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "val_fraction": (lambda v: _is_real(v) and 0 < v < 1, "a number in (0, 1)"),
    "step_milestones": (
        lambda v: (
            isinstance(v, tuple) and v and all(_is_real(f) and 0 < f < 1 for f in v) and list(v) == sorted(set(v))
        ),
        "increasing fractions in (0, 1), e.g. [0.5, 0.75]",
    ),
    "warmup_epochs": (lambda v: _is_real(v) and v >= 0, "a finite number >= 0"),
    **dict.fromkeys(
        ("nesterov", "flip", "resume", "accept_data_change", "progress", "distributed", "skip_bad"),
        (lambda v: isinstance(v, bool), "true or false"),
    ),
    **dict.fromkeys(("model", "data", "out"), (lambda v: isinstance(v, str) and v != "", "a non-empty string")),
    **dict.fromkeys(("data_root", "coordinator_address", "init_from"), (lambda v: isinstance(v, str), "a string")),
    "freeze": (
        lambda v: isinstance(v, str) and (v in ("none", "backbone") or (v.isdigit() and int(v) >= 1)),
        "none, backbone or a number of stages >= 1",
    ),
    "model_overrides": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "a dict of attribute names to values",
    ),
}


OPTIONAL = frozenset(
    {"max_steps", "image_size", "num_processes", "process_id", "data_root", "coordinator_address"}
    | {"workers", "init_from"}
)


CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "dtype": DTYPES, "parallel": MODES, "decode": DECODE_MODES}


def validate(config: TrainConfig) -> None:
    """Raise ``ConfigError`` for the first field of ``config`` with a bad type or value."""
    for name, (ok, expected) in RULES.items():
        value = getattr(config, name)
        if not (value is None and name in OPTIONAL) and not ok(value):
            raise ConfigError(name, f"expected {expected}, got {value!r}")
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(name, f"expected one of {', '.join(allowed)}, got {getattr(config, name)!r}")
    if not config.warmup_epochs < config.epochs:
        raise ConfigError(
            "warmup_epochs", f"expected a number below epochs={config.epochs}, got {config.warmup_epochs!r}"
        )


def _comparable(name: str, value: Any) -> Any:
    """``value`` as resumes compare it: paths resolved, everything else as JSON stores it."""
    if name in PATHS and value is not None:
        return Path(value).expanduser().resolve()
    return json.loads(json.dumps(value))
