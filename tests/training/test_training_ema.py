"""``--model-ema``: the moving average of the weights against torchvision's train.py and
``ExponentialMovingAverage`` transcribed here (its decay adjustment, updates every k-th batch of an
epoch, copies while warming up), from the run's own checkpoint of every step; evaluated, saved and
read back beside the weights."""

import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from jaxcnn.data import embedded
from jaxcnn.serve.predict import Predictor
from jaxcnn.training import fit
from jaxcnn.training.runfolder.checkpoints import Checkpoints
from tests.training.runs import subset, tiny_config

EMA = {"model_ema": True, "model_ema_steps": 2, "model_ema_decay": 0.99, "warmup_epochs": 1}
TRAIN, PER_EPOCH = 128, 4  # 2 epochs of 4 steps of 32 images


@pytest.fixture
def averaged_run(tmp_path_factory):
    """2 epochs of 4 steps with the average updated every 2nd batch, a checkpoint after every step."""
    train, test = subset(embedded.load("train"), TRAIN), subset(embedded.load("test"), 100)
    out = tmp_path_factory.mktemp("ema")
    return fit(tiny_config(out, checkpoint_every=1, keep_checkpoints=20, **EMA), train=train, test=test)


def torchvision_average(variables_after_step, epochs: int, per_epoch: int, batch_size: int):
    """torchvision's references/classification/train.py with ``--model-ema``, as it is written."""
    adjust = 1 * batch_size * EMA["model_ema_steps"] / epochs  # world_size * batch_size * model_ema_steps / epochs
    alpha = min(1.0, (1.0 - EMA["model_ema_decay"]) * adjust)
    decay = 1.0 - alpha
    averaged, n_averaged = None, 0
    for epoch in range(epochs):
        for i in range(per_epoch):
            if i % EMA["model_ema_steps"] == 0:  # model_ema.update_parameters(model)
                model = variables_after_step(epoch * per_epoch + i + 1)
                if n_averaged == 0:
                    averaged = [np.array(p) for p in model]
                else:
                    averaged = [np.float32(decay) * a + np.float32(1 - decay) * p for a, p in zip(averaged, model)]
                n_averaged += 1
                if epoch < EMA["warmup_epochs"]:
                    n_averaged = 0
    return averaged


def by_path(variables: dict) -> list:
    """The parameters then the batch statistics, each in the order of their sorted paths."""
    return [leaf for k in ("params", "batch_stats") for _, leaf in sorted(flatten_dict(variables[k]).items())]


def test_the_average_is_torchvisions_of_the_weights_after_each_update_evaluated_and_served(averaged_run):
    checkpoints = Checkpoints(averaged_run.out / "checkpoints")
    template = averaged_run.variables
    expected = torchvision_average(lambda s: by_path(checkpoints.restore_variables(template, s)), 2, PER_EPOCH, 32)
    saved = by_path(checkpoints.restore_variables(template, 2 * PER_EPOCH, ema=True))
    for ours, theirs in zip(saved, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    in_memory = by_path(averaged_run.state.ema)
    for ours, theirs in zip(in_memory, saved, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert not np.allclose(saved[0], by_path(template)[0])  # an average, not the last weights
    # evaluated each epoch, and served on request
    row = averaged_run.history[-1]
    assert {"ema_test_loss", "ema_test_accuracy", "ema_test_top5"} <= set(row)
    assert row["ema_test_accuracy"] != row["test_accuracy"] or row["ema_test_loss"] != row["test_loss"]
    averaged = Predictor.from_source(averaged_run.out, ema=True)
    plain = Predictor.from_source(averaged_run.out)
    saved = Checkpoints(averaged_run.out / "checkpoints").restore_variables(averaged_run.variables, 8, ema=True)
    for ours, theirs in zip(by_path(averaged.variables), by_path(saved), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert not np.array_equal(by_path(averaged.variables)[0], by_path(plain.variables)[0])
