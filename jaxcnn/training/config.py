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

from jaxcnn.data.autoaugment import INTERPOLATIONS, POLICIES, RA_BINS, TIMM_RAND_HELP, TRAIN_INTERPOLATIONS, is_policy
from jaxcnn.data.sources import DECODE_MODES
from jaxcnn.models.registry import is_weights_name

DTYPES = ("float32", "bfloat16")
OPTIMIZERS = ("sgd", "adamw", "rmsprop_tf", "lamb", "lamb_timm")
SCHEDULES = ("cosine", "step", "exponential", "constant")
WARMUP_METHODS = ("linear", "constant")
SCHEDULE_UNITS = ("step", "epoch")
LOSSES = ("cross_entropy", "bce")  # make_train_step's loss functions
MIX_PAIRINGS = ("roll", "flip")  # whom each image is mixed with: the one before it, or its mirror in the batch
MODES = ("auto", "none", "sharded", "pmap")
STEP_MILESTONES = (0.5, 0.75)  # fractions of training at which "step" divides the rate by 10


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


# What a field accepts: (test, the phrase its errors use). Numbers must be finite.
POSITIVE = (lambda v: _is_int(v) and v >= 1, "a positive integer")
NON_NEGATIVE = (lambda v: _is_int(v) and v >= 0, "an integer >= 0")
RATE = (lambda v: _is_real(v) and v >= 0, "a finite number >= 0")
POSITIVE_REAL = (lambda v: _is_real(v) and v > 0, "a finite number > 0")
FRACTION = (lambda v: _is_real(v) and 0 <= v < 1, "a number in [0, 1)")
FLAG = (lambda v: isinstance(v, bool), "true or false")
NAME = (lambda v: isinstance(v, str) and v != "", "a non-empty string")
TEXT = (lambda v: isinstance(v, str), "a string")
FREEZE = (
    lambda v: isinstance(v, str) and (v in ("none", "backbone") or (v.isdigit() and int(v) >= 1)),
    "none, backbone or a number of stages >= 1",
)


def _one_of(choices: tuple[str, ...]) -> tuple:
    return (lambda v: v in choices, f"one of {', '.join(choices)}")


