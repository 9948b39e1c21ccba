"""``fit``: the training loop behind ``jaxcnn train`` — data, steps, checkpoints, reports."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from jaxcnn.data import (
    Dataset,
    augment,
    channel_stats,
    eval_batches,
    load,
    normalize,
    prefetch,
    steps_per_epoch,
    train_batches,
)
from jaxcnn.inspect import summary
from jaxcnn.models import create_model, init_shapes

from .checkpoint import Checkpoints, first_line
from .config import TrainConfig, read_config, read_run_file
from .guard import run_lock, writing
from .optim import optimizer, schedule
from .parallel import Parallel, add_metrics, resolve_mode
from .report import CURVES, atomic_write, plot_curves, progress, read_history, write_history
from .runfolder import check_run_folder
from .state import TrainState, create_train_state
from .steps import make_eval_step, make_train_step

LOG_EVERY = 10  # steps between host syncs (progress bar, non-finite check)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What the training data decides about the model and its inputs (saved in config.json)."""

    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_examples: int


@dataclasses.dataclass
class FitResult:
    """What ``fit`` returns: the model, its final (host) state and the per-epoch history."""

    out: Path
    model: nn.Module
    state: TrainState
    history: list[dict]
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that interrupted the run (SIGINT, SIGTERM)

    @property
    def variables(self) -> dict:
        """``{'params', 'batch_stats'}`` for ``model.apply``."""
        return self.state.variables

    @property
    def test_accuracy(self) -> float | None:
        """Top-1 accuracy on the test split after the last completed epoch."""
        return self.history[-1]["test_accuracy"] if self.history else None


def fit(config: TrainConfig | None = None, *, train: Dataset | None = None, test: Dataset | None = None) -> FitResult:
    """Train ``config.model`` on ``config.data`` (or the given datasets) into ``config.out``.

    Writes ``config.json``, ``metrics.jsonl`` (one row per epoch), ``curves.png`` and
    ``checkpoints/`` (every ``checkpoint_every`` steps and at each epoch end, before the epoch's
    row and picture). SIGINT or SIGTERM finishes the current step, saves a checkpoint and returns
    with ``interrupted=True`` (a second one does not wait); a non-finite loss raises
    ``NonFiniteLossError`` before anything is saved for the bad step. ``config=None`` trains the
    defaults (``TrainConfig()``).

    One run per folder: the run holds ``out/.lock`` (process 0 only) until it returns or fails, and
    a second ``fit`` into a locked folder raises ``RunLockedError`` naming the holder's PID. A new
    run refuses a folder that holds files it did not write (``FileExistsError`` naming them); a
    resume continues only the run of the folder's ``config.json``.
    """
    config = TrainConfig() if config is None else config
    if config.distributed:
        initialize_distributed(config)
    with run_lock(config.out, hold=jax.process_index() == 0):
        # before the data loads: a foreign folder, a mismatch or a damaged config.json fails at once
        check_run_folder(config, main_process=jax.process_index() == 0)
        train = train if train is not None else load(config.data, "train", root=config.data_root)
        test = test if test is not None else load(config.data, "test", root=config.data_root)
        info = describe_data(train, config)
        return _Run(config, info, train, test).run()


def describe_data(train: Dataset, config: TrainConfig) -> DataInfo:
    """Classes, channels, normalisation statistics and the input size: ``config.image_size``,
    or by default the course's rule for ``config.model``: the image side rounded up so that
    every stride-2 reduction of the model halves it exactly (and to the model's minimum)."""
    _, height, width, channels = train.images.shape
    mean, std = channel_stats(train)
    size = config.image_size
    if size is None:
        model = create_model(
            config.model, num_classes=train.num_classes, in_channels=channels, **config.model_overrides
        )
        size = halving_size(model, max(height, width), channels)
    return DataInfo(train.num_classes, channels, size, tuple(map(float, mean)), tuple(map(float, std)), len(train))


def halving_size(model: nn.Module, side: int, channels: int) -> int:
    """The smallest size >= ``side`` and >= the model's minimum that is divisible by 2^k, for
    the k stride-2 reductions ``jaxcnn.summary`` finds in the model (resnet20: 28 -> 28,
    k = 2; VGG and ResNet-50: 28 -> 32, k = 5)."""
    start = max(side, model.min_input_size)
    rows = summary(model, (1, start, start, channels)).rows
    multiple = max(int(max(row.jump)) for row in rows)  # the deepest layer's stride in input pixels, 2^k
    return multiple * math.ceil(start / multiple)


