"""torchvision's weights give torchvision's logits (issue 7), without torch: the fixtures hold
torchvision's eval-mode outputs for seeded random weights and inputs, the test draws the same
weights and inputs with numpy, converts and compares.

Criterion: max |ours - torchvision| <= 1e-4 * max |torchvision| in float32, at the model's
natural size and at a non-square odd size. The converted variables also go back to exactly
torchvision's state_dict (the keys are torchvision's own, so this proves the export names too).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.convert import from_torchvision, to_torchvision
from jaxcnn.convert.testing import relative_error
from jaxcnn.models import create_model
from jaxcnn.models.inception import GoogLeNetAux, InceptionV3Aux
from jaxcnn.models.layers import ConvBN, norm_layer

TOLERANCE = 1e-4
MODELS = ["vgg11_bn", "vgg16", "googlenet", "inception_v3", "resnet18", "resnet50", "resnet152"]


def assert_same_state_dict(ours, reference):
    assert sorted(ours) == sorted(reference)
    for key, value in reference.items():
        assert ours[key].shape == value.shape and ours[key].dtype == value.dtype, key
        np.testing.assert_array_equal(ours[key], value, err_msg=key)


FAST = ("resnet18",)  # the fast tier converts one model; the slow tier every one


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in MODELS])
def test_logits_match_torchvision_and_weights_go_back(name, torchvision_fixture):
    fixture = torchvision_fixture(name)
    model = create_model(name)  # without auxiliary classifiers: drop_aux drops torchvision's
    state_dict = fixture.state_dict()
    variables = from_torchvision(name, state_dict, drop_aux=True)
    apply = jax.jit(functools.partial(model.apply, train=False))
    cases = fixture.cases()
    assert {x.shape[1:3] for x, _ in cases} >= {(197, 233)}  # the odd, non-square size is among them
    for x, expected in cases:
        assert relative_error(apply(variables, x), expected) <= TOLERANCE, (name, x.shape)
    # ResNets stack their repeated blocks (scan) by default: the round trip unstacks them.
    without_aux = {k: v for k, v in state_dict.items() if k.split(".")[0] not in ("aux1", "aux2", "AuxLogits")}
    assert_same_state_dict(to_torchvision(name, variables), without_aux)


# The auxiliary classifiers only run in training, so they are compared on their own, in eval mode.
AUX_HEADS = {  # class, names, call arguments
    "googlenet": (GoogLeNetAux, ["aux1", "aux2"], {"train": False}),
    "inception_v3": (InceptionV3Aux, ["AuxLogits"], {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(AUX_HEADS))
def test_auxiliary_classifiers_match_torchvision(name, torchvision_fixture):
    fixture = torchvision_fixture(name)
    state_dict = fixture.state_dict()
    variables = from_torchvision(name, state_dict)  # a name keeps the aux heads it finds
    head_cls, heads, call_kwargs = AUX_HEADS[name]
    head = head_cls(1000, functools.partial(ConvBN, norm=norm_layer(False, jnp.float32, None, epsilon=1e-3)))
    for module in heads:
        own = {collection: tree[module] for collection, tree in variables.items()}
        cases = fixture.cases(module)
        assert len(cases) == 2
        for x, expected in cases:
            ours = head.apply(own, x, **call_kwargs)
            assert relative_error(ours, expected) <= TOLERANCE, (name, module, x.shape)
    assert_same_state_dict(to_torchvision(name, variables), state_dict)
