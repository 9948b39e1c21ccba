"""What a run is built from: its data (``load_data``, through ``jaxcnn.data.load_splits``) and its
description (``describe_data``: classes, channels, statistics, the input size), its model,
optimizer and schedule, its seeded initial state and its on-device input transforms, and the
settings refused before anything is written (``refuse_mistakes``, ``check_splits``). ``fit``
builds a run with these; ``jaxcnn.bench`` builds the same step with them."""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.data import Dataset, StreamingFolder, augment, channel_stats, normalize, steps_per_epoch
from jaxcnn.data.augment import pixel_mean
from jaxcnn.data.autoaugment import host_augmented_batches
from jaxcnn.data.layout import scanned_folders
from jaxcnn.data.mix import mix_batch
from jaxcnn.data.sources import is_folder_data, load_splits
from jaxcnn.inspect import summary
from jaxcnn.models import create_model, get_weights, is_weights_name, model_info

from .config import ConfigError, TrainConfig
from .optim import freeze, frozen_stages, optimizer, schedule
from .runfolder.record import DataInfo, read_data_info
from .step import TrainState, create_train_state


def describe_data(
    train: Dataset | StreamingFolder, config: TrainConfig, model: nn.Module, folder: dict | None = None
) -> DataInfo:
    """Classes, channels, normalisation statistics and the input size: ``config.image_size``,
    the size a folder's images were brought to, or by default the course's rule for ``model``
    (the run's, built for ``train``'s classes and channels): the image side rounded up so that
    every stride-2 reduction of the model halves it exactly (and to the model's minimum). A
    streaming folder's statistics come from a sample of its images
    (``StreamingFolder.channel_stats``), unless ``config.mean`` and ``config.std`` give them
    (``ConfigError`` when their length is not the number of channels); ``config.pixel_mean``: the
    mean image at the input size (nested [S][S][C] lists) and std 1."""
    height, width, channels = train.image_shape
    size = config.image_size or (folder and folder["image_size"])
    if size is None:
        size = halving_size(model, max(height, width), channels)
    if config.mean is not None:
        if len(config.mean) != channels:
            raise ConfigError("mean", f"expected {channels} values, one per channel of the images, got {config.mean!r}")
        mean, std = config.mean, config.std
    elif config.pixel_mean:
        if isinstance(train, StreamingFolder):
            raise ConfigError("pixel_mean", "needs the training images decoded once (--decode once)")
        mean, std = pixel_mean(train.images, size).tolist(), (1.0,) * channels
    else:
        mean, std = train.channel_stats() if isinstance(train, StreamingFolder) else channel_stats(train)
    stats = tuple(np.asarray(mean, np.float64).tolist()), tuple(map(float, std))
    return DataInfo(train.num_classes, channels, size, *stats, len(train), train.classes, folder)


def load_data(config: TrainConfig) -> tuple:
    """``(train, test, folder description or None)`` of ``config.data`` through
    ``jaxcnn.data.load_splits``: a folder's images at ``config.image_size``, by default the
    model's natural input size; a resume reads with what its first start chose and recorded."""
    saved = read_data_info(config.out).folder if config.resume else None
    return load_splits(
        config.data,
        image_size=config.image_size or model_info(config.model).input_size,
        val_fraction=config.val_fraction,
        decode=config.decode,
        workers=config.workers,
        skip_bad=config.skip_bad,
        seed=config.seed,
        data_root=config.data_root,
        saved=saved,
        accept_change=config.accept_data_change,
        streamed={
            "train_crop_size": config.train_crop_size,
            "val_resize_size": config.val_resize_size,
            "train_interpolation": config.train_interpolation,
            "val_interpolation": config.val_interpolation,
            "auto_augment": config.auto_augment,
            "ra_magnitude": config.ra_magnitude,
            "fill": augmentation(config)["fill"],
        },
    )


