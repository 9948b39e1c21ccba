"""Bad input meets a clear ValueError/TypeError before XLA sees it."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.models import create_model
from jaxcnn.models.inception import GoogLeNet


def init(name, x, **kw):
    return jax.eval_shape(lambda: create_model(name, **kw).init(jax.random.key(0), x))


@pytest.mark.parametrize("shape", [(32, 32, 3), (1, 1, 32, 32, 3)])
def test_wrong_rank_names_the_expected_layout(shape):
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\].*got shape"):
        init("resnet20", jnp.zeros(shape))


def test_wrong_channel_count_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"expects 3 input channels.*got 1.*in_channels=1"):
        init("resnet18", jnp.zeros((1, 32, 32, 1)))


def test_channels_first_input_is_rejected():
    with pytest.raises(ValueError, match="channels last"):
        init("vgg11", jnp.zeros((1, 3, 64, 64)))


def test_integer_images_get_a_type_error_with_the_conversion():
    with pytest.raises(TypeError, match=r"floating-point.*uint8.*astype"):
        init("resnet20", np.zeros((1, 32, 32, 3), np.uint8))


@pytest.mark.parametrize("dtype", [jnp.bool_, jnp.complex64])
def test_other_non_float_dtypes_get_a_type_error(dtype):
    with pytest.raises(TypeError, match="floating-point"):
        init("resnet20", jnp.zeros((1, 32, 32, 3), dtype))


@pytest.mark.parametrize(
    "name, smallest, kw",
    [
        ("vgg16", 32, {}),  # five 2x2/2 max-pools
        ("googlenet", 15, {}),  # ceil-mode 3x3/2 pools need a full window
        ("inception_v3", 75, {}),  # torchvision's documented minimum
        ("inception_v3", 299, {"aux_logits": True}),
    ],
)
def test_too_small_input_names_the_model_and_its_smallest_size(name, smallest, kw):
    init(name, jnp.zeros((1, smallest, smallest, 3)), **kw)  # the smallest size works...
    with pytest.raises(ValueError, match=rf"at least {smallest}x{smallest}.*got {smallest - 1}x"):
        init(name, jnp.zeros((1, smallest - 1, smallest + 5, 3)), **kw)


def test_googlenet_minimum_is_tight():
    # Bypassing the check, one pixel less than the minimum reaches a 0x0 feature map.
    class Unchecked(GoogLeNet):
        min_input_size = 1

    shapes = []

    def record(f, args, kwargs, context):
        out = f(*args, **kwargs)
        if getattr(out, "ndim", 0) == 4:
            shapes.append(out.shape)
        return out

    with nn.intercept_methods(record):
        jax.eval_shape(lambda: Unchecked().init(jax.random.key(0), jnp.zeros((1, 14, 14, 3))))
    assert min(min(shape[1:3]) for shape in shapes) == 0


def test_unknown_vgg_head_is_rejected():
    with pytest.raises(ValueError, match="head must be 'mlp' or 'gap'"):
        init("vgg11", jnp.zeros((1, 32, 32, 3)), head="svm")
