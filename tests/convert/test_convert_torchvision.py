"""Against torchvision itself, where torch and torchvision are installed (they are not in CI,
where test_convert_parity.py, on stored torchvision outputs, is the primary check): other
num_classes, small and odd input sizes, the export direction, .pth and safetensors files."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

REASON = "torch/torchvision not installed; test_convert_parity.py checks the same against stored torchvision outputs"
torch = pytest.importorskip("torch", reason=REASON)
torchvision = pytest.importorskip("torchvision", reason=REASON)

from jaxcnn.convert import from_torchvision, load_torchvision, read_safetensors, to_torchvision  # noqa: E402
from jaxcnn.convert.testing import random_images, random_state_dict, relative_error  # noqa: E402
from jaxcnn.models import create_model  # noqa: E402

TOLERANCE = 1e-4


def torchvision_model(name, state_dict=None, **kwargs):
    """torchvision's ``name`` in eval mode with ``state_dict`` (default: random_state_dict)."""
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    if state_dict is None:
        state_dict = random_state_dict([(k, tuple(v.shape)) for k, v in model.state_dict().items()], seed=3)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict.items()}, strict=True)
    return model, state_dict


def torch_logits(model, x_nhwc):
    with torch.no_grad():
        return model(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy())).numpy()


@pytest.mark.parametrize(
    "name, kwargs, size",
    [
        ("resnet18", {"num_classes": 10}, (67, 85)),
        ("vgg11", {"num_classes": 3}, (40, 56)),  # a 1x2 map is stretched to 7x7 by the adaptive pool
        ("googlenet", {"num_classes": 7, "aux_logits": True, "init_weights": False}, (64, 96)),
        ("inception_v3", {"num_classes": 5, "aux_logits": False, "init_weights": False}, (75, 81)),
    ],
)
def test_imported_weights_give_torchvisions_logits(name, kwargs, size):
    model, state_dict = torchvision_model(name, **kwargs)
    x = random_images(4, 2, *size)
    variables = from_torchvision(name, state_dict, drop_aux=True)
    ours = jax.jit(functools.partial(create_model(name, num_classes=kwargs["num_classes"]).apply, train=False))(
        variables, x
    )
    assert relative_error(ours, torch_logits(model, x)) <= TOLERANCE


def random_variables(model, seed):
    """Variables of ``model`` drawn on the jaxcnn side, by Flax leaf name: He-normal kernels
    (fan-in over the last three non-output axes, so stacked kernels work too), scales and
    variances ~ U(0.5, 1.5), biases and means ~ N(0, 0.1^2)."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        shape, name = leaf.shape, path[-1].key
        if name == "kernel":
            return rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[-4:-1] if len(shape) >= 4 else shape[-2:-1]))
        return rng.uniform(0.5, 1.5, shape) if name in ("scale", "var") else rng.normal(0, 0.1, shape)

    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    return jax.tree.map(lambda a: a.astype(np.float32), jax.tree_util.tree_map_with_path(draw, shapes))


def test_weights_made_here_give_the_same_logits_in_torchvision():
    model = create_model("resnet50", num_classes=5)  # blocks stacked by scan
    variables = random_variables(model, seed=5)
    exported, _ = torchvision_model("resnet50", to_torchvision("resnet50", variables), num_classes=5)
    x = random_images(6, 2, 64, 48)
    assert relative_error(jax.jit(model.apply)(variables, x), torch_logits(exported, x)) <= TOLERANCE


def test_pth_files_and_tensors_load_with_bfloat16_widened(tmp_path):
    model, state_dict = torchvision_model("resnet18")
    torch.save(model.state_dict(), tmp_path / "r.pth")
    reference = from_torchvision("resnet18", state_dict)
    jax.tree.map(np.testing.assert_array_equal, load_torchvision("resnet18", tmp_path / "r.pth"), reference)
    jax.tree.map(np.testing.assert_array_equal, from_torchvision("resnet18", model.state_dict()), reference)  # tensors
    torch.save(
        {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in model.state_dict().items()},
        tmp_path / "b.pth",
    )
    loaded = load_torchvision("resnet18", tmp_path / "b.pth")
    # bfloat16 keeps 8 significant bits: relative rounding error below 2^-8
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2.0**-8), loaded, reference)


def test_reader_agrees_with_the_safetensors_package(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package is not installed")
    tensors = {
        "w": torch.randn(3, 4, 5),
        "b": torch.randn(7).to(torch.bfloat16),
        "n": torch.tensor(9),
        "h": torch.randn(2).half(),
    }
    safetensors_torch.save_file(tensors, tmp_path / "t.safetensors", metadata={"source": "test"})
    ours = read_safetensors(tmp_path / "t.safetensors")
    assert sorted(ours) == sorted(tensors)
    for key, value in tensors.items():
        expected = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
        assert ours[key].dtype == expected.dtype and ours[key].shape == expected.shape
        np.testing.assert_array_equal(ours[key], expected)


@pytest.mark.parametrize("channels", [3, 1])
def test_init_from_a_pth_written_by_torchvision_gives_its_logits(tmp_path, channels):
    """A torchvision resnet18 with its own initialisation, saved by torch; read by ``--init-from``'s
    path (``start_from``) into a fresh model of the same classes, with 3 or 1 input channels (the
    grey image in RGB is what torchvision sees)."""
    from jaxcnn.models import init_shapes
    from jaxcnn.training import TrainState
    from jaxcnn.training.readers import start_from

    torch.manual_seed(0)
    source = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    model = create_model("resnet18", num_classes=10, in_channels=channels)
    fresh = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), init_shapes(model, 64))
    state = TrainState(fresh["params"], fresh["batch_stats"], None, np.int32(0), None)
    state = start_from(tmp_path / "resnet18.pth", model, "resnet18", state, lambda line: None)
    x = random_images(5, 2, 64, 64, channels)
    ours = model.apply(state.variables, x)
    assert relative_error(ours, torch_logits(source, np.repeat(x, 3 // channels, axis=-1))) <= TOLERANCE
