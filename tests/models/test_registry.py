"""The registry: names, patterns, helpful errors, overrides."""

import flax.linen as nn
import jax.numpy as jnp
import pytest

import jaxcnn
from jaxcnn.models import create_model, list_models

TORCHVISION_NAMES = [
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]
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
    assert sorted(list_models()) == sorted(TORCHVISION_NAMES + PAPER_NAMES)


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
