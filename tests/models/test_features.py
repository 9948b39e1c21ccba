"""``jaxcnn.features``: the embedding is what the classifier reads (logits = embedding @ W + b),
and the stage maps have the shapes of torchvision's feature extractor (or, without torch, the
channels and strides of the papers)."""

import jax
import numpy as np
import pytest

import jaxcnn
from jaxcnn.models import create_model, init_shapes

SMALL = {  # models small enough to run: every family, with its classifier layer
    "resnet20": ({"stage_sizes": (1, 1, 1)}, ("fc",)),
    "vgg11_bn": ({"head": "gap", "stages": ((1, 8), (1, 8), (1, 16))}, ("head", "fc")),
    "googlenet": ({}, ("fc",)),
}

# (channels, stride) of each stage at 224 (299 for Inception v3): the papers' tables
# (He et al. 2015 table 1, Simonyan & Zisserman table 1, Szegedy et al. 2015 table 1 and 2016 fig. 5-7)
PAPER = {
    "resnet18": ((64, 2), (64, 4), (128, 8), (256, 16), (512, 32)),
    "resnet50": ((64, 2), (256, 4), (512, 8), (1024, 16), (2048, 32)),
    "vgg11_bn": ((64, 1), (128, 2), (256, 4), (512, 8), (512, 16)),
    "googlenet": ((64, 2), (192, 4), (480, 8), (832, 16), (1024, 32)),
    "inception_v3": ((64, 2), (192, 4), (288, 8), (768, 16), (2048, 32)),
}
# torchvision's nodes for the same stages (create_feature_extractor)
TORCHVISION_NODES = {
    "resnet18": ("relu", "layer1", "layer2", "layer3", "layer4"),
    "resnet50": ("relu", "layer1", "layer2", "layer3", "layer4"),
    "vgg11_bn": ("features.2", "features.6", "features.13", "features.20", "features.27"),
    "googlenet": ("conv1", "conv3", "inception3b", "inception4e", "inception5b"),
    "inception_v3": ("Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"),
}


def stage_shapes(name: str) -> list[tuple[int, ...]]:
    model = create_model(name)
    size = jaxcnn.model_info(name).input_size
    x = jax.ShapeDtypeStruct((1, size, size, 3), np.float32)
    found = jax.eval_shape(lambda v, x: jaxcnn.features(model, v, x), init_shapes(model, size), x)
    assert found.strides == tuple(stride for _, stride in PAPER[name])
    return [tuple(m.shape) for m in found.stages]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "googlenet" else n for n in SMALL])
def test_the_embedding_is_what_the_classifier_reads(name):
    overrides, classifier = SMALL[name]
    model = create_model(name, num_classes=7, backend="xla", **overrides)
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32) * 0.1, init_shapes(model, 32))
    x = rng.standard_normal((2, 32, 32, 3), np.float32)
    f = jaxcnn.features(model, variables, x)
    layer = variables["params"]
    for key in classifier:
        layer = layer[key]
    np.testing.assert_allclose(f.logits, f.embedding @ layer["kernel"] + layer["bias"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f.logits, model.apply(variables, x), rtol=1e-6, atol=1e-6)
    assert len(f.stages) == model.num_stages == len(f.strides)


@pytest.mark.parametrize("name", PAPER)
def test_stage_maps_have_the_papers_channels_and_strides(name):
    size = jaxcnn.model_info(name).input_size
    expected = [(1, -(-size // stride), -(-size // stride), channels) for channels, stride in PAPER[name]]
    if name == "inception_v3":  # valid (unpadded) convs and pools: 149, 147 -> 73 -> 71 -> 35 -> 17 -> 8
        expected = [(1, 147, 147, 64), (1, 71, 71, 192), (1, 35, 35, 288), (1, 17, 17, 768), (1, 8, 8, 2048)]
    assert stage_shapes(name) == expected


@pytest.mark.parametrize("name", TORCHVISION_NODES)
def test_stage_maps_have_torchvisions_feature_extractor_shapes(name):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from torchvision.models.feature_extraction import create_feature_extractor

    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    extractor = create_feature_extractor(model, return_nodes=list(TORCHVISION_NODES[name]))
    size = jaxcnn.model_info(name).input_size
    with torch.no_grad():
        maps = extractor(torch.zeros(1, 3, size, size))
    theirs = [tuple(maps[node].permute(0, 2, 3, 1).shape) for node in TORCHVISION_NODES[name]]
    assert stage_shapes(name) == theirs


def test_unknown_stages_are_refused():
    model = create_model("resnet20")
    with pytest.raises(ValueError, match=r"ResNet has stages 1..3; got 4"):
        jaxcnn.features(model, init_shapes(model, 32), np.zeros((1, 32, 32, 3), np.float32), stages=(1, 4))