def check_splits(config: TrainConfig, train, test, *, main_process: bool = True) -> None:
    """``ConfigError`` (naming both numbers and the split) when a training epoch would have no
    full batch of ``config.batch_size``; ``ValueError`` when the evaluation split has no image;
    a warning on stderr (``main_process``) for a single class, whose accuracy means nothing."""
    if train.num_classes == 1 and main_process:
        print(
            f"warning: {config.data} has a single class ({train.classes[0]}): every prediction is that class, "
            "so its accuracy reads 100% and means nothing; add a folder per class",
            file=sys.stderr,
        )
    if len(train) < config.batch_size:
        raise ConfigError(
            "batch_size",
            f"{config.batch_size} is more than the {len(train)} training images of {config.data}: an epoch would "
            f"have no batch; use at most {len(train)}",
        )
    if len(test) == 0:
        raise ValueError(f"the evaluation split of {config.data} has no images: there is nothing to test on")


def halving_size(model: nn.Module, side: int, channels: int) -> int:
    """The smallest size >= ``side`` and >= the model's minimum that is divisible by 2^k, for
    the k stride-2 reductions ``jaxcnn.summary`` finds in the model (resnet20: 28 -> 28,
    k = 2; VGG and ResNet-50: 28 -> 32, k = 5)."""
    start = max(side, model.min_input_size)
    rows = summary(model, (1, start, start, channels)).rows
    multiple = max(int(max(row.jump)) for row in rows)  # the deepest layer's stride in input pixels, 2^k
    return multiple * math.ceil(start / multiple)


def build_model(config: TrainConfig, num_classes: int, in_channels: int) -> nn.Module:
    """The model of a run, for the data's classes and channels, with ``config.freeze``'s stages frozen."""
    model = create_model(
        config.model,
        num_classes=num_classes,
        in_channels=in_channels,
        dtype=jnp.dtype(config.dtype),
        **config.model_overrides,
    )
    return model.clone(frozen_stages=frozen_stages(model, config.freeze)) if config.freeze != "none" else model