def build_model(config: TrainConfig, info: DataInfo) -> nn.Module:
    """The model of a run, for the data's classes and channels."""
    return create_model(
        config.model,
        num_classes=info.num_classes,
        in_channels=info.in_channels,
        dtype=jnp.dtype(config.dtype),
        **config.model_overrides,
    )


def build(config: TrainConfig, info: DataInfo):
    """The model, optimizer, learning-rate schedule and total steps of a run."""
    model = build_model(config, info)
    per_epoch = steps_per_epoch(info.train_examples, config.batch_size)
    total = min(config.epochs * per_epoch, config.max_steps or sys.maxsize)
    lr = schedule(config.schedule, config.lr, total, min(int(config.warmup_epochs * per_epoch), total - 1))
    tx = optimizer(
        config.optimizer, lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
    )
    return model, tx, lr, total


def initial_state(config: TrainConfig, info: DataInfo, model: nn.Module, tx, *, abstract: bool = False) -> TrainState:
    """The seeded initial state as numpy arrays on the host (``abstract``: only shapes and dtypes)."""
    shape = (1, info.image_size, info.image_size, info.in_channels)
    create = lambda: create_train_state(model, jax.random.key(config.seed), shape, tx)  # noqa: E731
    return jax.eval_shape(create) if abstract else jax.tree.map(np.asarray, create())


