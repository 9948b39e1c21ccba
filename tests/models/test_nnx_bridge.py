"""jaxcnn's models from Flax NNX code: the NNX module computes what linen's apply computes, trains
as jaxcnn's own step trains, and gives back the same linen variables."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxcnn.convert.testing import random_variables
from jaxcnn.models import create_model, linen_variables, to_nnx
from jaxcnn.training import create_train_state, make_train_step

MODELS = {  # one per family, small enough to run three steps in seconds; size: the input side
    "resnet20": ({"stage_sizes": (1, 1, 1)}, 32),
    "vgg11_bn": ({"stages": ((1, 8), (1, 16), (1, 16), (1, 16), (1, 16)), "head": "gap"}, 32),
    "googlenet": ({}, 64),  # dropout in train mode
}


def batch(size: int, n: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.normal(size=(n, size, size, 3)).astype(np.float32),
        "label": rng.integers(0, 10, n).astype(np.int32),
    }


def linen(name: str):
    overrides, size = MODELS[name]
    model = create_model(name, num_classes=10, backend="xla", **overrides)
    return model, random_variables(model, size), size  # drawn in numpy: GoogLeNet's init compiles for seconds


@pytest.mark.parametrize(
    "name", ["resnet20", *(pytest.param(n, marks=pytest.mark.slow) for n in MODELS if n != "resnet20")]
)
def test_eval_and_train_mode_are_linen_apply_bit_for_bit(name):
    model, variables, size = linen(name)
    x = batch(size)["image"]
    wrapped = to_nnx(model, variables)
    np.testing.assert_array_equal(wrapped(x), model.apply(variables, x))
    dropout = nnx.Rngs(dropout=5).dropout()  # the key the bridge draws from an equal Rngs
    expected, updates = model.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": dropout})
    got = wrapped(x, train=True, mutable=["batch_stats"], rngs=nnx.Rngs(dropout=5))
    jax.tree.map(np.testing.assert_array_equal, got, expected)
    jax.tree.map(np.testing.assert_array_equal, linen_variables(wrapped)["batch_stats"], updates["batch_stats"])
    jax.tree.map(np.testing.assert_array_equal, linen_variables(wrapped)["params"], variables["params"])


def test_the_variables_round_trip_unchanged():
    model, variables, _ = linen("resnet20")
    back = linen_variables(to_nnx(model, variables))
    assert jax.tree.structure(back) == jax.tree.structure(variables)
    jax.tree.map(np.testing.assert_array_equal, back, variables)


def test_three_nnx_optimizer_steps_are_three_jaxcnn_train_steps():
    """SGD with momentum through nnx.Optimizer and nnx.grad against make_train_step from the same start."""
    model, _, size = linen("resnet20")
    tx = optax.sgd(0.05, momentum=0.9)
    state = create_train_state(model, jax.random.key(0), (1, size, size, 3), tx)
    train_step = jax.jit(make_train_step(model, tx))
    wrapped = to_nnx(model, state.variables)
    optimizer = nnx.Optimizer(wrapped, tx, wrt=nnx.Param)

    @nnx.jit
    def nnx_step(wrapped, optimizer, images, labels):
        def loss(wrapped):
            logits = wrapped(images, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        grads = nnx.grad(loss)(wrapped)
        optimizer.update(wrapped, grads)

    for seed in range(3):
        step_batch = batch(size, n=8, seed=seed)
        state, _ = train_step(state, step_batch)
        nnx_step(wrapped, optimizer, step_batch["image"], step_batch["label"])
    ours = linen_variables(wrapped)
    for collection in ("params", "batch_stats"):
        for a, b in zip(jax.tree.leaves(ours[collection]), jax.tree.leaves(state.variables[collection])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_without_variables_it_initialises_as_linen_init():
    model, variables, size = linen("resnet20")
    wrapped = to_nnx(model, rngs=nnx.Rngs(params=0), input_size=size)
    assert jax.tree.map(jnp.shape, linen_variables(wrapped)) == jax.tree.map(jnp.shape, variables)
