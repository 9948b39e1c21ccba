"""Checkpoints with orbax-checkpoint, stored by name: each step folder holds the orbax items
``params``, ``batch_stats`` (absent for a model without batch norm), ``opt_state`` (pytrees
keyed by layer path, e.g. ``params/conv1/kernel``), ``ema`` (``--model-ema``'s average of the
first two, absent without) and ``extra`` (JSON: the step, which also
fixes the position in the data, the rng key data, the epoch's running sums and a sha256 of
each item's arrays).

orbax alone opens them: ``ocp.StandardCheckpointer().restore(".../checkpoints/16/params")``.
orbax writes each step into a temporary folder and renames it when complete, so a run
killed mid-save leaves the previous checkpoints as they were. Readers (``writer=False``) never
write: they create nothing and leave temporary folders alone, since those may be a live run's
save in progress. The writer (the run that holds the folder's lock) removes the partial folders
of killed runs when it opens the folder, and those of its own saves that fail.

Failing safe: a step whose files cannot be restored (garbled, truncated, deleted, or arrays
that no longer match their sha256) is reported with its step and folder, and the newest step
that can be restored is used instead (``restore_newest``); nothing is deleted. A resume that
continues before such a step moves it into ``unreadable-checkpoints/`` (``set_aside``), and
``save`` never overwrites a step that this run did not write.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import logging
import math
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from ..step import TrainState

VARIABLES = ("params", "batch_stats")


TMP_SUFFIX = ".orbax-checkpoint-tmp"  # orbax's name for a step folder being written


LIST_TRIES = 5  # listings of a folder whose steps a live run deletes while they are read


class Checkpoints:
    """The ``checkpoints/`` folder of a run: save, list and restore steps, keeping the last ``keep``.

    By default it is opened read-only: nothing is created or cleaned up, so a reader never disturbs
    a run writing into the same folder. ``writer=True`` is for the one run that holds the folder's
    lock (``runfolder.lock.run_lock``): it creates the folder, removes partial saves and may save."""

    def __init__(self, directory: str | Path, keep: int = 3, *, writer: bool = False):
        self.directory = Path(directory).absolute()
        self.writer = writer
        with _quiet():  # orbax logs each option a read-only manager ignores
            options = ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                create=writer,
                read_only=not writer,
                enable_async_checkpointing=False,
                cleanup_tmp_directories=writer,
            )
            self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._saved: set[int] = set()  # steps this object wrote

    def steps(self) -> list[int]:
        """Saved steps, oldest first."""
        for attempt in range(LIST_TRIES):
            try:
                with _quiet():
                    self.manager.reload()  # another process (or a killed run) may have written steps since
                return sorted(self.manager.all_steps())
            except FileNotFoundError:  # a step deleted (max_to_keep) while orbax listed the folder
                if attempt == LIST_TRIES - 1:
                    raise

    def latest_step(self) -> int | None:
        """The newest saved step, or None."""
        steps = self.steps()
        return steps[-1] if steps else None

    def taken_after(self, step: int) -> list[int]:
        """The steps after ``step`` whose place in the folder is taken: saved steps, and anything
        else named like one (a file where a step folder was)."""
        names = [entry.name for entry in self.directory.iterdir()] if self.directory.is_dir() else []
        return sorted(int(name) for name in names if name.isdigit() and int(name) > step)

    def save(self, step: int, state: TrainState, sums: dict[str, float], row: dict | None = None) -> None:
        """Save a host copy of ``state`` (numpy leaves), the epoch's running ``sums`` and, at an
        epoch's end, its metrics ``row`` at ``step``.

        A step this object saved already is skipped; a step that exists but was written by
        something else (another run, one set aside as unreadable, or a file in the step folder's
        place) raises ``FileExistsError`` rather than being overwritten or silently kept. A save
        that fails removes its partial folder and raises; orbax's own reports of the failure are
        kept off stderr (the caller reports it in one line)."""
        self._check_writer()
        if step in self._saved:
            return
        if os.path.lexists(self.directory / str(step)):
            raise FileExistsError(
                f"checkpoint step {step} already exists in {self.directory} and was not written by this run; "
                "it is left as it is: move it away or choose another --out"
            )
        trees = {"params": state.params, "batch_stats": state.batch_stats, "opt_state": state.opt_state}
        trees["ema"] = state.ema  # the moving average of --model-ema, None without
        trees = {name: jax.tree.map(np.asarray, tree) for name, tree in trees.items() if jax.tree.leaves(tree)}
        extra = {
            "step": int(state.step),
            "rng": np.asarray(state.rng).ravel().tolist(),
            "epoch_sums": {k: float(v) for k, v in sums.items() if math.isfinite(v)},
            "sha256": {name: digest(jax.tree.leaves(tree)) for name, tree in trees.items()},
            **({"row": row} if row else {}),
        }
        items = {name: ocp.args.StandardSave(tree) for name, tree in trees.items()}
        try:
            with _quiet():
                self.manager.save(step, args=ocp.args.Composite(**items, extra=ocp.args.JsonSave(extra)))
                self.manager.wait_until_finished()
        except BaseException:
            self._remove_partial(step)
            raise
        self._saved.add(step)

    def _check_writer(self) -> None:
        if not self.writer:
            raise PermissionError(f"{self.directory} was opened read-only; open it with writer=True to change it")

    def _remove_partial(self, step: int) -> None:
        """Delete the temporary folders of a failed save of ``step`` (they may hold most of a full disk)."""
        for partial in self.directory.glob(f"{step}{TMP_SUFFIX}*"):
            shutil.rmtree(partial, ignore_errors=True)

    def restore(self, template: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, float]]:
        """The whole state saved at ``step`` with numpy leaves, checked against ``template``
        (concrete or ``jax.eval_shape`` leaves), and the running sums; ``step=None``: the newest
        step that can be restored (see ``restore_newest``).

        Raises:
          FileNotFoundError: no such step (or no checkpoint at all).
          UnreadableCheckpointError: the step's files cannot be restored; names the step and folder.
        """
        if step is None:
            state, sums, _ = self.restore_newest(template)
            return state, sums
        return self._readable(step, lambda: self._restore_state(template, step))

    def restore_newest(self, template: TrainState, report: Callable[[str], None] | None = None):
        """(state, sums, step) of the newest checkpoint that can be restored. Each newer one that
        cannot is reported (step, folder, reason) through ``report`` (default: a line on stderr)
        and left in place.

        Raises:
          FileNotFoundError: no checkpoint; UnreadableCheckpointError: none can be restored.
        """
        (state, sums), step = self._newest(lambda step: self.restore(template, step), report)
        return state, sums, step

    def saved_row(self, step: int) -> dict | None:
        """The metrics row saved with ``step`` (epoch ends only), or None; None also when the
        step's extra item cannot be read (the restore reports that)."""
        try:
            with _quiet():
                extra = self.manager.restore(step, args=ocp.args.Composite(extra=ocp.args.JsonRestore()))["extra"]
        except Exception:
            return None
        return extra.get("row") if isinstance(extra, dict) else None

    def restore_variables(self, template: dict, step: int | None = None, *, ema: bool = False) -> dict:
        """``{'params', 'batch_stats'}`` saved at ``step`` (default: the newest that can be
        restored) as numpy arrays, without the optimizer state; ``ema``: their moving average
        (``--model-ema``; ``CheckpointMismatchError`` for a run without one). ``template`` holds the model's
        variables (arrays or ``jax.ShapeDtypeStruct``); a missing, unexpected or differently
        shaped layer raises ``ValueError`` naming its path and both shapes."""
        return self.restore_variables_and_step(template, step, ema=ema)[0]

    def restore_variables_and_step(self, template: dict, step: int | None = None, *, ema: bool = False):
        """``(variables, step)``: ``restore_variables`` and the step it restored."""
        if step is None:
            return self._newest(lambda step: self.restore_variables(template, step, ema=ema))
        restore = self._restore_average if ema else self._restore_variables
        return self._readable(step, lambda: restore(template, step)), step

    def set_aside(self, steps: list[int]) -> list[Path]:
        """Move what is in the place of ``steps`` (unreadable ones a resume continues before) out of the
        checkpoints folder into ``unreadable-checkpoints/`` beside it, where they are kept, so the
        run can write those steps anew; returns their new paths."""
        self._check_writer()
        aside = self.directory.parent / "unreadable-checkpoints"
        aside.mkdir(exist_ok=True)
        moved = []
        for step in steps:
            target, n = aside / str(step), 1
            while target.exists():
                n += 1
                target = aside / f"{step}-{n}"
            os.replace(self.directory / str(step), target)
            moved.append(target)
        self.manager.reload()
        return moved

    def close(self) -> None:
        """Stop orbax's background work (call when done with the checkpoints)."""
        self.manager.close()

    def _newest(self, restore_step: Callable[[int], Any], report: Callable[[str], None] | None = None):
        """``(restore_step(step), step)`` for the newest step that restores; see ``restore_newest``.
        A step that a live run deletes while it is read (``keep_checkpoints``) is no failure: the
        folder is listed again and its newest step read."""
        for _ in range(LIST_TRIES):
            steps = self.steps()
            if not steps:
                raise FileNotFoundError(f"no checkpoint in {self.directory}")
            failures = []
            for step in reversed(steps):
                try:
                    restored = restore_step(step)
                except (UnreadableCheckpointError, FileNotFoundError) as err:
                    if not (self.directory / str(step)).exists():
                        break  # deleted since listed: list again
                    if isinstance(err, FileNotFoundError):
                        raise
                    failures.append(err)
                    continue
                for err in failures:
                    (report or _warn)(f"warning: {err.describe()}; using step {step} instead (choose one with --step)")
                return restored, step
            else:
                raise UnreadableCheckpointError.none_of(failures, self.directory)
        raise FileNotFoundError(
            f"the checkpoints in {self.directory} were deleted faster than they could be read (steps {steps} went "
            "while reading); a run writing there keeps too few (--keep-checkpoints): read again, or copy one first"
        )

    def _readable(self, step: int, restore: Callable[[], Any]) -> Any:
        """``restore()`` of an existing ``step``; any failure becomes ``UnreadableCheckpointError``."""
        if step not in self.steps():
            raise FileNotFoundError(
                f"no checkpoint for step {step} in {self.directory}; saved steps: {self.steps() or 'none'}"
            )
        try:
            with _quiet():
                return restore()
        except CheckpointMismatchError:
            raise  # the files are fine; they hold another model: falling back would not help
        except Exception as err:
            raise UnreadableCheckpointError(step, self.directory / str(step), err, self.steps()) from err

    def _restore_state(self, template: TrainState, step: int) -> tuple[TrainState, dict[str, float]]:
        variables = self._restore_variables({k: getattr(template, k) for k in VARIABLES}, step)
        trees = {"opt_state": template.opt_state, "ema": template.ema}
        trees = {name: tree for name, tree in trees.items() if jax.tree.leaves(tree)}
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                **{name: ocp.args.StandardRestore(tree) for name, tree in trees.items()}, extra=ocp.args.JsonRestore()
            ),
        )
        extra = restored["extra"]
        trees = {name: jax.tree.map(np.asarray, restored[name]) for name in trees}
        for name, tree in trees.items():
            _check_digest(extra, name, tree)
        opt_state, ema = trees.get("opt_state", template.opt_state), trees.get("ema")
        state = TrainState(
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            opt_state=opt_state,
            step=np.asarray(extra["step"], template.step.dtype),
            rng=np.asarray(extra["rng"], template.rng.dtype).reshape(template.rng.shape),
            ema=ema,
        )
        return state, extra["epoch_sums"]

    def _restore_variables(self, template: dict, step: int) -> dict:
        names = [name for name in VARIABLES if jax.tree.leaves(template.get(name, {}))]
        self._check_layout(step, names)
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                extra=ocp.args.JsonRestore(), **{name: ocp.args.StandardRestore() for name in names}
            ),
        )
        variables = {
            name: _match(restored[name], template[name], name, step) if name in names else {} for name in VARIABLES
        }
        for name in names:
            _check_digest(restored["extra"], name, variables[name])
        return variables

    def _restore_average(self, template: dict, step: int) -> dict:
        if not (self.directory / str(step) / "ema").is_dir():
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.directory} holds no moving average of the weights: "
                "the run was trained without --model-ema"
            )
        with _quiet():
            restored = self.manager.restore(
                step, args=ocp.args.Composite(extra=ocp.args.JsonRestore(), ema=ocp.args.StandardRestore())
            )
        average = jax.tree.map(np.asarray, restored["ema"])
        _check_digest(restored["extra"], "ema", average)
        return {name: _match(average.get(name, {}), template[name], name, step) for name in VARIABLES}

    def _check_layout(self, step: int, names: list[str]) -> None:
        folder = self.directory / str(step)
        items = {path.name for path in folder.iterdir() if path.is_dir()}
        if "default" in items and "params" not in items:
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.directory} has the old index layout (arrays saved as '00000', "
                "'00001', ... without layer names, jaxcnn 0.1.0); it cannot be matched to the model by name. "
                "Train again, or restore it with jaxcnn 0.1.0 and save the variables."
            )
        missing = [name for name in names if name not in items]
        if missing:
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.directory} has no {', '.join(missing)} item (it holds "
                f"{', '.join(sorted(items)) or 'nothing'}); the model of config.json needs {', '.join(names)}"
            )


