"""Reading every checkpoint of a run folder, for comparisons between runs."""

import importlib
from pathlib import Path

from jaxcnn.training import Checkpoints, read_config

fit_module = importlib.import_module("jaxcnn.training.fit")


def template(out):
    """The abstract TrainState of the run in ``out`` (shapes and dtypes from its config.json)."""
    config, info = read_config(out), fit_module.read_data_info(out)
    model, tx, _, _ = fit_module.build(config, info)
    return fit_module.initial_state(config, info, model, tx, abstract=True)


def saved_states(out) -> dict:
    """{step: (state with numpy leaves, extra)} of every checkpoint in ``out/checkpoints``."""
    checkpoints = Checkpoints(Path(out) / "checkpoints")
    try:
        shape = template(out)
        return {step: checkpoints.restore(shape, step) for step in checkpoints.steps()}
    finally:
        checkpoints.close()
