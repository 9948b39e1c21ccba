"""The published-weights registry against torchvision's own ``Weights`` enums, and the CIFAR-10
release against its own architecture; both where PyTorch is installed (the CI leg with torch)."""

import functools
import pathlib

import jax
import numpy as np
import pytest

from jaxcnn.convert.published import published_variables, weights_model
from jaxcnn.convert.testing import random_images, relative_error
from jaxcnn.models import create_model, get_weights, list_weights

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
F = torch.nn.functional

RELEASE = pathlib.Path(__file__).parents[1] / "fixtures" / "published" / "resnet20-12fca82f.th"
IMAGENET = [w for w in list_weights() if w.dataset == "ImageNet-1K"]


@pytest.mark.parametrize("weights", IMAGENET, ids=lambda w: w.name)
def test_every_imagenet_entry_is_torchvisions(weights):
    theirs = torchvision.models.get_weight(f"{type_name(weights.model)}.{weights.tag}")
    transform = theirs.transforms()
    assert weights.url == theirs.url
    assert weights.file == theirs.url.rsplit("/", 1)[1]
    assert weights.size_mb == theirs.meta["_file_size"]
    metrics = theirs.meta["_metrics"]["ImageNet-1K"]
    for ours, key in ((weights.top1, "acc@1"), (weights.top5, "acc@5")):
        assert ours == metrics[key] or (ours is None and np.isnan(metrics[key]))
    assert (weights.resize, weights.crop) == (transform.resize_size[0], transform.crop_size[0])
    assert weights.interpolation == transform.interpolation.value
    np.testing.assert_allclose(weights.mean, transform.mean, rtol=1e-12)
    np.testing.assert_allclose(weights.std, transform.std, rtol=1e-12)
    assert (get_weights(weights.model) == weights) == (
        torchvision.models.get_model_weights(weights.model).DEFAULT == theirs
    )
    assert weights.classifier == (theirs.meta["categories"] is not None)
    assert weights.overrides.get("transform_input", False) == (weights.model in ("googlenet", "inception_v3"))


def type_name(model: str) -> str:
    """torchvision's enum class of ``model``'s weights, as ``get_weight`` spells it."""
    return torchvision.models.get_model_weights(model).__name__


def test_every_model_with_torchvision_weights_has_all_of_them():
    for name in {w.model for w in IMAGENET}:
        assert sorted(w.tag for w in IMAGENET if w.model == name) == sorted(
            w.name for w in torchvision.models.get_model_weights(name)
        )


class ReleaseBlock(torch.nn.Module):
    """The release's BasicBlock (akamaster/pytorch_resnet_cifar10, resnet.py) as its README and code
    describe it: option A pads the subsampled input with planes // 4 zero channels on each side."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        changes = stride != 1 or in_planes != planes
        pad = (0, 0, 0, 0, planes // 4, planes // 4)
        self.shortcut = (lambda x: F.pad(x[:, :, ::2, ::2], pad)) if changes else (lambda x: x)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ReleaseResNet(torch.nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        stages, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            layer = []
            for j in range(blocks):
                layer.append(ReleaseBlock(in_planes, planes, stride if j == 0 else 1))
                in_planes = planes
            stages.append(torch.nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        return self.linear(F.avg_pool2d(out, out.size()[3]).flatten(1))


def test_the_cifar_release_gives_its_own_architectures_logits(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXCNN_WEIGHTS", str(tmp_path))
    (tmp_path / RELEASE.name).write_bytes(RELEASE.read_bytes())
    weights = get_weights("resnet20:CIFAR10_V1")
    reference = ReleaseResNet(3).eval()
    checkpoint = torch.load(RELEASE, map_location="cpu", weights_only=True)
    reference.load_state_dict({k.removeprefix("module."): v for k, v in checkpoint["state_dict"].items()})
    x = random_images(0, 4, 32, 32, 3)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    model, variables = weights_model(weights), published_variables(weights)
    assert relative_error(model.apply(variables, x), expected) <= 1e-5
    # the fb.resnet.torch placement of the zero channels computes another function on these weights
    assert relative_error(model.clone(channel_padding="after").apply(variables, x), expected) > 0.1


@pytest.mark.parametrize("name", ["googlenet", pytest.param("inception_v3", marks=pytest.mark.slow)])
def test_transform_input_is_torchvisions(name, torchvision_fixture):
    fixture = torchvision_fixture(name)
    state_dict = fixture.state_dict()
    kwargs = {"aux_logits": True, "init_weights": False, "transform_input": True}
    reference = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})
    from jaxcnn.convert import from_torchvision

    variables = from_torchvision(name, state_dict, drop_aux=True)
    model = create_model(name, transform_input=True)
    apply = jax.jit(functools.partial(model.apply, train=False))
    x, _ = fixture.cases()[0]
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    assert relative_error(apply(variables, x), expected) <= 1e-4