class CheckpointMismatchError(ValueError):
    """A readable checkpoint that does not fit the model (other layers or shapes, or the old layout)."""


class UnreadableCheckpointError(ValueError):
    """A checkpoint that cannot be restored: ``step``, its folder ``path`` and the ``reason``."""

    def __init__(self, step: int | None, path: Path, reason: BaseException | str, saved: list[int] = ()):
        self.step, self.path = step, path
        self.reason = reason if isinstance(reason, str) else first_line(reason)
        others = [s for s in saved if s != step]
        hint = f"; other saved steps: {', '.join(map(str, others))} (choose one with --step)" if others else ""
        super().__init__(f"{self.describe()}{hint}")

    def describe(self) -> str:
        """One line: which step, where, why."""
        which = "the checkpoints" if self.step is None else f"checkpoint step {self.step}"
        return f"{which} in {self.path} cannot be restored: {self.reason}"

    @classmethod
    def none_of(cls, failures: list[UnreadableCheckpointError], directory: Path) -> UnreadableCheckpointError:
        """The error for a folder whose every checkpoint failed (newest first)."""
        reasons = "; ".join(f"step {f.step}: {f.reason}" for f in failures)
        return cls(None, directory, f"none of its checkpoints can be restored ({reasons})")


class NonFiniteWeightsError(ValueError):
    """Weights holding NaN or infinity (a diverged run's): refused rather than answered from."""