def setting(
    default: Any,
    accepts: tuple,
    group: str,
    help: str = "",
    *,
    optional: bool = False,
    resumable: bool = False,
    invocation: bool = False,
    path: bool = False,
    choices: tuple[str, ...] | None = None,
    **flag: Any,
) -> Any:
    """A ``TrainConfig`` field declared once: its default, what it ``accepts`` (``validate``), and
    its ``jaxcnn train`` flag (in ``group``, with ``help``; ``flag`` holds the flag's own
    spelling where it is not ``--field-name``: ``name``, ``parse`` (``positive``, ``non_negative``,
    ``int``, ``float`` or one of the CLI's parsers by name), ``action``, ``metavar``, ``default_help``).

    ``optional``: None is accepted too. ``invocation``: says how this process is started rather
    than what the run is, so a resume does not take it from the saved config (``out`` is where the
    saved config was read from). ``resumable``: may differ between a run and its ``--resume``
    (every invocation field is). ``path``: compared by resumes as the folder it names."""
    accepts = _one_of(choices) if choices else accepts
    metadata = {
        "accepts": accepts,
        "group": group,
        "help": help,
        "optional": optional,
        "resumable": resumable or invocation,
        "invocation": invocation,
        "path": path,
        "choices": choices,
        "flag": flag,
    }
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


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
        see ``jaxcnn.training.optimizer`` and ``schedule``; ``norm_weight_decay`` and
        ``bias_weight_decay``: the rates of those groups (None: no group of their own, as
        torchvision's flags left out; the defaults decay the kernels alone); ``rmsprop_decay``,
        ``rmsprop_epsilon`` (``rmsprop_tf``), ``clip_grad_norm``: see ``optimizer``;
        ``lr_gamma``, ``lr_step_epochs``: the ``exponential`` schedule multiplies the rate by
        ``lr_gamma`` every ``lr_step_epochs`` epochs; ``warmup_method``, ``warmup_start_factor``:
        the warm-up's shape and start; ``warmup_prefix``: whether the schedule begins after the
        warm-up or counts from step 0; ``min_lr``: the cosine's end; ``schedule_unit``: "epoch"
        changes the rate only when an epoch starts (torchvision's schedulers, stepped once per
        epoch); ``loss``, ``bce_target_threshold``: see ``make_train_step``; ``step_milestones``:
        the fractions of training after warm-up at which the ``step`` schedule multiplies the
        rate by 0.1;
        ``model_ema``, ``model_ema_steps``, ``model_ema_decay``: torchvision's moving average of
        the weights (``parts.ema_schedule``).
      mean, std: normalise by these per-channel values (0..1 units) instead of the training
        images' measured statistics (None: measured, see ``parts.describe_data``); ``pixel_mean``:
        subtract the training images' mean image instead (``jaxcnn.data.augment.pixel_mean``).
      pad, flip: random-crop padding (pixels) and horizontal flips; ``random_erase``: the
        probability of erasing a box of each training image (``jaxcnn.data.augment``);
        ``mixup_alpha``, ``cutmix_alpha``: MixUp and CutMix of each training batch
        (``jaxcnn.data.mix``; 0: off), ``mix_pairing`` whom each image is mixed with,
        ``mix_rounding`` whether the blend is rounded to whole pixel levels;
        ``auto_augment``, ``ra_magnitude``: torchvision's or timm's automatic augmentation
        policies (``jaxcnn.data.autoaugment``); ``ra_reps``: repeated augmentation
        (``jaxcnn.data.pipeline.repeated_order``); ``train_crop_size``, ``val_resize_size``,
        ``train_interpolation``, ``val_interpolation``: a streamed folder's training crop,
        evaluation resize and their resampling; ``image_size``: inputs are centre-padded to it
        (None: the smallest size every stride-2 reduction of the model halves exactly, see
        ``parts.halving_size``); a folder's images are brought to it (None: the model's natural
        input size, ``jaxcnn.models.model_info(model).input_size``).
      dtype: compute dtype; parameters and optimizer state stay float32.
      init_from: start from these weights instead of a random initialisation: published weights
        of ``model`` (``'resnet50:IMAGENET1K_V2'``; their model attributes join ``model_overrides``),
        a run folder (its newest good checkpoint) or a torchvision weight file of ``model`` (see
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

    model: str = setting("resnet20", NAME, "model", "a name from `jaxcnn models`", parse="model")
    model_overrides: dict = setting(
        {},
        (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a dict of attribute names to values"),
        "model",
        "a model attribute, repeatable: scan=false, remat=true, stage_sizes=[1,1,1] (values read as JSON, "
        "else as text)",
        name="--model-arg",
        action="append",
        parse="model_arg",
        metavar="KEY=VALUE",
        default_help=False,
    )
    data: str = setting(
        "fashion_mnist_small",
        NAME,
        "data",
        "dataset name, or a folder of images: PATH/<class>/... or PATH/train/<class>/... + PATH/val/<class>/...",
        parse="data",
    )
    data_root: str | None = setting(
        None,
        TEXT,
        "data",
        "folder searched first for dataset files; holds the decoded-once folder caches",
        optional=True,
        path=True,
    )
    val_fraction: float = setting(
        0.1,
        (lambda v: _is_real(v) and 0 < v < 1, "a number in (0, 1)"),
        "data",
        "share of a PATH/<class>/ folder held out for validation",
        parse="float",
    )
    decode: str = setting(
        "auto",
        None,
        "data",
        "a folder's images: decoded once and cached, streamed every epoch, or auto (once when they fit in a "
        "quarter of the available memory)",
        choices=DECODE_MODES,
    )
    workers: int | None = setting(
        None,
        POSITIVE,
        "data",
        "decoding threads (default: the CPU count)",
        optional=True,
        resumable=True,
        parse="positive",
    )
    skip_bad: bool = setting(False, FLAG, "data", "skip images that fail to decode")
    epochs: int = setting(2, POSITIVE, "optimisation", parse="positive")
    batch_size: int = setting(16, POSITIVE, "optimisation", "global batch size", parse="positive")
    max_steps: int | None = setting(
        None, POSITIVE, "optimisation", "stop after N steps (default: all epochs)", optional=True, parse="positive"
    )
    lr: float = setting(
        0.05,
        POSITIVE_REAL,
        "optimisation",
        "peak learning rate",
        parse="float",
    )
    optimizer: str = setting("sgd", None, "optimisation", choices=OPTIMIZERS)
    schedule: str = setting("cosine", None, "optimisation", choices=SCHEDULES)
    step_milestones: tuple[float, ...] = setting(
        STEP_MILESTONES,
        (
            lambda v: (
                isinstance(v, tuple) and v and all(_is_real(f) and 0 < f < 1 for f in v) and list(v) == sorted(set(v))
            ),
            "increasing fractions in (0, 1), e.g. [0.5, 0.75]",
        ),
        "optimisation",
        "fractions of training at which the step schedule multiplies the rate by 0.1",
        parse="fractions",
        metavar="F,F,...",
    )
    schedule_unit: str = setting(
        "step",
        None,
        "optimisation",
        "the learning rate changes every step, or once per epoch as torchvision's scripts change it",
        choices=SCHEDULE_UNITS,
    )
    lr_gamma: float = setting(
        0.94,
        (lambda v: _is_real(v) and 0 < v <= 1, "a number in (0, 1]"),
        "optimisation",
        "the exponential schedule's factor",
        parse="float",
    )
    lr_step_epochs: float = setting(
        2.0,
        POSITIVE_REAL,
        "optimisation",
        "epochs between the exponential schedule's steps",
        parse="float",
    )
    warmup_epochs: float = setting(
        0.1, (lambda v: _is_real(v) and v >= 0, "a finite number >= 0"), "optimisation", parse="float"
    )
    warmup_prefix: bool = setting(
        True,
        FLAG,
        "optimisation",
        "the schedule starts after the warm-up (torchvision's SequentialLR); false: it counts from the first step "
        "and the warm-up replaces its start (timm's default)",
    )
    min_lr: float = setting(
        0.0, RATE, "optimisation", "the cosine schedule's last rate (timm's --min-lr)", parse="float"
    )
    warmup_method: str = setting(
        "linear", None, "optimisation", "warm up linearly to --lr, or hold the start rate", choices=WARMUP_METHODS
    )
    warmup_start_factor: float | None = setting(
        None,
        (lambda v: _is_real(v) and 0 < v <= 1, "a number in (0, 1]"),
        "optimisation",
        "the warm-up starts at this fraction of --lr (default: 1 / warm-up steps)",
        optional=True,
        parse="float",
    )
    momentum: float = setting(0.9, FRACTION, "optimisation", "SGD momentum", parse="float")
    nesterov: bool = setting(True, FLAG, "optimisation", "Nesterov momentum")
    weight_decay: float = setting(
        5e-4, RATE, "optimisation", "weight decay of the kernels, and of the groups below given as same", parse="float"
    )
    norm_weight_decay: float | None = setting(
        0.0,
        RATE,
        "optimisation",
        "weight decay of normalisation layers' scales and offsets; same: --weight-decay (torchvision's default)",
        optional=True,
        parse="rate_or_same",
        metavar="RATE|same",
    )
    bias_weight_decay: float | None = setting(
        0.0,
        RATE,
        "optimisation",
        "weight decay of every bias (normalisation layers' offsets too); same: the rate of the layer's other "
        "parameters (torchvision's default)",
        optional=True,
        parse="rate_or_same",
        metavar="RATE|same",
    )
    rmsprop_decay: float = setting(
        0.9,
        FRACTION,
        "optimisation",
        "rmsprop_tf: decay of the mean square",
        parse="float",
    )
    rmsprop_epsilon: float = setting(
        1.0,
        POSITIVE_REAL,
        "optimisation",
        "rmsprop_tf: epsilon, inside the square root",
        parse="float",
    )
    clip_grad_norm: float | None = setting(
        None,
        POSITIVE_REAL,
        "optimisation",
        "scale the gradients down to this global norm where it is larger",
        optional=True,
        parse="float",
    )
    loss: str = setting(
        "cross_entropy",
        None,
        "optimisation",
        "softmax cross-entropy, or binary cross-entropy of each class",
        choices=LOSSES,
    )
    bce_target_threshold: float | None = setting(
        None,
        FRACTION,
        "optimisation",
        "with --loss bce: targets above this become 1, the others 0 (after label smoothing)",
        optional=True,
        parse="float",
    )
    label_smoothing: float = setting(0.1, FRACTION, "optimisation", parse="float")
    model_ema: bool = setting(
        False,
        FLAG,
        "optimisation",
        "keep an exponential moving average of the parameters and batch statistics, evaluated and saved beside "
        "them (torchvision's --model-ema)",
    )
    model_ema_steps: int = setting(
        32, POSITIVE, "optimisation", "update the average every this many steps of an epoch", parse="positive"
    )
    model_ema_decay: float = setting(
        0.99998,
        FRACTION,
        "optimisation",
        "the average's decay per image seen, scaled as torchvision's train.py scales it",
        parse="float",
    )
    mean: tuple[float, ...] | None = setting(
        None,
        (lambda v: isinstance(v, tuple) and v and all(_is_real(m) and 0 <= m <= 1 for m in v), "numbers in [0, 1]"),
        "data",
        "normalise by this per-channel mean (0..1 units; ImageNet's: 0.485,0.456,0.406) instead of the "
        "training images' own",
        optional=True,
        parse="fractions",
        metavar="M,M,...",
    )
    std: tuple[float, ...] | None = setting(
        None,
        (lambda v: isinstance(v, tuple) and v and all(_is_real(s) and s > 0 for s in v), "numbers > 0"),
        "data",
        "with --mean: the per-channel standard deviation (ImageNet's: 0.229,0.224,0.225)",
        optional=True,
        parse="fractions",
        metavar="S,S,...",
    )
    pixel_mean: bool = setting(
        False,
        FLAG,
        "data",
        "subtract the training images' mean image and divide by nothing (He et al.'s per-pixel mean) instead "
        "of normalising each channel",
    )
    pad: int = setting(0, NON_NEGATIVE, "data", "random-crop padding in pixels", parse="non_negative")
    flip: bool = setting(False, FLAG, "data", "random horizontal flips")
    mixup_alpha: float = setting(
        0.0,
        RATE,
        "data",
        "MixUp each training batch, mixing ratios from Beta(alpha, alpha) (torchvision's MixUp; 0: off)",
        parse="float",
    )
    cutmix_alpha: float = setting(
        0.0,
        RATE,
        "data",
        "CutMix each training batch (torchvision's CutMix; 0: off); with --mixup-alpha too, one of the two per batch",
        parse="float",
    )
    mix_pairing: str = setting(
        "roll",
        None,
        "data",
        "MixUp/CutMix each image with the one before it (torchvision's roll) or with its mirror in the batch "
        "(timm's flip)",
        choices=MIX_PAIRINGS,
    )
    mix_rounding: bool = setting(
        False,
        FLAG,
        "data",
        "round MixUp's blended pixels to whole 0..255 levels before normalising (timm's prefetching collate)",
    )
    random_erase: float = setting(
        0.0,
        (lambda v: _is_real(v) and 0 <= v <= 1, "a number in [0, 1]"),
        "data",
        "probability of erasing a random box of each training image (torchvision's RandomErasing)",
        parse="float",
    )
    auto_augment: str | None = setting(
        None,
        (is_policy, f"one of {', '.join(POLICIES)} or {TIMM_RAND_HELP}"),
        "data",
        "augment each training image on the host with torchvision's ta_wide (TrivialAugmentWide), ra "
        "(RandAugment) or AutoAugment's imagenet, cifar10 or svhn policy, or timm's RandAugment "
        "(rand-m7-mstd0.5-inc1), after the crop and flip",
        optional=True,
        metavar="POLICY",
    )
    ra_magnitude: int = setting(
        9,
        (lambda v: _is_int(v) and 0 <= v < RA_BINS, f"an integer in 0..{RA_BINS - 1}"),
        "data",
        "with --auto-augment ra: the magnitude bin of its operations",
        parse="int",
    )
    ra_reps: int = setting(
        1,
        POSITIVE,
        "data",
        "repeated augmentation: each example this many times per epoch, differently augmented, the epoch as "
        "long (torchvision's RASampler; 1: off)",
        parse="positive",
    )
    train_crop_size: int | None = setting(
        None,
        POSITIVE,
        "data",
        "a streamed folder's training crop side (RandomResizedCrop; default: --image-size)",
        optional=True,
        parse="positive",
    )
    train_interpolation: str = setting(
        "bilinear",
        None,
        "data",
        "a streamed folder's training crops and augmentations resample so; random: one of the two each time "
        "(timm's default)",
        choices=TRAIN_INTERPOLATIONS,
    )
    val_interpolation: str = setting(
        "bilinear", None, "data", "a streamed folder's evaluation resize resamples so", choices=INTERPOLATIONS
    )
    val_resize_size: int | None = setting(
        None,
        POSITIVE,
        "data",
        "a streamed folder's evaluation resize before the --image-size centre crop (default: image size / 0.875)",
        optional=True,
        parse="positive",
    )
    image_size: int | None = setting(
        None,
        POSITIVE,
        "data",
        "centre-pad inputs to this size (default: the smallest size the model's stride-2 layers halve exactly); "
        "a folder's images are resized and centre-cropped to it (default: the model's input size)",
        optional=True,
        parse="positive",
    )
    dtype: str = setting("float32", None, "model", "compute dtype", choices=DTYPES)
    init_from: str | None = setting(
        None,
        TEXT,
        "model",
        "start from these weights: published weights of --model (resnet50:DEFAULT; `jaxcnn weights`), a run "
        "folder (its newest good checkpoint) or a torchvision weight file (.pth, .safetensors, .npz) of --model; "
        "a new classifier when the classes differ",
        optional=True,
        path=True,
        metavar="SRC",
    )
    freeze: str = setting(
        "none",
        FREEZE,
        "model",
        "none, backbone (train only the classifier: a linear probe) or N (the first N stages)",
        parse="freeze",
        metavar="none|backbone|N",
    )
    parallel: str = setting("auto", None, "parallelism", resumable=True, choices=MODES)
    seed: int = setting(0, NON_NEGATIVE, "optimisation", parse="int")
    eval_batch_size: int = setting(500, POSITIVE, "data", "test batch size", resumable=True, parse="positive")
    checkpoint_every: int = setting(
        0, NON_NEGATIVE, "output", "also checkpoint every N steps", resumable=True, parse="int"
    )
    keep_checkpoints: int = setting(3, POSITIVE, "output", resumable=True, parse="positive")
    out: str = setting("runs/latest", NAME, "output", "output folder", invocation=True)
    resume: bool = setting(
        False,
        FLAG,
        "output",
        "continue the run in --out from its latest checkpoint, with the settings saved in its config.json "
        "(flags given override them where that does not change the run)",
        invocation=True,
    )
    accept_data_change: bool = setting(
        False,
        FLAG,
        "output",
        "with --resume: continue although files were added to or removed from the --data folder since the run "
        "started (recorded in config.json)",
        invocation=True,
        action="store_true",
    )
    progress: bool = setting(
        True, FLAG, "output", "no progress bar", resumable=True, name="--no-progress", action="store_false"
    )
    distributed: bool = setting(
        False, FLAG, "parallelism", "multi-host: call jax.distributed.initialize", invocation=True, action="store_true"
    )
    coordinator_address: str | None = setting(
        None, TEXT, "parallelism", "host:port of process 0 ($JAX_COORDINATOR_ADDRESS)", optional=True, invocation=True
    )
    num_processes: int | None = setting(
        None, POSITIVE, "parallelism", "($JAX_NUM_PROCESSES)", optional=True, invocation=True, parse="positive"
    )
    process_id: int | None = setting(
        None, NON_NEGATIVE, "parallelism", "($JAX_PROCESS_ID)", optional=True, invocation=True, parse="int"
    )

    def __post_init__(self):
        for name in ("step_milestones", "mean", "std"):
            if isinstance(getattr(self, name), list):  # as JSON stores it
                object.__setattr__(self, name, tuple(getattr(self, name)))
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


FIELDS = {field.name: field.metadata for field in dataclasses.fields(TrainConfig)}
INVOCATION = frozenset(name for name, spec in FIELDS.items() if spec["invocation"])
# Fields that may differ between a run and its --resume: they do not change what is trained
# (the evaluation batch size changes only how the test metrics are summed). ``parallel`` is
# compared as the mode it resolves to (``auto`` is ``none`` on one device).
RESUMABLE = frozenset(name for name, spec in FIELDS.items() if spec["resumable"])
PATHS = frozenset(name for name, spec in FIELDS.items() if spec["path"])  # compared as the folders they name


def validate(config: TrainConfig) -> None:
    """Raise ``ConfigError`` for the first field of ``config`` with a bad type or value."""
    for name, spec in FIELDS.items():
        value = getattr(config, name)
        ok, expected = spec["accepts"]
        if not (value is None and spec["optional"]) and not ok(value):
            raise ConfigError(name, f"expected {expected}, got {value!r}")
    if config.pixel_mean and config.mean is not None:
        raise ConfigError("pixel_mean", "subtracts the training images' mean image; leave out mean and std")
    if (config.mean is None) != (config.std is None) or (config.mean and len(config.mean) != len(config.std)):
        raise ConfigError("std", f"expected as many values as mean={config.mean!r}, got {config.std!r}")
    if config.min_lr > config.lr:
        raise ConfigError("min_lr", f"expected a rate <= lr={config.lr!r}, got {config.min_lr!r}")
    if not config.warmup_epochs < config.epochs:
        raise ConfigError(
            "warmup_epochs", f"expected a number below epochs={config.epochs}, got {config.warmup_epochs!r}"
        )


def _comparable(name: str, value: Any) -> Any:
    """``value`` as resumes compare it: paths resolved, everything else as JSON stores it."""
    if name in PATHS and value is not None and not is_weights_name(value):
        return Path(value).expanduser().resolve()
    return json.loads(json.dumps(value))
