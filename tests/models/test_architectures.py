"""Parameter counts against torchvision and the papers; output shapes of every model."""

import jax
import jax.numpy as jnp
import pytest

from jaxcnn.models import count_params, create_model, list_models
from tests.models.references import PAPER_PARAMS_M, TORCHVISION_PARAMS, TORCHVISION_PARAMS_WITH_AUX

SMALL_INPUT = {"inception_v3": 75}  # every other model accepts 32x32


def abstract_init(model, size, batch=2, channels=3):
    """(output, variables) as ShapeDtypeStructs: shapes without computing anything."""
    x = jnp.zeros((batch, size, size, channels))
    return jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x))


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_parameter_count_equals_torchvision(name):
    _, variables = abstract_init(create_model(name), SMALL_INPUT.get(name, 32))
    assert count_params(variables) == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS_WITH_AUX))
def test_parameter_count_with_aux_heads_equals_torchvision(name):
    size = 299 if name == "inception_v3" else 32
    _, variables = abstract_init(create_model(name, aux_logits=True), size, batch=1)
    assert count_params(variables) == TORCHVISION_PARAMS_WITH_AUX[name]


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS_M))
def test_cifar_parameter_count_within_3_percent_of_the_paper(name):
    _, variables = abstract_init(create_model(name, num_classes=10), 32)
    assert count_params(variables) == pytest.approx(PAPER_PARAMS_M[name] * 1e6, rel=0.03)


def test_plain_nets_have_exactly_the_parameters_of_their_option_a_resnets():
    # Option A shortcuts are parameter-free, so removing them changes no count.
    for depth in (20, 56, 110):
        counts = [count_params(abstract_init(create_model(f"{kind}{depth}"), 32)[1]) for kind in ("resnet", "plain")]
        assert counts[0] == counts[1]


@pytest.mark.parametrize("name", list_models())
def test_every_model_maps_a_batch_to_float32_logits(name):
    out, _ = abstract_init(create_model(name, num_classes=13), SMALL_INPUT.get(name, 32), batch=3)
    assert (out.shape, out.dtype) == ((3, 13), jnp.float32)


def test_models_accept_other_input_channels_and_non_square_inputs():
    out, _ = abstract_init(create_model("resnet20", in_channels=1), 28, channels=1)
    assert out.shape == (2, 10)
    x = jnp.zeros((1, 197, 233, 3))
    out = jax.eval_shape(lambda: create_model("vgg11").init_with_output(jax.random.key(0), x))[0]
    assert out.shape == (1, 1000)


def test_bfloat16_computes_in_bf16_but_keeps_float32_parameters():
    model = create_model("resnet20", dtype=jnp.bfloat16)
    x = jnp.ones((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    hidden = jax.make_jaxpr(lambda v: model.apply(v, x))(variables)
    conv_dtypes = {eqn.outvars[0].aval.dtype for eqn in hidden.eqns if eqn.primitive.name == "conv_general_dilated"}
    conv_dtypes |= {
        e.outvars[0].aval.dtype
        for sub in _subjaxprs(hidden.jaxpr)
        for e in sub.eqns
        if e.primitive.name == "conv_general_dilated"
    }
    assert conv_dtypes == {jnp.dtype(jnp.bfloat16)}
    assert jax.eval_shape(model.apply, variables, x).dtype == jnp.float32


def _subjaxprs(jaxpr):
    for eqn in jaxpr.eqns:
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                yield inner
                yield from _subjaxprs(inner)
