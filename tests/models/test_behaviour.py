"""What training relies on: batch statistics, gradients for every parameter, scan == unrolled,
auxiliary heads, and deep nets that compile once per repeated block."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn.models import Classifier, create_model
from jaxcnn.models.resnet import Bottleneck, PreActBottleneck, ResNet
from jaxcnn.models.vgg import VGG
from jaxcnn.training.step import init_variables

RNG = jax.random.key(0)


def images(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape)


def train_loss(model, variables, x, labels, rngs=None):
    """Mean cross-entropy of a train-mode forward (aux heads weighted as the model says)."""

    def loss(params):
        out, updates = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"], rngs=rngs)
        logits, aux = out if model.aux_heads else (out, ())

        def ce(z):
            return optax.softmax_cross_entropy_with_integer_labels(z, labels).mean()

        return ce(logits) + sum(model.aux_weight * ce(a) for a in aux), updates

    return loss


@pytest.mark.slow
def test_train_mode_updates_batch_stats_with_momentum_0_1():
    model = create_model("resnet20")
    x = images((4, 32, 32, 3))
    variables = model.init(RNG, x)
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    # torchvision's running-mean update, with momentum 0.1: 0.9 * old (zeros) + 0.1 * batch mean.
    first = jax.lax.conv_general_dilated(
        x, variables["params"]["conv1"]["kernel"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(updates["batch_stats"]["bn1"]["mean"], 0.1 * first.mean((0, 1, 2)), rtol=1e-4, atol=1e-6)
    assert not np.allclose(updates["batch_stats"]["layer3_blocks"]["block1"]["bn2"]["var"], 1.0)


SMALL_NETS = {
    "resnet20": (lambda: create_model("resnet20"), 32),
    "plain20": (lambda: create_model("plain20"), 32),
    "resnet18": (lambda: create_model("resnet18", num_classes=10), 32),
    "bottleneck": (
        lambda: ResNet(stage_sizes=(2, 2), block_cls=Bottleneck, widths=(4, 8), stem_width=8, num_classes=10),
        32,
    ),
    "preact": (
        lambda: ResNet(
            stage_sizes=(2, 2, 2),
            block_cls=PreActBottleneck,
            widths=(4, 8, 8),
            stem="cifar",
            stem_width=8,
            num_classes=10,
        ),
        16,
    ),
    "vgg_bn_mlp": (lambda: VGG(stages=((1, 8), (2, 16)), batch_norm=True, num_classes=10), 8),
    "vgg_gap": (lambda: VGG(stages=((1, 8), (2, 16)), head="gap", num_classes=10), 8),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL_NETS))
def test_every_parameter_receives_a_nonzero_gradient(name):
    make, size = SMALL_NETS[name]
    model = make()
    x = images((4, size, size, 3))
    variables = init_variables(model, RNG, x.shape)
    loss = train_loss(model, variables, x, jnp.arange(4) % 10, rngs={"dropout": jax.random.key(2)})
    grads, _ = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
    flat = jax.tree_util.tree_leaves_with_path(grads)
    zero = [jax.tree_util.keystr(path) for path, g in flat if not np.any(np.asarray(g) != 0)]
    assert not zero, f"parameters without gradient: {zero}"


@pytest.mark.slow
def test_inception_v3_aux_head_returns_logits_in_train_mode_only():
    model = create_model("inception_v3", aux_logits=True, num_classes=5)
    x = jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
    variables = jax.eval_shape(model.init, RNG, x)

    def train(v, x):
        return model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": RNG})[0]

    logits, aux = jax.eval_shape(train, variables, x)
    assert [o.shape for o in (logits, *aux)] == [(1, 5), (1, 5)]
    assert jax.eval_shape(model.apply, variables, x).shape == (1, 5)  # eval mode: logits only


def stack_unrolled(params):
    """Unrolled ``layerN_blocks/blockJ`` trees -> the scanned ``layerN_blocks/scan/block`` layout."""
    out = {}
    for key, value in params.items():
        if key.endswith("_blocks"):
            blocks = [value[f"block{j}"] for j in range(len(value))]
            value = {"scan": {"block": jax.tree.map(lambda *xs: jnp.stack(xs), *blocks)}}
        out[key] = value
    return out


@pytest.mark.slow
def test_scan_and_unrolled_compute_the_same_function():
    x = images((2, 16, 16, 3))
    unrolled, scanned = create_model("resnet20", scan=False), create_model("resnet20", scan=True)
    variables = init_variables(unrolled, RNG, x.shape)
    stacked = {k: stack_unrolled(v) for k, v in variables.items()}
    labels = jnp.array([1, 2])
    (l1, u1), g1 = jax.jit(jax.value_and_grad(train_loss(unrolled, variables, x, labels), has_aux=True))(
        variables["params"]
    )
    (l2, u2), g2 = jax.jit(jax.value_and_grad(train_loss(scanned, stacked, x, labels), has_aux=True))(stacked["params"])
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    for a, b in zip(
        jax.tree.leaves((stack_unrolled(g1), stack_unrolled(u1["batch_stats"]))),
        jax.tree.leaves((g2, u2["batch_stats"])),
    ):
        # float32 sums in another order: compare against the scale of each tensor.
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(np.abs(b).max()))


@pytest.mark.slow
def test_remat_computes_the_same_gradient():
    x, labels = images((2, 16, 16, 3)), jnp.array([3, 4])
    plain, remat = create_model("resnet20"), create_model("resnet20", remat=True)
    variables = init_variables(plain, RNG, x.shape)
    g1, _ = jax.jit(jax.grad(train_loss(plain, variables, x, labels), has_aux=True))(variables["params"])
    g2, _ = jax.jit(jax.grad(train_loss(remat, variables, x, labels), has_aux=True))(variables["params"])
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet1202", "preact_resnet1001"])
def test_thousand_layer_nets_run_a_jitted_forward_and_backward(name):
    model = create_model(name)
    x = images((1, 32, 32, 3))
    variables = init_variables(model, RNG, x.shape)
    (loss, _), grads = jax.jit(jax.value_and_grad(train_loss(model, variables, x, jnp.array([1])), has_aux=True))(
        variables["params"]
    )
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    # The scanned stage holds every repeated block: 199 (resnet1202) or 110 (preact_resnet1001).
    repeated = {"resnet1202": 199, "preact_resnet1001": 110}[name]
    assert grads["layer2_blocks"]["scan"]["block"]["conv2"]["kernel"].shape[0] == repeated


@pytest.mark.parametrize(
    "name, size, kwargs, heads",
    [
        ("resnet20", 32, {}, 0),
        ("vgg11_bn", 32, {}, 0),
        ("googlenet", 32, {}, 0),
        pytest.param("googlenet", 32, {"aux_logits": True}, 2, marks=pytest.mark.slow),
        ("inception_v3", 75, {}, 0),
        ("inception_v3", 299, {"aux_logits": True}, 1),
    ],
)
def test_train_mode_output_is_logits_or_logits_and_a_tuple_of_aux_heads_logits(name, size, kwargs, heads):
    model = create_model(name, num_classes=5, **kwargs)
    assert isinstance(model, Classifier) and model.aux_heads == heads
    assert not isinstance(type(model).min_input_size, int)  # one convention: a property, never a class constant
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    variables = jax.eval_shape(model.init, RNG, x)
    out = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": RNG})[0], variables, x
    )
    if heads:
        logits, aux = out
        assert type(aux) is tuple and [a.shape for a in aux] == [(1, 5)] * heads
    else:
        logits = out
    assert logits.shape == (1, 5)
