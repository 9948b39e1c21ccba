"""The PyTorch models ``jaxcnn bench --compare torch`` runs are jaxcnn's models: the same
parameter count, output shape and multiply-accumulates (counted by PyTorch's own FLOP counter
against ``jaxcnn.summary``; its parameter total is ``count_params``'s)."""

import pytest

from jaxcnn.inspect import summary
from jaxcnn.models import count_params, create_model, init_shapes

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from jaxcnn.bench.torch_models import torch_model  # noqa: E402


def torch_facts(name: str, size: int, channels: int, classes: int) -> tuple[int, tuple[int, ...], int]:
    """(parameters, output shape at batch 2, MACs of one image) of the PyTorch model."""
    model, _ = torch_model(name, channels, classes)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, channels, size, size))
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, channels, size, size))
    return sum(p.numel() for p in model.parameters()), tuple(out.shape), counter.get_total_flops() // 2


def test_the_cifar_twin_of_resnet20_has_its_269722_parameters_shape_and_macs():
    params, shape, macs = torch_facts("resnet20", 32, 3, 10)
    model = create_model("resnet20")
    assert params == count_params(init_shapes(model, 32)) == 269_722
    assert shape == (2, 10)
    assert macs == summary(model, (1, 32, 32, 3)).total_macs


@pytest.mark.parametrize(
    "name, size, channels, classes",
    [
        ("plain20", 28, 1, 10),  # the main job's input; no shortcuts
        ("resnet18", 32, 1, 10),  # torchvision's, first convolution rebuilt for one channel
    ],
)
def test_torch_models_match_jaxcnn(name, size, channels, classes):
    params, shape, macs = torch_facts(name, size, channels, classes)
    stats = summary(create_model(name, num_classes=classes, in_channels=channels), (1, size, size, channels))
    assert (params, shape, macs) == (stats.total_params, (2, classes), stats.total_macs)


def test_the_preact_twin_has_preact_resnet164s_parameters_and_output_shape():
    """Bottlenecks, projections of the pre-activated input; counted without tracing MACs (its
    54 blocks make jaxcnn.summary slow)."""
    model, _ = torch_model("preact_resnet164", 3, 10)
    with torch.no_grad():
        out = model.eval()(torch.zeros(2, 3, 8, 8))
    params = sum(p.numel() for p in model.parameters())
    assert (params, tuple(out.shape)) == (count_params(init_shapes(create_model("preact_resnet164"), 8)), (2, 10))
    assert params == 1_703_258


def test_a_model_neither_torchvision_nor_a_twin_has_is_refused(monkeypatch):
    import torchvision

    monkeypatch.delattr(torchvision.models, "resnet18")  # an ImageNet net: no CIFAR twin either
    with pytest.raises(ValueError, match="no PyTorch twin of resnet18"):
        torch_model("resnet18", 3, 10)
