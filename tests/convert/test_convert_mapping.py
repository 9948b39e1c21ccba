"""The state_dict <-> variables mapping: layouts, stacked and unrolled ResNet blocks, inference
of num_classes / aux heads / scan, and strict errors. Round trips of every family are in
test_convert_parity.py, where the converted variables already exist."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.convert import TORCHVISION_MODELS, from_torchvision, to_torchvision
from jaxcnn.convert.mapping import kernel_to_flax, kernel_to_torch
from jaxcnn.convert.testing import random_state_dict
from jaxcnn.models import create_model
from tests.models.references import TORCHVISION_PARAMS

rng = np.random.default_rng(0)


def test_conv_kernel_oihw_becomes_hwio():
    weight = rng.standard_normal((5, 3, 2, 4))  # O, I, H, W
    kernel = kernel_to_flax(weight)
    assert kernel.shape == (2, 4, 3, 5)
    assert kernel[1, 3, 2, 4] == weight[4, 2, 1, 3]
    np.testing.assert_array_equal(kernel_to_torch(kernel), weight)


def test_linear_weight_is_transposed():
    weight = rng.standard_normal((7, 3))  # out, in
    np.testing.assert_array_equal(kernel_to_flax(weight), weight.T)
    np.testing.assert_array_equal(kernel_to_torch(weight.T), weight)


def test_flattened_linear_computes_the_same_map_on_nhwc_features():
    # torch: y = W @ x_nchw.flatten(); here: y = x_nhwc.flatten() @ K. Same y for the same map.
    features = rng.standard_normal((4, 3, 5))  # C, H, W
    weight = rng.standard_normal((6, features.size))
    kernel = kernel_to_flax(weight, flattened=(3, 5))
    np.testing.assert_allclose(
        features.transpose(1, 2, 0).reshape(-1) @ kernel, weight @ features.reshape(-1), rtol=1e-12
    )
    np.testing.assert_array_equal(kernel_to_torch(kernel, flattened=(3, 5)), weight)


def test_unrolled_resnet_round_trips_and_holds_the_stacked_tensors(torchvision_fixture):
    state_dict = torchvision_fixture("resnet50").state_dict()
    unrolled = from_torchvision(create_model("resnet50", scan=False), state_dict)
    stacked = from_torchvision(create_model("resnet50", scan=True), state_dict)
    back = to_torchvision("resnet50", unrolled)  # scan=False inferred from the variables
    assert sorted(back) == sorted(state_dict)
    assert all(np.array_equal(back[k], v) for k, v in state_dict.items())
    for j in range(3):
        np.testing.assert_array_equal(
            stacked["params"]["layer2_blocks"]["scan"]["block"]["conv2"]["kernel"][j],
            unrolled["params"]["layer2_blocks"][f"block{j}"]["conv2"]["kernel"],
        )
    np.testing.assert_array_equal(
        unrolled["params"]["layer2_blocks"]["block1"]["conv2"]["kernel"],
        state_dict["layer2.2.conv2.weight"].transpose(2, 3, 1, 0),
    )


@pytest.mark.slow
def test_num_classes_and_aux_heads_are_read_from_the_state_dict(torchvision_fixture):
    spec = [
        (k, (10, *s[1:]) if k.startswith("fc.") else s)
        for k, s in torchvision_fixture("googlenet").spec
        if not k.startswith("aux2.")
    ]
    spec = [(k, (10, *s[1:]) if k.startswith("aux1.fc2") else s) for k, s in spec]
    with pytest.raises(ValueError, match=r"(?s)missing: aux2\.conv\.bn\.bias.*aux2\.fc2\.weight.*aux_logits=False"):
        from_torchvision("googlenet", random_state_dict(spec, 1))  # half an aux pair is an error
    assert "aux1" not in from_torchvision("googlenet", random_state_dict(spec, 1), drop_aux=True)["params"]
    spec = [(k, s) for k, s in spec if not k.startswith("aux1.")]
    variables = from_torchvision("googlenet", random_state_dict(spec, 1))
    assert variables["params"]["fc"]["kernel"].shape == (1024, 10)
    assert "aux1" not in variables["params"]
    logits = jax.eval_shape(create_model("googlenet", num_classes=10).apply, variables, jnp.ones((1, 64, 64, 3)))
    assert logits.shape == (1, 10)


def random_variables(model):
    """Variables with the model's structure (from jax.eval_shape), filled with random numbers."""
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    return jax.tree.map(lambda leaf: rng.standard_normal(leaf.shape).astype(np.float32), shapes)


