"""One step, three ways: none, sharded over Mesh('data') and pmap agree on 8 CPU devices."""

import functools

import jax
import numpy as np
import pytest

from jaxcnn.data import augment, prefetch, train_batches
from jaxcnn.models import create_model
from jaxcnn.training import Parallel, create_train_state, make_eval_step, make_train_step, optimizer
from tests.training.runs import TINY_RESNET


def one_step(mode, state, batch, model, tx, transform):
    parallel = Parallel(mode)
    train_step, _ = parallel.compile(
        make_train_step(model, tx, axis_name=parallel.axis_name, label_smoothing=0.1, transform=transform),
        make_eval_step(model, axis_name=parallel.axis_name),
    )
    placed = next(prefetch([batch], **parallel.prefetch_kwargs()))
    new, metrics = train_step(parallel.place(state), placed)
    return parallel.fetch(new), parallel.fetch(metrics)


@pytest.mark.slow
def test_none_sharded_and_pmap_compute_the_same_step(tiny_data):
    assert jax.device_count() == 8
    train, _ = tiny_data
    model = create_model("resnet20", in_channels=1, **TINY_RESNET)
    tx = optimizer("sgd", 0.1, nesterov=True)
    state = jax.tree.map(np.asarray, create_train_state(model, jax.random.key(0), (1, 32, 32, 1), tx))
    batch = next(train_batches(train, 32, seed=1, epoch=0))
    transform = functools.partial(augment, mean=0.3, std=0.35, out_size=32)
    results = {mode: one_step(mode, state, batch, model, tx, transform) for mode in ("none", "sharded", "pmap")}
    reference_state, reference_metrics = results["none"]
    for mode in ("sharded", "pmap"):
        new, metrics = results[mode]
        # params, batch_stats (global-batch statistics in all three), optimizer state, step
        for a, b in zip(jax.tree.leaves(reference_state), jax.tree.leaves(new), strict=True):
            # float32 gradients summed in another order: compare against each tensor's scale
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()), err_msg=mode)
        np.testing.assert_allclose(metrics["loss"], reference_metrics["loss"], rtol=1e-5, err_msg=mode)
        assert metrics["top1"] == reference_metrics["top1"] and metrics["count"] == 32


@pytest.mark.parametrize("mode", ["sharded", "pmap"])
def test_batch_size_must_split_over_the_devices(mode):
    with pytest.raises(ValueError, match="cannot be split over 8 devices|not divisible by the 8 devices"):
        next(prefetch([{"label": np.zeros(12, np.int32)}], **Parallel(mode).prefetch_kwargs()))