def build_optimizer(config: TrainConfig, info: DataInfo, model: nn.Module | None = None):
    """The optimizer (for ``model``'s unfrozen parameters), learning-rate schedule and total steps of a run."""
    per_epoch = steps_per_epoch(info.train_examples, config.batch_size)
    total = min(config.epochs * per_epoch, config.max_steps or sys.maxsize)
    warmup = min(int(config.warmup_epochs * per_epoch), total // 10)  # a short run must not be all warm-up
    decay_steps = int(config.lr_step_epochs * info.train_examples / config.batch_size)  # as TF-slim counts them
    lr = schedule(
        config.schedule,
        config.lr,
        total,
        warmup,
        config.step_milestones,
        decay_steps=decay_steps,
        gamma=config.lr_gamma,
        warmup_method=config.warmup_method,
        start_factor=config.warmup_start_factor,
        steps_per_epoch=per_epoch if config.schedule_unit == "epoch" else None,
        min_lr=config.min_lr,
        warmup_prefix=config.warmup_prefix,
    )
    tx = optimizer(
        config.optimizer,
        lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
        norm_weight_decay=config.norm_weight_decay,
        bias_weight_decay=config.bias_weight_decay,
        rmsprop_decay=config.rmsprop_decay,
        rmsprop_epsilon=config.rmsprop_epsilon,
        clip_grad_norm=config.clip_grad_norm,
    )
    return (tx if model is None else freeze(tx, model)), lr, total


def build(config: TrainConfig, info: DataInfo):
    """The model, optimizer, learning-rate schedule and total steps of a run."""
    model = build_model(config, info.num_classes, info.in_channels)
    return model, *build_optimizer(config, info, model)


def initial_state(config: TrainConfig, info: DataInfo, model: nn.Module, tx, *, abstract: bool = False) -> TrainState:
    """The seeded initial state as numpy arrays on the host (``abstract``: only shapes and dtypes)."""
    shape = (1, info.image_size, info.image_size, info.in_channels)

    def create() -> TrainState:
        state = create_train_state(model, jax.random.key(config.seed), shape, tx)
        return state.replace(ema=jax.tree.map(jnp.copy, state.variables)) if config.model_ema else state

    return jax.eval_shape(create) if abstract else jax.tree.map(np.asarray, create())


def ema_schedule(config: TrainConfig, per_epoch: int):
    """When and how ``--model-ema`` updates its average, as torchvision's train.py does: after the
    step of every ``model_ema_steps``-th batch of an epoch (batches 0, k, 2k, ...); the average
    copies the variables at the run's first update and at each update that follows one made in a
    warm-up epoch, else keeps ``decay`` of itself and adds ``1 - decay`` of them, ``decay = 1 -
    min(1, (1 - model_ema_decay) x batch size x model_ema_steps / epochs)``.

    Returns:
      None without ``model_ema``; else the train step's ``ema``: int32 step (0-based, the batch
      just trained) -> (update bool, decay float32, weight float32), all [].
    """
    if not config.model_ema:
        return None
    alpha = min(1.0, (1.0 - config.model_ema_decay) * config.batch_size * config.model_ema_steps / config.epochs)
    decay = 1.0 - alpha

    def schedule(step):
        epoch, batch = step // per_epoch, step % per_epoch
        previous = jnp.where(batch > 0, epoch, epoch - 1)  # the epoch of the update before this one
        copy = (step == 0) | (previous < config.warmup_epochs)
        return (
            batch % config.model_ema_steps == 0,
            jnp.where(copy, 0.0, decay).astype(jnp.float32),
            jnp.where(copy, 1.0, 1.0 - decay).astype(jnp.float32),
        )

    return schedule


def transforms(config: TrainConfig, info: DataInfo, *, cropped_on_host: bool = False):
    """The on-device input transforms: (augment for training, normalize for evaluation).

    ``cropped_on_host``: the training images arrive randomly cropped and flipped (a streaming
    folder's ``RandomResizedCrop`` + flip, at their own size), so the device must not crop or
    flip them again: ``config.pad`` and ``config.flip`` must stay 0 and False, which leaves
    ``augment`` only normalising and erasing (``ValueError`` otherwise). With
    ``config.auto_augment`` decoded-once images are cropped and flipped on the host too
    (``jaxcnn.data.autoaugment.host_augmented_batches``), before the policy."""
    if cropped_on_host and (config.pad or config.flip):
        raise ValueError(
            f"pad {config.pad} and flip {config.flip} crop and flip on the device, but the streamed "
            "training images are already cropped (RandomResizedCrop) and flipped on the host; "
            "leave pad at 0 and flip off"
        )
    stats = {"mean": np.array(info.mean), "std": np.array(info.std)}
    on_device = not (cropped_on_host or config.auto_augment)
    train = functools.partial(
        augment,
        pad=config.pad if on_device else 0,
        flip=config.flip and on_device,
        erase=config.random_erase,
        out_size=None if cropped_on_host else info.image_size,
        **stats,
    )
    return train, functools.partial(normalize, out_size=info.image_size, **stats)


def host_augmentation(config: TrainConfig, info: DataInfo, train):
    """What turns ``train_batches`` of ``train`` into the batches the device gets: with
    ``config.auto_augment`` on a decoded-once data set, ``host_augmented_batches`` with the
    config's crop, flip and policy; otherwise nothing (a streaming folder augments as it decodes)."""
    if config.auto_augment is None or isinstance(train, StreamingFolder):
        return lambda batches: batches
    settings = {"pad": config.pad, "flip": config.flip, "out_size": info.image_size, **augmentation(config)}
    return lambda batches: host_augmented_batches(batches, config.auto_augment, seed=config.seed, **settings)


def augmentation(config: TrainConfig) -> dict:
    """The automatic augmentation's settings besides its policy: RandAugment's magnitude bin, the
    resampling, and timm's fill (the normalisation mean in 0..255, as timm's transforms factory
    rounds it; None: timm's grey where no mean is given)."""
    fill = tuple(min(255, round(255 * m)) for m in config.mean) if config.mean else None
    return {"magnitude": config.ra_magnitude, "fill": fill, "interpolation": config.train_interpolation}


def gpu_batch_size(config: TrainConfig) -> int | None:
    """The batch of each GPU a recipe emulates (``bn_group_size`` in ``model_overrides``), or None."""
    return config.model_overrides.get("bn_group_size")


def replicas(config: TrainConfig, devices: int) -> int:
    """How many replicas the repeated-augmentation sampler deals a batch over: the GPUs a recipe
    emulates (batch size / ``gpu_batch_size``), else the run's ``devices``."""
    group = gpu_batch_size(config)
    return config.batch_size // group if group else devices


def batch_mixing(config: TrainConfig, info: DataInfo):
    """The train step's ``mix`` (``jaxcnn.data.mix.mix_batch`` with the config's alphas and
    pairing, its blend rounded to whole pixel levels with ``mix_rounding``; each group of
    ``bn_group_size`` images, an emulated GPU's batch, mixed on its own),
    or None when neither MixUp nor CutMix is on."""
    if not (config.mixup_alpha or config.cutmix_alpha):
        return None
    settings = {"mixup_alpha": config.mixup_alpha, "cutmix_alpha": config.cutmix_alpha, "pairing": config.mix_pairing}
    settings["group_size"] = gpu_batch_size(config)
    if config.mix_rounding:
        settings["pixel_stats"] = (np.array(info.mean), np.array(info.std))  # as ``transforms`` normalises
    return lambda images, labels, key: mix_batch(images, labels, key, info.num_classes, **settings)


def initialize_distributed(config: TrainConfig) -> None:
    """``jax.distributed.initialize`` from the config or $JAX_COORDINATOR_ADDRESS,
    $JAX_NUM_PROCESSES and $JAX_PROCESS_ID (unset values are left to JAX's cluster detection).
    CPU collectives go through gloo, and a run of several CPU processes compiles without JAX's
    persistent compilation cache: on JAX 0.12 a CPU program read back from that cache waits
    forever in its first collective across processes."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    env = {
        "coordinator_address": os.environ.get("JAX_COORDINATOR_ADDRESS"),
        "num_processes": os.environ.get("JAX_NUM_PROCESSES"),
        "process_id": os.environ.get("JAX_PROCESS_ID"),
    }
    kwargs = {k: getattr(config, k) if getattr(config, k) is not None else env[k] for k in env}
    kwargs = {k: (v if k == "coordinator_address" else int(v)) for k, v in kwargs.items() if v is not None}
    jax.distributed.initialize(**kwargs)
    if jax.process_count() > 1 and jax.default_backend() == "cpu":
        jax.config.update("jax_enable_compilation_cache", False)


def with_weights_overrides(config: TrainConfig) -> TrainConfig:
    """``config`` whose ``init_from`` names published weights (``resnet20:CIFAR10_V1``) with the model
    attributes those weights need (``channel_padding``, ``transform_input``) added to
    ``model_overrides`` where the config does not set them; ``ConfigError`` for weights of another model."""
    if config.init_from is None or not is_weights_name(config.init_from):
        return config
    try:
        weights = get_weights(config.init_from)
    except ValueError as err:
        raise ConfigError("init_from", str(err)) from None
    if weights.model != config.model:
        raise ConfigError(
            "init_from",
            f"{config.init_from} are weights of {weights.model}, not of {config.model}; train --model {weights.model}",
        )
    return dataclasses.replace(config, model_overrides={**weights.overrides, **config.model_overrides})


def refuse_mistakes(config: TrainConfig) -> None:
    """Refuse, before anything is written, the settings that would run but train nothing useful
    or damage the data: ``ConfigError`` for freezing the backbone of random weights (a new run
    without ``init_from``), ``ValueError`` for an output folder inside the image folder
    ``config.data`` (its files would become a class of images in every later run)."""
    if config.freeze == "backbone" and config.init_from is None and not config.resume:
        raise ConfigError(
            "freeze",
            "'backbone' without init_from trains the classifier on random, untrained features; "
            "give init_from (a run folder or weight file to start from), or freeze none",
        )
    if is_folder_data(config.data):
        out = Path(config.out).expanduser().resolve()
        for scanned in map(Path.resolve, scanned_folders(config.data)):
            if out == scanned or scanned in out.parents:
                raise ValueError(
                    f"the output folder {config.out} is inside {scanned}, where its files would be read as images of "
                    f"a class by every later run on {config.data}; write the run outside that folder"
                )
