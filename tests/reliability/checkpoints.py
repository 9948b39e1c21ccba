"""Reading every checkpoint of a run folder, for comparisons between runs."""

from pathlib import Path

from jaxcnn.training import Checkpoints, read_config
from jaxcnn.training.parts import build, initial_state
from jaxcnn.training.runfolder.record import read_data_info


def template(out):
    """The abstract TrainState of the run in ``out`` (shapes and dtypes from its config.json)."""
    config, info = read_config(out), read_data_info(out)
    model, tx, _, _ = build(config, info)
    return initial_state(config, info, model, tx, abstract=True)


def saved_states(out) -> dict:
    """{step: (state with numpy leaves, extra)} of every checkpoint in ``out/checkpoints``."""
    checkpoints = Checkpoints(Path(out) / "checkpoints")
    try:
        shape = template(out)
        return {step: checkpoints.restore(shape, step) for step in checkpoints.steps()}
    finally:
        checkpoints.close()
