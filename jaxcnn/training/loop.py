"""``fit``, the function behind ``jaxcnn train``, and its training loop: it claims the run folder,
loads and describes the data, builds the model once (``parts``), then runs epochs of jitted steps
fed by prefetched batches, metrics summed on device and read every ``LOG_EVERY`` steps,
checkpoints, the evaluation at each epoch's end, and SIGINT/SIGTERM turned into a checkpoint and
a clean return (``signals``); and the evaluation loop, of a run (``evaluate_on``) or of a run
folder's checkpoint (``evaluate``). What it writes goes through ``runfolder``."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.data import Dataset, StreamingFolder, eval_batches, prefetch, steps_per_epoch, train_batches
from jaxcnn.data.sources import load_test_split

from .config import TrainConfig, resolve_mode
from .parallel import Parallel, add_metrics, check_shared_folder
from .parts import (
    batch_mixing,
    build_model,
    build_optimizer,
    check_splits,
    describe_data,
    ema_schedule,
    host_augmentation,
    initial_state,
    initialize_distributed,
    load_data,
    refuse_mistakes,
    replicas,
    transforms,
    with_weights_overrides,
)
from .readers import restore_run, start_from
from .runfolder.checkpoints import Checkpoints
from .runfolder.lock import run_lock, writing
from .runfolder.record import (
    DataInfo,
    check_run_folder,
    progress,
    read_config,
    read_data_info,
    report_epoch,
    resumed_history,
    write_config,
)
from .signals import StopSignals
from .step import NONFINITE, TrainState, make_eval_step, make_train_step

LOG_EVERY = 10  # steps between host syncs (progress bar, non-finite check)


class NonFiniteLossError(FloatingPointError):
    """Training diverged: the loss, gradients, parameters or batch statistics became NaN or
    infinite. Nothing non-finite was saved: the newest checkpoint is the last finite one."""


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


class Run:
    """One call of ``fit`` once its folder is checked and its data described: the loop and what
    it writes. ``model`` is the run's, built for ``info``'s classes and channels."""

    def __init__(
        self,
        config: TrainConfig,
        info: DataInfo,
        model: nn.Module,
        train: Dataset | StreamingFolder,
        test: Dataset | StreamingFolder,
        stop: StopSignals,
    ):
        self.config, self.info, self.model, self.train, self.test = config, info, model, train, test
        self.stop = stop
        self.out = Path(config.out)
        self.tx, self.lr, self.total = build_optimizer(config, info, model)
        self.parallel = Parallel(resolve_mode(config.parallel))
        self.per_epoch = steps_per_epoch(info.train_examples, config.batch_size)
        self.eval_batch = _multiple_of(config.eval_batch_size, self.parallel.devices * jax.process_count())
        self.main_process = jax.process_index() == 0
        _check_divisible(config.batch_size, self.parallel.devices, jax.process_count())
        self.checkpoints = Checkpoints(self.out / "checkpoints", config.keep_checkpoints, writer=True)
        self.train_step, self.eval_step = self._compile()  # jit wrappers; XLA compiles at the first call
        self.history: list[dict] = []

    def run(self) -> FitResult:
        """Train from the start or the newest checkpoint to the end (or a stop signal)."""
        try:
            return self._run()
        finally:
            self.checkpoints.close()

    def _run(self) -> FitResult:
        state, carried = self._start(initial_state(self.config, self.info, self.model, self.tx))
        step = int(state.step)
        self.history = resumed_history(self.out, self.checkpoints, step) if self.config.resume else []
        self.stop.check_startup()
        if self.main_process:
            write_config(self.config, self.info, self.parallel)
        state = self.parallel.place(state)
        self.stop.check_startup()
        self.stop.training = True
        while step < self.total:
            state, step, carried = self._epoch(state, step, carried)
            if self.stop.signal:
                break
        if self.stop.signal:
            return self._interrupted(state, step, self.stop.signal)
        return self._result(state)

    def _start(self, template: TrainState) -> tuple[TrainState, dict]:
        latest = self.checkpoints.latest_step()
        if self.config.resume:
            if latest is None:  # stopped before its first checkpoint: continuing is starting
                print(f"note: no checkpoint in {self.checkpoints.directory} yet; starting at step 0", file=sys.stderr)
                return self._initial(template), {}
            state, carried, step = self.checkpoints.restore_newest(template)
            self._set_aside_newer_than(step)
            return state, carried
        if latest is not None:
            raise FileExistsError(
                f"{self.out} already holds checkpoints (latest step {latest}); "
                "pass --resume to continue that run or choose another --out"
            )
        return self._initial(template), {}

    def _initial(self, template: TrainState) -> TrainState:
        """The state at step 0: ``template``, or with ``config.init_from``'s weights merged in."""
        if self.config.init_from is None:
            return template
        report = (lambda line: print(line, file=sys.stderr)) if self.main_process else (lambda line: None)
        return start_from(self.config.init_from, self.model, self.config.model, template, report)

    def _set_aside_newer_than(self, step: int) -> None:
        """Move the unreadable checkpoints after ``step`` (and files in the place of one) out of
        the way: kept, and said where."""
        newer = self.checkpoints.taken_after(step)
        if newer and self.main_process:
            moved = self.checkpoints.set_aside(newer)
            print(f"note: the unreadable checkpoints were moved to {', '.join(map(str, moved))}", file=sys.stderr)

    def _compile(self):
        axis = self.parallel.axis_name
        cropped = isinstance(self.train, StreamingFolder) and self.train.train
        train_transform, eval_transform = transforms(self.config, self.info, cropped_on_host=cropped)
        train_step = make_train_step(
            self.model,
            self.tx,
            axis_name=axis,
            label_smoothing=self.config.label_smoothing,
            transform=train_transform,
            loss=self.config.loss,
            bce_target_threshold=self.config.bce_target_threshold,
            mix=batch_mixing(self.config, self.info),
            ema=ema_schedule(self.config, self.per_epoch),
        )
        eval_step = make_eval_step(self.model, axis_name=axis, transform=eval_transform)
        return self.parallel.compile(train_step, eval_step)

    def _epoch(self, state, step: int, carried: dict):
        """Train to the end of the current epoch (or a stop request); returns (state, step, carried)."""
        # closed on leaving: its thread ends before anything else runs (the epoch end, the exit)
        with contextlib.closing(self._batches(step)) as batches:
            return self._train_epoch(state, step, carried, batches)

    def _batches(self, step: int):
        """The placed batches from ``step`` to the end of its epoch."""
        batches = train_batches(
            self.train,
            self.config.batch_size,
            seed=self.config.seed,
            epoch=step // self.per_epoch,
            start_batch=step % self.per_epoch,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            repetitions=self.config.ra_reps,
            replicas=replicas(self.config, self.parallel.devices),
        )
        augmented = host_augmentation(self.config, self.info, self.train)(batches)
        return prefetch(augmented, **self.parallel.prefetch_kwargs())

    def _train_epoch(self, state, step: int, carried: dict, batches):
        config, epoch, first = self.config, step // self.per_epoch, step % self.per_epoch
        last = min(self.per_epoch, self.total - epoch * self.per_epoch)
        meter = EpochMeter(carried, self.parallel)
        bar = progress(last, first, f"epoch {epoch + 1}/{config.epochs}", config.progress and self.main_process)
        done = first >= last
        for batch in batches:
            state, metrics = self.train_step(state, batch)
            meter.add(metrics, config.batch_size)
            step += 1
            done = step - epoch * self.per_epoch >= last
            checkpoint_due = config.checkpoint_every and step % config.checkpoint_every == 0
            if step % LOG_EVERY == 0 or done or checkpoint_due or self.stop.signal:  # the only host syncs
                totals = self._check_finite(meter.totals())
                bar.update(step - epoch * self.per_epoch - bar.n)
                bar.set_postfix(
                    loss=f"{totals['loss'] / totals['count']:.3f}",
                    acc=f"{100 * totals['top1'] / totals['count']:.1f}%",
                    img_s=f"{meter.speed():.0f}",
                )
            if checkpoint_due and not done:
                self._save(state, step, totals)
            if done or self.stop.signal:
                break
        bar.close()
        totals = self._check_finite(meter.totals())  # checked before anything is saved
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
        """``totals`` when every step so far kept its loss, gradients, parameters and batch
        statistics finite; else ``NonFiniteLossError`` naming the first bad step and what went bad."""
        first = {what: totals[f"nonfinite_{what}"] for what in NONFINITE}
        bad = min(first.values())
        if math.isfinite(bad):
            good = self.checkpoints.latest_step()
            kept = (
                f"the last good checkpoint (step {good}) is intact" if good is not None else "no checkpoint was saved"
            )
            what = [name.replace("_", " ") for name, step in first.items() if step == bad]
            loss = "" if "loss" in what else "; the loss was still finite"
            raise NonFiniteLossError(
                f"training diverged: the {_listed(what)} {'is' if what == ['loss'] else 'are'} not finite at step "
                f"{int(bad)} (learning rate {float(self.lr(int(bad) - 1)):.4g}){loss}; training stopped and {kept} in "
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
        if self.config.model_ema:
            averaged = self.evaluate(state.replace(params=state.ema["params"], batch_stats=state.ema["batch_stats"]))
            row.update({f"ema_test_{k}": averaged[k] for k in ("loss", "accuracy", "top5")})
            row["elapsed_s"] += averaged["seconds"]
        self._save(state, step, {}, row)
        self.history.append(row)
        if self.main_process:
            report_epoch(self.out, self.history, show=self.config.progress)

    def evaluate(self, state) -> dict:
        """Test metrics of a placed state (see ``evaluate_on``)."""
        return evaluate_on(self.test, self.eval_step, state, self.parallel, self.eval_batch)

    def _result(self, state, stop_signal: int | None = None) -> FitResult:
        fetched = self.parallel.fetch(state)
        return FitResult(self.out, self.model, fetched, self.history, stop_signal is not None, stop_signal)


class EpochMeter:
    """An epoch's metric sums: on device since this session started, plus what an
    interrupted session carried over (host floats)."""

    def __init__(self, carried: dict, parallel: Parallel):
        self.carried = {"seconds": 0.0, "images": 0.0, **carried}
        self.parallel = parallel
        self.device = None
        self.images = 0
        self.started = time.perf_counter()

    def add(self, metrics: dict, batch_size: int) -> None:
        """Add a step's (device) metrics of ``batch_size`` images; no host sync."""
        self.device = add_metrics(self.device, metrics)
        self.images += batch_size

    def speed(self) -> float:
        """Images per second in this session."""
        return self.images / max(time.perf_counter() - self.started, 1e-9)

    def totals(self) -> dict:
        """Host floats: loss, top1, top5, count, the ``nonfinite_*`` steps, images and seconds of the
        epoch so far."""
        fetched = {k: float(v) for k, v in self.parallel.fetch(self.device).items()} if self.device else {}
        totals = {key: self.carried.get(key, 0.0) + fetched.get(key, 0.0) for key in ("loss", "top1", "top5", "count")}
        for key in (f"nonfinite_{what}" for what in NONFINITE):
            totals[key] = min(self.carried.get(key, math.inf), fetched.get(key, math.inf))
        totals["images"] = self.carried["images"] + self.images
        totals["seconds"] = self.carried["seconds"] + time.perf_counter() - self.started
        return totals


def _listed(names: list[str]) -> str:
    """``['a', 'b', 'c']`` -> ``'a, b and c'``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _multiple_of(value: int, divisor: int) -> int:
    return divisor * math.ceil(value / divisor)


def _check_divisible(batch_size: int, devices: int, processes: int) -> None:
    for count, what in ((devices, "devices"), (processes, "processes")):
        if batch_size % count:
            raise ValueError(
                f"batch_size {batch_size} is not divisible by the {count} {what}; use a multiple of {count}"
            )


def fit(
    config: TrainConfig | None = None,
    *,
    train: Dataset | StreamingFolder | None = None,
    test: Dataset | StreamingFolder | None = None,
) -> FitResult:
    """Train ``config.model`` on ``config.data`` (or the given datasets) into ``config.out``.

    ``config.data`` names a dataset or an image folder (see ``TrainConfig``); a folder's classes,
    split, image size and evaluation transform are saved in ``config.json`` (``DataInfo.folder``).

    Writes ``config.json``, ``metrics.jsonl`` (one row per epoch), ``curves.png`` and
    ``checkpoints/`` (every ``checkpoint_every`` steps and at each epoch end, before the epoch's
    row and picture). SIGINT or SIGTERM finishes the current step, saves a checkpoint and returns
    with ``interrupted=True`` (a second one does not wait); before training starts, either raises
    ``StartupInterrupted`` (a ``KeyboardInterrupt``), waiting for a compilation in progress to end.
    A loss, gradient, parameter or batch statistic that becomes NaN or infinite raises
    ``NonFiniteLossError`` naming the step, checked before every save, so the newest checkpoint
    is the last finite one. ``config=None`` trains the defaults (``TrainConfig()``).

    One run per folder: the run holds ``out/.lock`` (process 0 only) until it returns or fails, and
    a second ``fit`` into a locked folder raises ``RunLockedError`` naming the holder's PID. A new
    run refuses a folder that holds files it did not write (``FileExistsError`` naming them); a
    resume continues only the run of the folder's ``config.json``.

    ``train`` and ``test`` may be ``StreamingFolder`` s: their images are decoded from the files
    batch by batch, the training images randomly cropped and flipped on the host (keep
    ``config.pad`` 0 and ``config.flip`` False).
    """
    config = TrainConfig() if config is None else config
    with StopSignals() as stop:
        return _fit(config, train, test, stop)


def _fit(config: TrainConfig, train, test, stop: StopSignals) -> FitResult:
    config = with_weights_overrides(config)
    refuse_mistakes(config)
    if config.distributed:
        initialize_distributed(config)
    with run_lock(config.out, hold=jax.process_index() == 0):
        # before the data loads: a foreign folder, a mismatch or a damaged config.json fails at once
        check_shared_folder(config.out)
        check_run_folder(config, main_process=jax.process_index() == 0)
        folder = None
        if train is None or test is None:
            loaded_train, loaded_test, folder = load_data(config)
            folder = folder if train is None else None
            train = train if train is not None else loaded_train
            test = test if test is not None else loaded_test
        check_splits(config, train, test, main_process=jax.process_index() == 0)
        stop.check_startup()
        model = build_model(config, train.num_classes, train.image_shape[-1])
        info = describe_data(train, config, model, folder)
        stop.check_startup()
        return Run(config, info, model, train, test, stop).run()


def evaluate_on(test: Dataset | StreamingFolder, eval_step, state, parallel: Parallel, batch_size: int) -> dict:
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


def evaluate(out: str | Path, data: str | None = None, *, step: int | None = None, test: Dataset | None = None) -> dict:
    """Test loss and accuracy of a run folder's checkpoint on ``data``'s test split (default:
    the dataset it trained on), normalised with the training statistics; on one device. ``data``
    may be an image folder: its validation part is read as the run read its folder (size,
    channels, evaluation transform), and its classes must be the run's. The metrics of
    ``evaluate_on`` and ``step``, the checkpoint step evaluated."""
    config, info = read_config(out), read_data_info(out)
    if test is None:
        test = load_test_split(
            data or (info.folder["root"] if info.folder else config.data),
            info.folder,
            image_size=info.image_size,
            channels=info.in_channels,
            classes=info.classes,
            val_fraction=config.val_fraction,
            workers=config.workers,
            skip_bad=config.skip_bad,
            seed=config.seed,
            data_root=config.data_root,
        )
    model, variables, step = restore_run(out, step)
    eval_step = jax.jit(make_eval_step(model, transform=transforms(config, info)[1]))
    state = TrainState(variables["params"], variables["batch_stats"], None, jnp.zeros((), jnp.int32), None)
    metrics = evaluate_on(test, eval_step, jax.device_put(state), Parallel("none"), config.eval_batch_size)
    return {**metrics, "step": step}