def initialize_distributed(config: TrainConfig) -> None:
    """``jax.distributed.initialize`` from the config or $JAX_COORDINATOR_ADDRESS,
    $JAX_NUM_PROCESSES and $JAX_PROCESS_ID (unset values are left to JAX's cluster detection);
    CPU collectives go through gloo."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    env = {
        "coordinator_address": os.environ.get("JAX_COORDINATOR_ADDRESS"),
        "num_processes": os.environ.get("JAX_NUM_PROCESSES"),
        "process_id": os.environ.get("JAX_PROCESS_ID"),
    }
    kwargs = {k: getattr(config, k) if getattr(config, k) is not None else env[k] for k in env}
    kwargs = {k: (v if k == "coordinator_address" else int(v)) for k, v in kwargs.items() if v is not None}
    jax.distributed.initialize(**kwargs)


class _Run:
    """One call of ``fit``: the loop and what it writes."""

    def __init__(self, config: TrainConfig, info: DataInfo, train: Dataset, test: Dataset):
        self.config, self.info, self.train, self.test = config, info, train, test
        self.out = Path(config.out)
        self.model, self.tx, self.lr, self.total = build(config, info)
        self.parallel = Parallel(resolve_mode(config.parallel))
        self.per_epoch = steps_per_epoch(info.train_examples, config.batch_size)
        self.eval_batch = _multiple_of(config.eval_batch_size, self.parallel.devices * jax.process_count())
        self.main_process = jax.process_index() == 0
        _check_divisible(config.batch_size, self.parallel.devices, jax.process_count())
        self.checkpoints = Checkpoints(self.out / "checkpoints", config.keep_checkpoints, writer=True)
        self.train_step, self.eval_step = self._compile()  # jit wrappers; XLA compiles at the first call
        self.history: list[dict] = []

    def run(self) -> FitResult:
        try:
            return self._run()
        finally:
            self.checkpoints.close()

    def _run(self) -> FitResult:
        state, carried = self._start(initial_state(self.config, self.info, self.model, self.tx))
        step = int(state.step)
        self.history = self._saved_history(step) if self.config.resume else []
        if self.main_process:
            self._write_config()
        state = self.parallel.place(state)
        with _stop_on_signals() as stop:
            while step < self.total:
                state, step, carried = self._epoch(state, step, carried, stop)
                if stop["signal"]:
                    break
        if stop["signal"]:
            return self._interrupted(state, step, stop["signal"])
        return self._result(state)

    def _start(self, template: TrainState) -> tuple[TrainState, dict]:
        latest = self.checkpoints.latest_step()
        if self.config.resume:
            if latest is None:  # stopped before its first checkpoint: continuing is starting
                print(f"note: no checkpoint in {self.checkpoints.directory} yet; starting at step 0", file=sys.stderr)
                return template, {}
            state, carried, step = self.checkpoints.restore_newest(template)
            self._set_aside_newer_than(step)
            return state, carried
        if latest is not None:
            raise FileExistsError(
                f"{self.out} already holds checkpoints (latest step {latest}); "
                "pass --resume to continue that run or choose another --out"
            )
        return template, {}

    def _set_aside_newer_than(self, step: int) -> None:
        """Move the unreadable checkpoints after ``step`` (and files in the place of one) out of
        the way: kept, and said where."""
        newer = self.checkpoints.taken_after(step)
        if newer and self.main_process:
            moved = self.checkpoints.set_aside(newer)
            print(f"note: the unreadable checkpoints were moved to {', '.join(map(str, moved))}", file=sys.stderr)

    def _compile(self):
        axis = self.parallel.axis_name
        train_transform, eval_transform = transforms(self.config, self.info)
        train_step = make_train_step(
            self.model, self.tx, axis_name=axis, label_smoothing=self.config.label_smoothing, transform=train_transform
        )
        eval_step = make_eval_step(self.model, axis_name=axis, transform=eval_transform)
        return self.parallel.compile(train_step, eval_step)

    def _epoch(self, state, step: int, carried: dict, stop: dict):
        """Train to the end of the current epoch (or a stop request); returns (state, step, carried)."""
        # closed on leaving: its thread ends before anything else runs (the epoch end, the exit)
        with contextlib.closing(self._batches(step)) as batches:
            return self._train_epoch(state, step, carried, stop, batches)

    def _batches(self, step: int):
        """The placed batches from ``step`` to the end of its epoch."""
        return prefetch(
            train_batches(
                self.train,
                self.config.batch_size,
                seed=self.config.seed,
                epoch=step // self.per_epoch,
                start_batch=step % self.per_epoch,
                process_index=jax.process_index(),
                process_count=jax.process_count(),
            ),
            **self.parallel.prefetch_kwargs(),
        )

    def _train_epoch(self, state, step: int, carried: dict, stop: dict, batches):
        config, epoch, first = self.config, step // self.per_epoch, step % self.per_epoch
        last = min(self.per_epoch, self.total - epoch * self.per_epoch)
        meter = _EpochMeter(carried, self.parallel)
        bar = progress(last, first, f"epoch {epoch + 1}/{config.epochs}", config.progress and self.main_process)
        done, totals = first >= last, None
        for batch in batches:
            state, metrics = self.train_step(state, batch)
            meter.add(metrics, config.batch_size)
            step += 1
            done = step - epoch * self.per_epoch >= last
            checkpoint_due = config.checkpoint_every and step % config.checkpoint_every == 0
            if step % LOG_EVERY == 0 or done or checkpoint_due or stop["signal"]:  # the only host syncs
                totals = self._check_finite(meter.totals())
                bar.update(step - epoch * self.per_epoch - bar.n)
                bar.set_postfix(
                    loss=f"{totals['loss'] / totals['count']:.3f}",
                    acc=f"{100 * totals['top1'] / totals['count']:.1f}%",
                    img_s=f"{meter.speed():.0f}",
                )
            if checkpoint_due and not done:
                self._save(state, step, totals)
            if done or stop["signal"]:
                break
        bar.close()
        totals = totals if totals is not None else meter.totals()  # the loop ran no step
        if done:
            self._end_epoch(state, step, epoch, totals)
            return state, step, {}
        self._save(state, step, totals)
        return state, step, totals

    def _interrupted(self, state, step: int, signum: int) -> FitResult:
        """Say what a signal left (its checkpoint is saved) and return the interrupted result."""
        if self.main_process:
            then = (
                f"continue with `jaxcnn train --resume --out {self.out}`"
                if step < self.total
                else "training was complete"
            )
            print(
                f"{signal.Signals(signum).name} at step {step} of {self.total}: checkpoint saved in "
                f"{self.checkpoints.directory}; {then}",
                file=sys.stderr,
            )
        return self._result(state, stop_signal=signum)

    def _check_finite(self, totals: dict) -> dict:
        bad = totals["nonfinite_step"]
        if math.isfinite(bad):
            good = self.checkpoints.latest_step()
            kept = (
                f"the last good checkpoint (step {good}) is intact" if good is not None else "no checkpoint was saved"
            )
            raise NonFiniteLossError(
                f"the training loss is not finite at step {int(bad)} (learning rate "
                f"{float(self.lr(int(bad) - 1)):.4g}); training stopped and {kept} in "
                f"{self.checkpoints.directory}. Lower --lr (or use warm-up) and try again."
            )
        return totals

    def _save(self, state, step: int, totals: dict, row: dict | None = None) -> None:
        with writing(self.checkpoints.directory / str(step)):
            self.checkpoints.save(step, self.parallel.fetch(state), totals, row=row)

    def _end_epoch(self, state, step: int, epoch: int, totals: dict) -> None:
        """Evaluate, then write what the epoch leaves, most valuable first: the checkpoint (with
        the epoch's row, so a lost metrics line can be rebuilt), the metrics line, the picture."""
        test = self.evaluate(state)
        count = totals["count"]
        row = {
            "epoch": epoch + 1,
            "step": step,
            "train_loss": totals["loss"] / count,
            "train_accuracy": totals["top1"] / count,
            "train_top5": totals["top5"] / count,
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "test_top5": test["top5"],
            "learning_rate": float(self.lr(step - 1)),
            "images_per_second": totals["images"] / max(totals["seconds"], 1e-9),
            "elapsed_s": (self.history[-1]["elapsed_s"] if self.history else 0.0) + totals["seconds"] + test["seconds"],
        }
        self._save(state, step, {}, row)
        self.history.append(row)
        if self.main_process:
            write_history(self.out, self.history)
            if self.config.progress:
                tqdm.write(
                    f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {100 * row['train_accuracy']:.2f}% | "
                    f"test loss {row['test_loss']:.4f} acc {100 * row['test_accuracy']:.2f}% | "
                    f"{row['images_per_second']:.0f} img/s",
                    file=sys.stderr,
                )
            self._plot()

    def _plot(self) -> None:
        """Draw curves.png; a picture that cannot be drawn is a warning, never the end of training."""
        try:
            plot_curves(self.out, self.history)
        except Exception as err:
            print(f"warning: {self.out / CURVES} not drawn ({first_line(err)}); training goes on", file=sys.stderr)

    def _saved_history(self, step: int) -> list[dict]:
        """The rows of metrics.jsonl up to ``step``, with the rows saved in the checkpoints put back
        where the file lost them (a write cut short, a damaged line)."""
        rows = {row["step"]: row for row in read_history(self.out, up_to_step=step)}
        for saved in self.checkpoints.steps():
            if saved <= step and saved not in rows and (row := self.checkpoints.saved_row(saved)):
                rows[saved] = row
        return [rows[s] for s in sorted(rows)]

    def evaluate(self, state) -> dict:
        """Test metrics of a placed state (see ``evaluate_on``)."""
        return evaluate_on(self.test, self.eval_step, state, self.parallel, self.eval_batch)

    def _write_config(self) -> None:
        payload = {
            "config": self.config.to_json(),
            "data": dataclasses.asdict(self.info),
            "parallel": {
                "mode": self.parallel.mode,
                "devices": self.parallel.devices,
                "processes": jax.process_count(),
            },
        }
        then = "rerun with --resume" if self.config.resume else "rerun"  # no config.json: nothing to resume yet
        atomic_write(self.out / "config.json", (json.dumps(payload, indent=2) + "\n").encode(), then=then)

    def _result(self, state, stop_signal: int | None = None) -> FitResult:
        fetched = self.parallel.fetch(state)
        return FitResult(self.out, self.model, fetched, self.history, stop_signal is not None, stop_signal)


def transforms(config: TrainConfig, info: DataInfo):
    """The on-device input transforms: (augment for training, normalize for evaluation)."""
    stats = {"mean": np.array(info.mean), "std": np.array(info.std), "out_size": info.image_size}
    return functools.partial(augment, pad=config.pad, flip=config.flip, **stats), functools.partial(normalize, **stats)


def evaluate_on(test: Dataset, eval_step, state, parallel: Parallel, batch_size: int) -> dict:
    """Loss, top-1 and top-5 accuracy over every image of ``test`` (one host sync at the end)."""
    started = time.perf_counter()
    sums = None
    batches = eval_batches(test, batch_size, process_index=jax.process_index(), process_count=jax.process_count())
    for batch in prefetch(batches, **parallel.prefetch_kwargs()):
        sums = add_metrics(sums, eval_step(state, batch))
    sums = {k: float(v) for k, v in parallel.fetch(sums).items()}
    return {
        "loss": sums["loss"] / sums["count"],
        "accuracy": sums["top1"] / sums["count"],
        "top5": sums["top5"] / sums["count"],
        "count": sums["count"],
        "seconds": time.perf_counter() - started,
    }


class _EpochMeter:
    """An epoch's metric sums: on device since this session started, plus what an
    interrupted session carried over (host floats)."""

    def __init__(self, carried: dict, parallel: Parallel):
        self.carried = {"seconds": 0.0, "images": 0.0, **carried}
        self.parallel = parallel
        self.device = None
        self.images = 0
        self.started = time.perf_counter()

    def add(self, metrics: dict, batch_size: int) -> None:
        self.device = add_metrics(self.device, metrics)
        self.images += batch_size

    def speed(self) -> float:
        """Images per second in this session."""
        return self.images / max(time.perf_counter() - self.started, 1e-9)

    def totals(self) -> dict:
        """Host floats: loss, top1, top5, count, nonfinite_step, images and seconds of the epoch so far."""
        fetched = {k: float(v) for k, v in self.parallel.fetch(self.device).items()} if self.device else {}
        totals = {key: self.carried.get(key, 0.0) + fetched.get(key, 0.0) for key in ("loss", "top1", "top5", "count")}
        totals["nonfinite_step"] = min(
            self.carried.get("nonfinite_step", math.inf), fetched.get("nonfinite_step", math.inf)
        )
        totals["images"] = self.carried["images"] + self.images
        totals["seconds"] = self.carried["seconds"] + time.perf_counter() - self.started
        return totals


def read_data_info(out: str | Path) -> DataInfo:
    """The ``DataInfo`` saved in ``out/config.json``."""
    saved = read_run_file(out, "data")
    fields = {f.name for f in dataclasses.fields(DataInfo)}
    if set(saved) != fields:
        wrong = ", ".join(sorted(fields ^ set(saved)))
        raise ValueError(f"{Path(out) / 'config.json'}: its 'data' section lacks or adds the fields {wrong}")
    for name in ("num_classes", "in_channels", "image_size", "train_examples"):
        if not isinstance(saved[name], int) or isinstance(saved[name], bool) or saved[name] < 1:
            raise ValueError(
                f"{Path(out) / 'config.json'}: field 'data.{name}' expected a positive integer, got {saved[name]!r}"
            )
    return DataInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def load_checkpoint(out: str | Path, step: int | None = None) -> tuple[nn.Module, dict]:
    """The model and ``{'params', 'batch_stats'}`` (numpy) of a run folder's checkpoint at ``step``
    (default: the newest that can be restored; newer ones that cannot are reported on stderr with
    their folder), restored by layer name without building the optimizer."""
    config, info = read_config(out), read_data_info(out)
    model = build_model(config, info)
    template = init_shapes(model, info.image_size, info.in_channels)
    checkpoints = Checkpoints(Path(out) / "checkpoints")
    try:
        return model, checkpoints.restore_variables(template, step)
    finally:
        checkpoints.close()


def evaluate(out: str | Path, data: str | None = None, *, step: int | None = None, test: Dataset | None = None) -> dict:
    """Test loss and accuracy of a run folder's checkpoint on ``data``'s test split (default:
    the dataset it trained on), normalised with the training statistics; on one device."""
    config, info = read_config(out), read_data_info(out)
    test = test if test is not None else load(data or config.data, "test", root=config.data_root)
    model, variables = load_checkpoint(out, step)
    eval_step = jax.jit(make_eval_step(model, transform=transforms(config, info)[1]))
    state = TrainState(variables["params"], variables["batch_stats"], None, jnp.zeros((), jnp.int32), None)
    return evaluate_on(test, eval_step, jax.device_put(state), Parallel("none"), config.eval_batch_size)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_on_signals():
    """Turn SIGINT and SIGTERM into a request (``flag['signal']``) that the loop honours after its
    current step, as schedulers expect (SLURM and Kubernetes send SIGTERM, then SIGKILL after a
    grace period). A second signal is not held back: it gets the handler there was before
    (SIGINT: KeyboardInterrupt, SIGTERM: the process ends), which cannot corrupt a checkpoint:
    a save cut short leaves only a temporary folder."""
    flag = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def request(signum, frame):
        if flag["signal"] is None:
            flag["signal"] = signum
            return
        if signum != signal.SIGINT:  # a KeyboardInterrupt is reported by whoever catches it
            print(f"{signal.Signals(signum).name} again: stopping now, without a last checkpoint", file=sys.stderr)
        _restore(previous)
        signal.raise_signal(signum)

    previous = {signum: signal.signal(signum, request) for signum in STOP_SIGNALS}
    try:
        yield flag
    finally:
        _restore(previous)


def _restore(handlers: dict) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def _multiple_of(value: int, divisor: int) -> int:
    return divisor * math.ceil(value / divisor)


def _check_divisible(batch_size: int, devices: int, processes: int) -> None:
    for count, what in ((devices, "devices"), (processes, "processes")):
        if batch_size % count:
            raise ValueError(
                f"batch_size {batch_size} is not divisible by the {count} {what}; use a multiple of {count}"
            )
