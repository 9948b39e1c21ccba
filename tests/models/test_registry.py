"""The registry: names, patterns, helpful errors, overrides."""

import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax.numpy as jnp
import pytest

import jaxcnn
from jaxcnn.inspect import summary
from jaxcnn.models import count_params, create_model, init_shapes, list_models, model_info
from tests.models.references import PAPER_PARAMS_M, TORCHVISION_GMACS, TORCHVISION_PARAMS

PAPER_NAMES = [
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
    "preact_resnet164",
    "preact_resnet1001",
]


def test_every_name_the_issue_lists_is_registered_and_nothing_else():
    assert sorted(list_models()) == sorted([*TORCHVISION_PARAMS, *PAPER_NAMES])
    assert sorted(list_models(torchvision=True)) == sorted(TORCHVISION_PARAMS)


def test_list_models_sorts_numbers_naturally():
    assert list_models("plain*") == ["plain20", "plain32", "plain44", "plain56", "plain110"]
    assert list_models("resnet1*") == ["resnet18", "resnet101", "resnet110", "resnet152", "resnet1202"]


@pytest.mark.parametrize("name", list_models())
def test_registered_metadata_is_what_the_built_model_has(name):
    """As torchvision's test_schema_meta_validation: the recorded facts against the model itself
    (parameters from jax.eval_shape, MACs from jaxcnn.summary; both only trace)."""
    info = model_info(name)
    model = create_model(name)
    assert model.num_classes == info.num_classes
    assert count_params(init_shapes(model, info.input_size)) == info.params
    assert summary(model, (1, info.input_size, info.input_size, model.in_channels)).total_macs == info.macs


def test_registered_metadata_agrees_with_torchvision_and_the_papers():
    for name, params in TORCHVISION_PARAMS.items():
        assert model_info(name).params == params, name
    for name, (size, gmacs) in TORCHVISION_GMACS.items():
        assert model_info(name).input_size == size and model_info(name).macs / 1e9 == pytest.approx(gmacs, rel=0.005)
    for name, millions in PAPER_PARAMS_M.items():
        assert model_info(name).params == pytest.approx(millions * 1e6, rel=0.03), name


def test_readme_models_table_is_the_registrys():
    tool = Path(__file__).parents[2] / "tools" / "make_readme_models_table.py"
    done = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_list_models_filters_with_fnmatch_patterns():
    assert list_models("vgg1[13]") == ["vgg11", "vgg13"]
    assert list_models("*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert list_models("nothing*") == []


def test_unknown_name_lists_the_closest_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet5'.*resnet50"):
        create_model("resnet5")


def test_unknown_override_names_the_model():
    with pytest.raises(TypeError, match=r"create_model\('resnet18'\).*colour"):
        create_model("resnet18", colour="red")


def test_create_model_returns_a_linen_module_with_the_requested_settings():
    model = jaxcnn.create_model("resnet18", num_classes=7, dtype=jnp.bfloat16, bn_axis_name="batch")
    assert isinstance(model, nn.Module)
    assert (model.num_classes, model.dtype, model.bn_axis_name) == (7, jnp.bfloat16, "batch")


def test_default_num_classes_follow_the_dataset_of_the_reference():
    assert create_model("resnet50").num_classes == 1000
    assert create_model("resnet20").num_classes == 10
