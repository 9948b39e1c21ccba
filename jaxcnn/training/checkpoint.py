"""Checkpoints with orbax-checkpoint: the whole TrainState plus the epoch's running sums.

orbax writes each step into a temporary folder and renames it when complete, so a run
killed mid-save leaves the previous checkpoints as they were (the partial folder is
removed when the next manager opens the directory).
"""

from __future__ import annotations

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
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        """Saved steps, oldest first."""
        self.manager.reload()  # another process (or a killed run) may have written steps since
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest saved step, or None."""
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, state: Any, extra: dict[str, float]) -> None:
        """Save a host copy of the state (numpy leaves) and scalar ``extra`` values at ``step``."""
        if step in self.steps():
            return
        tree = {
            "leaves": {f"{i:05d}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state))},
            "extra": {k: np.asarray(v, np.float64) for k, v in extra.items()},
        }
        self.manager.save(step, args=ocp.args.StandardSave(tree))
        self.manager.wait_until_finished()

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, float]]:
        """The state saved at ``step`` (default: the latest) in the structure of ``template``,
        with numpy leaves, and the ``extra`` values."""
        step = self.latest_step() if step is None else step
        if step is None or step not in self.steps():
            raise FileNotFoundError(
                f"no checkpoint{'' if step is None else f' for step {step}'} in {self.directory}; "
                f"saved steps: {self.steps() or 'none'}"
            )
        restored = self.manager.restore(step, args=ocp.args.StandardRestore())
        leaves, treedef = jax.tree.flatten(template)
        saved = restored["leaves"]
        if len(saved) != len(leaves):
            raise ValueError(
                f"checkpoint step {step} in {self.directory} holds {len(saved)} arrays, the model "
                f"and optimizer of config.json need {len(leaves)}"
            )
        arrays = [np.asarray(saved[f"{i:05d}"]) for i in range(len(leaves))]
        for i, (array, leaf) in enumerate(zip(arrays, leaves)):
            if array.shape != np.shape(leaf):
                raise ValueError(
                    f"checkpoint step {step}: array {i} has shape {array.shape}, expected {np.shape(leaf)}"
                )
        return jax.tree.unflatten(treedef, arrays), {k: float(v) for k, v in restored["extra"].items()}
