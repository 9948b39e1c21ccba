"""Reading a run folder back: its model and variables (``load_checkpoint``) and their test
metrics (``evaluate``), from ``config.json`` and the checkpoints alone. Readers never write into a
run folder: they may read one that a live run holds."""

from __future__ import annotations

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.data import Dataset

from .config import read_config
from .inputs import test_data
from .loop import evaluate_on
from .parallel import Parallel
from .runfolder import read_data_info
from .setup import transforms
from .sources import restore_run
from .state import TrainState
from .steps import make_eval_step


def load_checkpoint(out: str | Path, step: int | None = None) -> tuple[nn.Module, dict]:
    """The model and ``{'params', 'batch_stats'}`` (numpy) of a run folder's checkpoint at ``step``
    (default: the newest that can be restored; newer ones that cannot are reported on stderr with
    their folder), restored by layer name without building the optimizer."""
    model, variables, _ = restore_run(out, step)
    return model, variables


def evaluate(out: str | Path, data: str | None = None, *, step: int | None = None, test: Dataset | None = None) -> dict:
    """Test loss and accuracy of a run folder's checkpoint on ``data``'s test split (default:
    the dataset it trained on), normalised with the training statistics; on one device. ``data``
    may be an image folder: its validation part is read as the run read its folder (size,
    channels, evaluation transform), and its classes must be the run's. The metrics of
    ``evaluate_on`` and ``step``, the checkpoint step evaluated."""
    config, info = read_config(out), read_data_info(out)
    test = test if test is not None else test_data(config, info, data)
    model, variables, step = restore_run(out, step)
    eval_step = jax.jit(make_eval_step(model, transform=transforms(config, info)[1]))
    state = TrainState(variables["params"], variables["batch_stats"], None, jnp.zeros((), jnp.int32), None)
    metrics = evaluate_on(test, eval_step, jax.device_put(state), Parallel("none"), config.eval_batch_size)
    return {**metrics, "step": step}
