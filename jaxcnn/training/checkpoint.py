"""Checkpoints with orbax-checkpoint, stored by name: each step folder holds the orbax items
``params``, ``batch_stats`` (absent for a model without batch norm) and ``opt_state`` (pytrees
keyed by layer path, e.g. ``params/conv1/kernel``) and ``extra`` (JSON: the step, which also
fixes the position in the data, the rng key data and the epoch's running sums).

orbax alone opens them: ``ocp.StandardCheckpointer().restore(".../checkpoints/16/params")``.
orbax writes each step into a temporary folder and renames it when complete, so a run
killed mid-save leaves the previous checkpoints as they were (the partial folder is
removed when the next manager opens the directory).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from .state import TrainState

VARIABLES = ("params", "batch_stats")


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

    def save(self, step: int, state: TrainState, sums: dict[str, float]) -> None:
        """Save a host copy of ``state`` (numpy leaves) and the epoch's running ``sums`` at ``step``."""
        if step in self.steps():
            return
        trees = {"params": state.params, "batch_stats": state.batch_stats, "opt_state": state.opt_state}
        items = {name: ocp.args.StandardSave(tree) for name, tree in trees.items() if jax.tree.leaves(tree)}
        extra = {
            "step": int(state.step),
            "rng": np.asarray(state.rng).ravel().tolist(),
            "epoch_sums": {k: float(v) for k, v in sums.items() if math.isfinite(v)},
        }
        self.manager.save(step, args=ocp.args.Composite(**items, extra=ocp.args.JsonSave(extra)))
        self.manager.wait_until_finished()

    def restore(self, template: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, float]]:
        """The whole state saved at ``step`` (default: the latest) with numpy leaves, checked
        against ``template`` (concrete or ``jax.eval_shape`` leaves), and the running sums."""
        step = self._existing(step)
        variables = self.restore_variables({k: getattr(template, k) for k in VARIABLES}, step)
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                opt_state=ocp.args.StandardRestore(template.opt_state), extra=ocp.args.JsonRestore()
            ),
        )
        extra = restored["extra"]
        state = TrainState(
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            opt_state=jax.tree.map(np.asarray, restored["opt_state"]),
            step=np.asarray(extra["step"], template.step.dtype),
            rng=np.asarray(extra["rng"], template.rng.dtype).reshape(template.rng.shape),
        )
        return state, extra["epoch_sums"]

    def restore_variables(self, template: dict, step: int | None = None) -> dict:
        """``{'params', 'batch_stats'}`` saved at ``step`` (default: the latest) as numpy arrays,
        without the optimizer state. ``template`` holds the model's variables (arrays or
        ``jax.ShapeDtypeStruct``); a missing, unexpected or differently shaped layer raises
        ``ValueError`` naming its path and both shapes."""
        step = self._existing(step)
        names = [name for name in VARIABLES if jax.tree.leaves(template.get(name, {}))]
        self._check_layout(step, names)
        restored = self.manager.restore(
            step, args=ocp.args.Composite(**{name: ocp.args.StandardRestore() for name in names})
        )
        return {name: _match(restored[name], template[name], name, step) if name in names else {} for name in VARIABLES}

    def _existing(self, step: int | None) -> int:
        step = self.latest_step() if step is None else step
        if step is None or step not in self.steps():
            raise FileNotFoundError(
                f"no checkpoint{'' if step is None else f' for step {step}'} in {self.directory}; "
                f"saved steps: {self.steps() or 'none'}"
            )
        return step

    def _check_layout(self, step: int, names: list[str]) -> None:
        folder = self.directory / str(step)
        items = {path.name for path in folder.iterdir() if path.is_dir()}
        if "default" in items and "params" not in items:
            raise ValueError(
                f"checkpoint step {step} in {self.directory} has the old index layout (arrays saved as '00000', "
                "'00001', ... without layer names, jaxcnn 0.1.0); it cannot be matched to the model by name. "
                "Train again, or restore it with jaxcnn 0.1.0 and save the variables."
            )
        missing = [name for name in names if name not in items]
        if missing:
            raise ValueError(
                f"checkpoint step {step} in {self.directory} has no {', '.join(missing)} item (it holds "
                f"{', '.join(sorted(items)) or 'nothing'}); the model of config.json needs {', '.join(names)}"
            )


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
        raise ValueError(f"checkpoint step {step} does not fit the model: {'; '.join(problems)}")
    return jax.tree.unflatten(jax.tree.structure(template), [np.asarray(theirs[path]) for path in ours])


def _by_path(tree: Any, prefix: str) -> dict[str, Any]:
    """``{'params/conv1/kernel': leaf, ...}`` in the tree's flattening order."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join([prefix, *(str(getattr(k, "key", k)) for k in path)]): leaf for path, leaf in flat}
