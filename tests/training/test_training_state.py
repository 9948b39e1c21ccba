"""The initial variables: compiled with the faster CPU options of ``init_variables``, they are
bit for bit those of ``jax.jit(model.init)`` compiled with XLA's defaults."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.models import create_model
from jaxcnn.training import create_train_state, optimizer
from jaxcnn.training.step import init_variables

TINY = {
    "resnet20": dict(stage_sizes=(2, 1, 1), widths=(4, 8, 8), stem_width=4),  # scanned blocks, zero-pad shortcuts
    "resnet18": dict(stage_sizes=(1, 1, 1, 1), widths=(4, 4, 8, 8), stem_width=4),  # projections, 7x7 stem
    "vgg11_bn": dict(stages=((1, 4), (1, 8))),  # batch norm, the 4096-4096 MLP head (dense variance scaling)
}


SLOW = [pytest.param(name, marks=pytest.mark.slow) for name in ("resnet18", "vgg11_bn")]


@pytest.mark.parametrize("name", ["resnet20", *SLOW])
def test_init_variables_are_bit_identical_to_jit_init_with_default_options(name):
    model = create_model(name, num_classes=10, in_channels=1, **TINY[name])
    key, shape = jax.random.key(7), (1, 32, 32, 1)
    ours = init_variables(model, key, shape)
    reference = jax.jit(model.init)(key, jnp.zeros(shape, jnp.float32))
    assert jax.tree.structure(ours) == jax.tree.structure(reference)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))


def test_a_train_state_can_be_created_inside_a_trace():
    """Resumes build the state's template under ``jax.eval_shape`` (compiler options belong to the
    outermost jit only); its shapes are those of the state created for real."""
    model = create_model("resnet20", num_classes=10, in_channels=1, **TINY["resnet20"])

    def create():
        return create_train_state(model, jax.random.key(0), (1, 8, 8, 1), optimizer("sgd", 0.1))

    template, state = jax.eval_shape(create), create()
    assert jax.tree.map(lambda a: (a.shape, a.dtype), template) == jax.tree.map(lambda a: (a.shape, a.dtype), state)
