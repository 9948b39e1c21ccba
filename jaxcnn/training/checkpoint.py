"""Checkpoints with orbax-checkpoint: the whole TrainState plus the epoch's running sums.

orbax writes each step into a temporary folder and renames it when complete, so a run
killed mid-save leaves the previous checkpoints as they were (the partial folder is
removed when the next manager opens the directory).

Failing safe: a step whose files cannot be restored (garbled, truncated, deleted) is
reported with its step and folder, and the newest step that can be restored is used
instead (``restore_newest``); nothing is deleted. A resume that continues before such a
step moves it into ``unreadable-checkpoints/`` (``set_aside``), and ``save`` never
overwrites a step that this run did not write.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpoints:
    """The ``checkpoints/`` folder of a run: save, list and restore steps, keeping the last ``keep``."""

    def __init__(self, directory: str | Path, keep: int = 3):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False, cleanup_tmp_directories=True
        )
        self.directory = Path(directory).absolute()
        with _quiet():
            self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._saved: set[int] = set()  # steps this object wrote

    def steps(self) -> list[int]:
        """Saved steps, oldest first."""
        with _quiet():
            self.manager.reload()  # another process (or a killed run) may have written steps since
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest saved step, or None."""
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, state: Any, extra: dict[str, float]) -> None:
        """Save a host copy of the state (numpy leaves) and scalar ``extra`` values at ``step``.

        A step this object saved already is skipped; a step that exists but was written by
        something else (another run, or one set aside as unreadable) raises ``FileExistsError``
        rather than being overwritten or silently kept."""
        if step in self.steps():
            if step in self._saved:
                return
            raise FileExistsError(
                f"checkpoint step {step} already exists in {self.directory} and was not written by this run; "
                "it is left as it is: move it away or choose another --out"
            )
        leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(state)]
        tree = {
            "leaves": {f"{i:05d}": leaf for i, leaf in enumerate(leaves)},
            "extra": {k: np.asarray(v, np.float64) for k, v in extra.items()},
            "sha256": digest(leaves),
        }
        self.manager.save(step, args=ocp.args.StandardSave(tree))
        self.manager.wait_until_finished()
        self._saved.add(step)

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, float]]:
        """The state saved at ``step`` in the structure of ``template``, with numpy leaves, and the
        ``extra`` values; ``step=None``: the newest step that can be restored (see ``restore_newest``).

        Raises:
          FileNotFoundError: no such step (or no checkpoint at all).
          UnreadableCheckpointError: the step's files cannot be restored; names the step and folder.
        """
        if step is None:
            state, extra, _ = self.restore_newest(template)
            return state, extra
        if step not in self.steps():
            raise FileNotFoundError(
                f"no checkpoint for step {step} in {self.directory}; saved steps: {self.steps() or 'none'}"
            )
        try:
            with _quiet():
                restored = self.manager.restore(step, args=ocp.args.StandardRestore())
            return _unpack(restored, template)
        except Exception as err:
            raise UnreadableCheckpointError(step, self.directory / str(step), err, self.steps()) from err

    def restore_newest(self, template: Any, report=None) -> tuple[Any, dict[str, float], int]:
        """(state, extra, step) of the newest checkpoint that can be restored. Each newer one that
        cannot is reported (step, folder, reason) through ``report`` (default: a line on stderr)
        and left in place.

        Raises:
          FileNotFoundError: no checkpoint; UnreadableCheckpointError: none can be restored.
        """
        steps = self.steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        failures = []
        for step in reversed(steps):
            try:
                state, extra = self.restore(template, step)
            except UnreadableCheckpointError as err:
                failures.append(err)
                continue
            for err in failures:
                (report or _warn)(f"warning: {err.describe()}; using step {step} instead (choose one with --step)")
            return state, extra, step
        raise UnreadableCheckpointError.none_of(failures, self.directory)

    def set_aside(self, steps: list[int]) -> list[Path]:
        """Move the folders of ``steps`` (unreadable ones a resume continues before) out of the
        checkpoints folder into ``unreadable-checkpoints/`` beside it, where they are kept, so the
        run can write those steps anew; returns their new paths."""
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


class UnreadableCheckpointError(ValueError):
    """A checkpoint that cannot be restored: ``step``, its folder ``path`` and the ``reason``."""

    def __init__(self, step: int | None, path: Path, reason: BaseException | str, saved: list[int] = ()):
        self.step, self.path = step, path
        self.reason = reason if isinstance(reason, str) else _reason(reason)
        others = [s for s in saved if s != step]
        hint = f"; other saved steps: {', '.join(map(str, others))} (choose one with --step)" if others else ""
        super().__init__(f"{self.describe()}{hint}")

    def describe(self) -> str:
        """One line: which step, where, why."""
        return f"checkpoint step {self.step} in {self.path} cannot be restored: {self.reason}"

    @classmethod
    def none_of(cls, failures: list[UnreadableCheckpointError], directory: Path) -> UnreadableCheckpointError:
        """The error for a folder whose every checkpoint failed (newest first)."""
        reasons = "; ".join(f"step {f.step}: {f.reason}" for f in failures)
        return cls(None, directory, f"none of its checkpoints can be restored ({reasons})")


def _unpack(restored: dict, template: Any) -> tuple[Any, dict[str, float]]:
    """The template-shaped state and the extra values of a restored tree; checks count and shapes."""
    leaves, treedef = jax.tree.flatten(template)
    saved = restored["leaves"]
    if len(saved) != len(leaves):
        raise ValueError(f"it holds {len(saved)} arrays, the model and optimizer of config.json need {len(leaves)}")
    arrays = [np.asarray(saved[f"{i:05d}"]) for i in range(len(leaves))]
    for i, (array, leaf) in enumerate(zip(arrays, leaves)):
        if array.shape != np.shape(leaf):
            raise ValueError(f"array {i} has shape {array.shape}, expected {np.shape(leaf)}")
    if "sha256" in restored and not np.array_equal(np.asarray(restored["sha256"]), digest(arrays)):
        raise ValueError("its arrays do not match the sha256 saved with them (the files were changed or damaged)")
    return jax.tree.unflatten(treedef, arrays), {k: float(v) for k, v in restored["extra"].items()}


def digest(arrays: list[np.ndarray]) -> np.ndarray:
    """sha256 over the dtype, shape and bytes of each array, in order: uint8 [32]. Saved with each
    checkpoint and checked on restore, so a changed bit in a data file is found (tensorstore's own
    checks catch damaged metadata and compressed streams, but not every flipped bit of a chunk)."""
    h = hashlib.sha256()
    for array in arrays:
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return np.frombuffer(h.digest(), np.uint8).copy()


def _reason(err: BaseException) -> str:
    """The first line of an error, at most 200 characters, with its type when that says more."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if not isinstance(err, ValueError | OSError):
        text = f"{type(err).__name__}: {text}"
    return text if len(text) <= 200 else text[:197] + "..."


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


@contextlib.contextmanager
def _quiet():
    """Keep orbax and tensorstore from writing to stderr while a checkpoint is read: their log
    lines and, after a failed read, the tracebacks of callbacks that find orbax's event loop
    closed. Our own error says what went wrong instead."""
    loggers, stderr = [logging.getLogger(name) for name in ("absl", "asyncio")], sys.stderr
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    sys.stderr = io.StringIO()
    try:
        yield
    except BaseException:
        time.sleep(_SETTLE_S)  # let the failed read's pending callbacks fail into the sink
        gc.collect()  # and its never-awaited tasks log their errors now, not later
        raise
    finally:
        sys.stderr = stderr
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


_SETTLE_S = 0.2
