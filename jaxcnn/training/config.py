"""The run configuration shared by ``jaxcnn train`` and ``jaxcnn.fit``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .optim import OPTIMIZERS, SCHEDULES
from .parallel import MODES

DTYPES = ("float32", "bfloat16")

# Fields that may differ between a run and its --resume: they do not change what is computed.
RESUMABLE = frozenset(
    {
        "resume",
        "checkpoint_every",
        "keep_checkpoints",
        "progress",
        "distributed",
        "coordinator_address",
        "num_processes",
        "process_id",
    }
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. The defaults are ``jaxcnn train``'s main job:
    resnet20 on the embedded fashion_mnist_small at 28x28, 3 epochs, under 10 minutes on two
    CPU cores. Augmentation is off by default because 3 epochs underfit rather than overfit:
    with flips the same run reached 81.2% after epoch 1 instead of 85.2%.

    Attributes:
      model, model_overrides: a registered model name and extra model attributes.
      data: a name from ``jaxcnn.data.list_datasets()``; ``data_root`` is searched first.
      epochs, batch_size: the global batch size (all devices and processes together).
      max_steps: stop after this many steps (the schedule then spans them); None = all epochs.
      lr, optimizer, schedule, warmup_epochs, momentum, nesterov, weight_decay, label_smoothing:
        see ``jaxcnn.training.optimizer`` and ``schedule``.
      pad, flip: random-crop padding (pixels) and horizontal flips; ``image_size``: inputs are
        centre-padded to it (None: the smallest size every stride-2 reduction of the model
        halves exactly, see ``fit.halving_size``).
      dtype: compute dtype; parameters and optimizer state stay float32.
      parallel: auto | none | sharded | pmap.
      checkpoint_every: also checkpoint every N steps (0: only at epoch ends); keep the last
        ``keep_checkpoints``.
      out: the output folder; resume: continue from its latest checkpoint.
      distributed: call ``jax.distributed.initialize`` (address, count and id from the fields
        below or the environment).
    """

    model: str = "resnet20"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    data: str = "fashion_mnist_small"
    data_root: str | None = None
    epochs: int = 3
    batch_size: int = 32
    max_steps: int | None = None
    lr: float = 0.1
    optimizer: str = "sgd"
    schedule: str = "cosine"
    warmup_epochs: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    pad: int = 0
    flip: bool = False
    image_size: int | None = None
    dtype: str = "float32"
    parallel: str = "auto"
    seed: int = 0
    eval_batch_size: int = 500
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    out: str = "runs/latest"
    resume: bool = False
    progress: bool = True
    distributed: bool = False
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    def __post_init__(self):
        choices = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "dtype": DTYPES, "parallel": MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "eval_batch_size", "keep_checkpoints"):
            _check(name, getattr(self, name), lambda v: v >= 1, "a positive int")
        for name in ("seed", "pad", "checkpoint_every"):
            _check(name, getattr(self, name), lambda v: v >= 0, "an int >= 0")
        if self.max_steps is not None:
            _check("max_steps", self.max_steps, lambda v: v >= 1, "a positive int")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}")

    def to_json(self) -> dict:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> TrainConfig:
        """The inverse of ``to_json``; unknown fields raise ``ValueError``."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**fields)

    def check_resumable_from(self, saved: TrainConfig) -> None:
        """Raise ``ValueError`` naming the fields that differ from the run being resumed."""
        differ = [
            f"{name} ({getattr(saved, name)!r} -> {getattr(self, name)!r})"
            for name in self.to_json()
            if name not in RESUMABLE and getattr(saved, name) != getattr(self, name)
        ]
        if differ:
            raise ValueError(
                "--resume continues the run in the output folder, whose config differs in: "
                f"{', '.join(differ)}; use the same settings or another --out"
            )


def read_config(out: str | Path) -> TrainConfig:
    """The ``TrainConfig`` saved in ``out/config.json``."""
    path = Path(out) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out} is not a jaxcnn training folder")
    return TrainConfig.from_json(json.loads(path.read_text())["config"])


def _check(name: str, value: Any, ok, expected: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