def check_finite_weights(variables: dict, where: str, hint: str = "") -> None:
    """``NonFiniteWeightsError`` naming ``where`` and the first layers when an array of
    ``variables`` (``{'params', 'batch_stats'}``) holds a NaN or an infinity."""
    bad = [
        path
        for name in VARIABLES
        for path, leaf in _by_path(variables.get(name, {}), name).items()
        if not np.all(np.isfinite(leaf))
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise NonFiniteWeightsError(f"{where} holds NaN or infinite values (in {shown}): a diverged run's{hint}")


def _match(saved: Any, template: Any, name: str, step: int) -> Any:
    """``saved`` (nested dicts of arrays) in ``template``'s structure; ``ValueError`` listing
    every layer path that is missing, unexpected or of another shape."""
    ours, theirs = _by_path(template, name), _by_path(saved, name)
    problems = [f"{path} is missing from the checkpoint" for path in ours if path not in theirs]
    problems += [f"{path} is in the checkpoint but not in the model" for path in theirs if path not in ours]
    problems += [
        f"{path} has shape {tuple(theirs[path].shape)} in the checkpoint, the model expects {tuple(ours[path].shape)}"
        for path in ours
        if path in theirs and tuple(theirs[path].shape) != tuple(ours[path].shape)
    ]
    if problems:
        raise CheckpointMismatchError(f"checkpoint step {step} does not fit the model: {'; '.join(problems)}")
    return jax.tree.unflatten(jax.tree.structure(template), [np.asarray(theirs[path]) for path in ours])


def _by_path(tree: Any, prefix: str) -> dict[str, Any]:
    """``{'params/conv1/kernel': leaf, ...}`` in the tree's flattening order."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join([prefix, *(str(getattr(k, "key", k)) for k in path)]): leaf for path, leaf in flat}


def _check_digest(extra: dict, name: str, tree: Any) -> None:
    """``ValueError`` when the arrays of item ``name`` differ from the sha256 saved with them."""
    saved = extra.get("sha256", {}).get(name)
    if saved is not None and saved != digest(jax.tree.leaves(tree)):
        raise ValueError(f"its {name} arrays do not match their saved sha256 (the files were changed or damaged)")


def digest(arrays: list[np.ndarray]) -> str:
    """sha256 (hex) over the dtype, shape and bytes of each array, in order. Saved with each
    checkpoint and checked on restore, so a changed bit in a data file is found (tensorstore's own
    checks catch damaged metadata and compressed streams, but not every flipped bit of a chunk)."""
    h = hashlib.sha256()
    for array in map(np.asarray, arrays):
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def first_line(err: BaseException) -> str:
    """The first line of an error, at most 200 characters, with its type when that says more."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if not isinstance(err, ValueError | OSError):
        text = f"{type(err).__name__}: {text}"
    return text if len(text) <= 200 else text[:197] + "..."


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


@contextlib.contextmanager
def _quiet():
    """Keep orbax and tensorstore from writing to stderr while a checkpoint is read or written:
    their log lines and, after a failure, the tracebacks of callbacks that find orbax's event loop
    closed and of futures whose errors nobody retrieved. Our own error says what went wrong instead."""
    loggers, stderr = [logging.getLogger(name) for name in ("absl", "asyncio")], sys.stderr
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    sys.stderr = io.StringIO()
    try:
        yield
    except BaseException as err:
        time.sleep(_SETTLE_S)  # let the failed read's pending callbacks fail into the sink
        traceback.clear_frames(err.__traceback__)  # the frames of the failure hold its futures:
        gc.collect()  # its never-awaited tasks log their errors now, not when the error is dropped
        raise
    finally:
        sys.stderr = stderr
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


_SETTLE_S = 0.2
