"""Batch norm per group of images (``bn_group_size``), as GPUs that each normalise their own share
of a batch: against flax's ``nn.BatchNorm`` applied to each group alone (the running statistics:
to the first group, the one DDP broadcasts), for one layer, a whole ResNet in train mode, and
under ``pmap`` against one device."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from jaxcnn.models import create_model
from jaxcnn.models.layers import GroupedBatchNorm

X = np.random.default_rng(0).normal(2.0, 3.0, (16, 5, 4, 6)).astype(np.float32)


def flax_bn(x, variables):
    """``nn.BatchNorm`` in train mode on ``x`` alone: (output, new batch_stats)."""
    return nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5).apply(
        variables, x, mutable=["batch_stats"]
    )


def test_each_group_is_normalised_by_its_own_statistics_and_the_first_updates_the_running_ones():
    layer = GroupedBatchNorm(group_size=4)
    variables = layer.init(jax.random.key(0), X)
    rng = np.random.default_rng(1)
    variables = {
        "params": {"scale": rng.normal(size=6).astype(np.float32), "bias": rng.normal(size=6).astype(np.float32)},
        "batch_stats": {"mean": rng.normal(size=6).astype(np.float32), "var": rng.uniform(1, 2, 6).astype(np.float32)},
    }
    out, updates = layer.apply(variables, X, mutable=["batch_stats"])
    for g in range(4):
        expected, stats = flax_bn(X[4 * g : 4 * g + 4], variables)
        np.testing.assert_allclose(out[4 * g : 4 * g + 4], expected, rtol=1e-5, atol=1e-5)
        if g == 0:
            for name in ("mean", "var"):
                np.testing.assert_allclose(updates["batch_stats"][name], stats["batch_stats"][name], rtol=1e-6)
    evaluated = GroupedBatchNorm(group_size=4, use_running_average=True).apply(variables, X)
    reference = nn.BatchNorm(use_running_average=True, epsilon=1e-5).apply(variables, X)
    np.testing.assert_allclose(evaluated, reference, rtol=1e-6, atol=1e-6)


def test_a_batch_that_does_not_split_into_groups_is_refused():
    with pytest.raises(ValueError, match="a batch of 6 images does not split into batch norm groups of 4"):
        GroupedBatchNorm(group_size=4).init(jax.random.key(0), X[:6])


TINY = {"stage_sizes": (1, 1, 1), "widths": (4, 8, 8), "stem_width": 4, "num_classes": 3}
IMAGES = np.random.default_rng(2).normal(size=(8, 8, 8, 3)).astype(np.float32)


def train_mode(model):
    """``model.apply`` in train mode, jitted: (logits, new batch_stats)."""
    return jax.jit(lambda variables, x: model.apply(variables, x, train=True, mutable=["batch_stats"]))


def test_a_resnet_with_groups_computes_each_group_as_the_plain_resnet_alone_on_one_device_and_under_pmap():
    grouped = create_model("resnet20", bn_group_size=2, **TINY)
    plain = create_model("resnet20", **TINY)
    variables = plain.init(jax.random.key(0), IMAGES[:2])
    logits, updates = train_mode(grouped)(variables, IMAGES)
    for g in range(4):
        alone, stats = train_mode(plain)(variables, IMAGES[2 * g : 2 * g + 2])
        np.testing.assert_allclose(logits[2 * g : 2 * g + 2], alone, rtol=1e-4, atol=1e-5)
        if g == 0:
            for ours, theirs in zip(jax.tree.leaves(updates), jax.tree.leaves(stats), strict=True):
                np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    devices = 4
    if jax.local_device_count() < devices:
        pytest.skip("the pmap half needs 4 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
    per_device = grouped.clone(bn_axis_name="batch")
    run = jax.pmap(
        lambda v, x: per_device.apply(v, x, train=True, mutable=["batch_stats"]), axis_name="batch", in_axes=(None, 0)
    )
    shared_logits, shared_updates = run(variables, IMAGES.reshape(devices, 2, *IMAGES.shape[1:]))
    np.testing.assert_allclose(np.asarray(shared_logits).reshape(logits.shape), logits, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(jax.tree.leaves(shared_updates), jax.tree.leaves(updates), strict=True):
        for device in range(devices):  # every device keeps the first group's statistics
            np.testing.assert_allclose(np.asarray(ours)[device], theirs, rtol=1e-5, atol=1e-6)