def test_exported_keys_match_torchvision_for_a_model_built_here(torchvision_fixture):
    # A model trained here (num_classes=10, unrolled blocks) exports torchvision's keys.
    model = create_model("resnet18", num_classes=10, scan=False)
    variables = random_variables(model)
    exported = to_torchvision("resnet18", variables)
    expected = {k: (10, *s[1:]) if k.startswith("fc.") else s for k, s in torchvision_fixture("resnet18").spec}
    assert {k: v.shape for k, v in exported.items()} == expected
    assert all(
        exported[k] == 0 and exported[k].dtype == np.int64 for k in exported if k.endswith("num_batches_tracked")
    )
    np.testing.assert_array_equal(
        exported["layer3.1.conv1.weight"],
        np.transpose(variables["params"]["layer3_blocks"]["block0"]["conv1"]["kernel"], (3, 2, 0, 1)),
    )


def test_every_wrong_key_is_listed_in_one_error(torchvision_fixture):
    state_dict = torchvision_fixture("resnet18").state_dict()
    del state_dict["layer2.1.conv2.weight"]
    state_dict["layer5.0.conv1.weight"] = np.zeros((3, 3))
    state_dict["bn1.running_var"] = np.ones(32, np.float32)
    with pytest.raises(ValueError) as error:
        from_torchvision("resnet18", state_dict)
    message = str(error.value)
    assert "1 missing: layer2.1.conv2.weight" in message
    assert "1 unexpected: layer5.0.conv1.weight" in message
    assert "1 wrong shape: bn1.running_var: expected (64,), got (32,)" in message


@pytest.mark.slow
def test_a_model_that_disagrees_with_the_state_dict_is_an_error(torchvision_fixture):
    state_dict = torchvision_fixture("inception_v3").state_dict()
    with pytest.raises(ValueError, match=r"(?s)fc\.weight: expected \(10, 2048\), got \(1000, 2048\).*drop_aux=True"):
        from_torchvision(create_model("inception_v3", num_classes=10), state_dict)
    variables = from_torchvision(create_model("inception_v3"), state_dict, drop_aux=True)
    assert "AuxLogits" not in variables["params"] and variables["params"]["fc"]["kernel"].shape == (2048, 1000)


def test_data_parallel_prefix_gets_a_hint(torchvision_fixture):
    state_dict = {f"module.{k}": v for k, v in torchvision_fixture("resnet18").state_dict().items()}
    with pytest.raises(ValueError, match="strip that prefix"):
        from_torchvision("resnet18", state_dict)


def test_variables_that_do_not_fit_are_listed_in_one_error():
    model = create_model("resnet18", scan=False)
    variables = random_variables(model)
    del variables["params"]["layer1_block0"]["conv2"]
    variables["batch_stats"]["bn1"]["mean"] = np.zeros(3)
    with pytest.raises(
        ValueError,
        match=r"(?s)1 missing: params/layer1_block0/conv2/kernel.*batch_stats/bn1/mean: expected \(64,\), got \(3,\)",
    ):
        to_torchvision(model, variables)


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet164", "vgg16x"])
def test_models_torchvision_lacks_are_refused_by_name(name):
    with pytest.raises(ValueError, match="torchvision has no model"):
        from_torchvision(name, {})


@pytest.mark.parametrize(
    "model, reason",
    [
        (create_model("vgg11", head="gap"), "head='gap'"),
        (create_model("plain20"), "shortcut='none'"),
        (create_model("preact_resnet164"), "PreActBottleneck"),
    ],
)
def test_configurations_torchvision_lacks_are_refused(model, reason):
    with pytest.raises(ValueError, match=reason):
        to_torchvision(model, {})


def test_bad_types_are_refused():
    with pytest.raises(TypeError, match="mapping of torchvision names"):
        from_torchvision("resnet18", [("fc.weight", np.zeros(3))])
    with pytest.raises(TypeError, match=r"state_dict\['fc.weight'\] should be a numeric array"):
        from_torchvision("resnet18", {"fc.weight": "weights"})
    with pytest.raises(TypeError, match="variables should be a mapping"):
        to_torchvision("resnet18", None)
    with pytest.raises(ValueError, match="handles jaxcnn's VGG"):
        from_torchvision(nn.Dense(3), {})


def test_supported_names_are_torchvisions_models():
    assert sorted(TORCHVISION_MODELS) == sorted(TORCHVISION_PARAMS)
    for name in TORCHVISION_MODELS:
        create_model(name)
