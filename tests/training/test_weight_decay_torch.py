"""Weight-decay groups against torchvision's: the reference scripts' ``set_weight_decay`` (transcribed
below; it lives in references/classification/utils.py, outside the torchvision package) applied to
torchvision's own modules, which tell batch norms by their class, against the rate jaxcnn's optimizer
applies to the same parameter, which it tells by the ``scale`` beside it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from jaxcnn.convert import to_torchvision  # noqa: E402
from jaxcnn.models import create_model, init_shapes  # noqa: E402
from jaxcnn.training import optimizer  # noqa: E402

NORM_CLASSES = (
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.modules.instancenorm._InstanceNorm,
    torch.nn.LocalResponseNorm,
)


def torchvision_rates(model, weight_decay, norm_weight_decay=None, bias_weight_decay=None) -> dict[str, float]:
    """``{parameter name: weight decay}`` as torchvision's ``set_weight_decay`` groups them, with
    ``custom_keys_weight_decay=[("bias", bias_weight_decay)]`` as its train.py passes it."""
    custom = {"bias": bias_weight_decay} if bias_weight_decay is not None else {}
    rates = {}

    def add(module, prefix=""):
        for name, _ in module.named_parameters(recurse=False):
            full = f"{prefix}.{name}" if prefix else name
            key = next((k for k in custom if k == (full if "." in k else name)), None)
            if key is not None:
                rates[full] = custom[key]
            elif norm_weight_decay is not None and isinstance(module, NORM_CLASSES):
                rates[full] = norm_weight_decay
            else:
                rates[full] = weight_decay
        for child_name, child in module.named_children():
            add(child, f"{prefix}.{child_name}" if prefix else child_name)

    add(model)
    return rates


def jaxcnn_rates(model, params_shapes, stats_shapes, *rates) -> dict[str, float]:
    """``{torchvision parameter name: weight decay}`` that jaxcnn's SGD applies with ``rates``
    (weight, norm and bias decay): the update of parameters all 1 under zero gradients is
    ``-lr * rate``, carried to torchvision's names by ``to_torchvision`` (a constant array keeps
    its value through any transpose)."""
    weight_decay, norm_weight_decay, bias_weight_decay = rates
    params = jax.tree.map(lambda s: jnp.ones(s.shape), params_shapes)
    tx = optimizer(
        "sgd",
        1.0,
        momentum=0.0,
        weight_decay=weight_decay,
        norm_weight_decay=norm_weight_decay,
        bias_weight_decay=bias_weight_decay,
    )
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    decayed = jax.tree.map(lambda u: -np.asarray(u), updates)
    stats = jax.tree.map(lambda s: np.zeros(s.shape, np.float32), stats_shapes)
    rates_by_name = {}
    for key, value in to_torchvision(model, {"params": decayed, "batch_stats": stats}).items():
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert np.ptp(value) == 0, key  # one rate per parameter
            rates_by_name[key] = float(value.flat[0])
    return rates_by_name


RATES = [  # (weight_decay, norm_weight_decay, bias_weight_decay)
    (1e-4, None, None),  # ResNet-50 IMAGENET1K_V1: everything decays
    (2e-5, 0.0, None),  # IMAGENET1K_V2: --norm-weight-decay 0.0
    (5e-4, 0.0, 0.0),  # jaxcnn's default: the kernels alone
    (1e-4, 3e-5, 7e-5),  # every group its own rate; a batch norm's bias is a "bias"
]


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("resnet18", {}),
        ("vgg11_bn", {"init_weights": False}),  # biases in every convolution
        ("googlenet", {"aux_logits": False, "init_weights": False}),
        ("inception_v3", {"aux_logits": False, "init_weights": False}),
    ],
)
def test_every_parameter_decays_at_torchvisions_rate(name, kwargs):
    reference = getattr(torchvision.models, name)(weights=None, num_classes=10, **kwargs)
    model = create_model(name, num_classes=10, **{k: v for k, v in kwargs.items() if k != "init_weights"})
    size = max(model.min_input_size, 32)
    shapes = init_shapes(model, size)
    for rates in RATES:
        expected = torchvision_rates(reference, *rates)
        got = jaxcnn_rates(model, shapes["params"], shapes["batch_stats"], *rates)
        assert got.keys() == expected.keys()
        wrong = {k: (got[k], expected[k]) for k in got if not np.isclose(got[k], expected[k], rtol=1e-6, atol=0)}
        assert not wrong, (rates, wrong)
