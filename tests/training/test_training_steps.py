"""The train and eval steps against jax.grad, optax's definitions and numpy."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn.data.mix import MixParams, apply_mix
from jaxcnn.models import Classifier, create_model
from jaxcnn.training import (
    DataInfo,
    TrainConfig,
    batch_metrics,
    create_train_state,
    cross_entropy,
    make_eval_step,
    make_train_step,
    optimizer,
    schedule,
)
from jaxcnn.training.parts import build_optimizer
from jaxcnn.training.step import NONFINITE, binary_cross_entropy
from tests.training.runs import TINY_RESNET

RNG = np.random.default_rng(0)


class AuxNet(Classifier):
    """A linear classifier with one auxiliary head, returned (like Inception) in train mode only."""

    num_classes: int = 4
    in_channels: int = 1
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    aux_weight = 0.3

    @property
    def aux_heads(self) -> int:
        return 1

    @nn.compact
    def __call__(self, x, train=False):
        x = x.reshape(len(x), -1)
        logits = nn.Dense(self.num_classes, name="main")(x)
        aux = nn.Dense(self.num_classes, name="aux")(x) if train or self.is_initializing() else None
        return (logits, (aux,)) if train else logits


def batch(n=8, size=8, channels=1, classes=4):
    return {
        "image": jnp.asarray(RNG.normal(size=(n, size, size, channels)), jnp.float32),
        "label": jnp.asarray(RNG.integers(0, classes, n), jnp.int32),
        "index": jnp.arange(n, dtype=jnp.int32),
    }


def log_softmax_ce(logits, labels):
    """Cross-entropy written out: -log(exp(z_y) / sum_k exp(z_k)), averaged."""
    z = logits - logits.max(-1, keepdims=True)
    return jnp.mean(jnp.log(jnp.exp(z).sum(-1)) - jnp.take_along_axis(z, labels[:, None], -1)[:, 0])


@pytest.mark.slow
def test_sgd_step_subtracts_the_learning_rate_times_jax_grad_of_the_minibatch_loss():
    model = create_model("resnet20", in_channels=1, **TINY_RESNET)
    tx = optimizer("sgd", 0.5, momentum=0.0, weight_decay=0.0)
    state = create_train_state(model, jax.random.key(0), (1, 8, 8, 1), tx)
    b = batch()

    def loss(params):
        logits, _ = model.apply(
            {"params": params, "batch_stats": state.batch_stats}, b["image"], train=True, mutable=["batch_stats"]
        )
        return log_softmax_ce(logits, b["label"])

    value, grads = jax.jit(jax.value_and_grad(loss))(state.params)  # jitted: op by op takes several times longer
    expected = jax.tree.map(lambda p, g: p - 0.5 * g, state.params, grads)
    new, metrics = jax.jit(make_train_step(model, tx))(state, b)
    for a, e in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["loss"] / metrics["count"], value, rtol=1e-5)
    assert int(new.step) == 1 and all(metrics[f"nonfinite_{what}"] == np.inf for what in NONFINITE)


def aux_net_step(b, images, head_loss, **step_kwargs):
    """One ``make_train_step(**step_kwargs)`` SGD step (lr 1) of ``AuxNet`` on ``b``, checked to move
    each head's kernel by ``-jax.grad`` of ``head_loss(logits) + 0.3 * head_loss(aux)`` on
    ``images`` (what the step should feed the model). Returns ``(state before, metrics)``."""
    model, tx = AuxNet(), optimizer("sgd", 1.0, momentum=0.0, weight_decay=0.0)
    state = create_train_state(model, jax.random.key(1), (1, 8, 8, 1), tx)

    def loss(params):
        logits, (aux,) = model.apply({"params": params}, images, train=True)
        return head_loss(logits) + 0.3 * head_loss(aux)

    grads = jax.grad(loss)(state.params)
    new, metrics = make_train_step(model, tx, **step_kwargs)(state, b)
    for name in ("main", "aux"):
        np.testing.assert_allclose(
            new.params[name]["kernel"], state.params[name]["kernel"] - grads[name]["kernel"], rtol=1e-5, atol=1e-6
        )
    return state, metrics


def test_auxiliary_heads_add_their_weighted_loss():
    b = batch()
    aux_net_step(b, b["image"], lambda z: log_softmax_ce(z, b["label"]))


def test_label_smoothing_mixes_the_uniform_distribution_into_the_target():
    logits, labels, s = jnp.asarray(RNG.normal(size=(6, 5))), jnp.asarray(RNG.integers(0, 5, 6)), 0.1
    logp = jax.nn.log_softmax(logits)
    expected = -((1 - s) * jnp.take_along_axis(logp, labels[:, None], -1)[:, 0] + s * logp.mean(-1))
    np.testing.assert_allclose(cross_entropy(logits, labels, s), expected, rtol=1e-5)


@pytest.mark.parametrize("smoothing, threshold", [(0.0, None), (0.1, None), (0.1, 0.2)])
def test_binary_cross_entropy_is_timms(smoothing, threshold):
    """timm's BinaryCrossEntropy: targets smoothed to 1 - s + s/T and s/T (then thresholded),
    torch's binary_cross_entropy_with_logits averaged over every class of every example."""
    logits, labels = RNG.normal(size=(6, 5)) * 3, RNG.integers(0, 5, 6)
    targets = np.full((6, 5), smoothing / 5)
    targets[np.arange(6), labels] = 1 - smoothing + smoothing / 5
    if threshold is not None:
        targets = (targets > threshold).astype(np.float64)
    p = 1 / (1 + np.exp(-logits))
    expected = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean()
    got = binary_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), smoothing, threshold)
    assert got.shape == (6,)
    np.testing.assert_allclose(got.mean(), expected, rtol=1e-5)


def test_a_bce_step_descends_the_binary_cross_entropy():
    b = batch()
    head_loss = lambda z: binary_cross_entropy(z, b["label"], 0.1, 0.2).mean()  # noqa: E731
    aux_net_step(b, b["image"], head_loss, label_smoothing=0.1, loss="bce", bce_target_threshold=0.2)


def test_a_mixed_batch_descends_the_cross_entropy_of_its_soft_targets():
    """A ``mix`` (here CutMix with a fixed box) feeds the model its images and the loss its soft
    targets; the top-1 metric counts the largest target."""
    b = batch()
    params = MixParams(jnp.asarray(True), jnp.float32(1 - 12 / 64), jnp.array([2, 2, 5, 6], jnp.int32))
    images, targets = apply_mix(b["image"], b["label"], 4, params)
    mix = lambda x, y, key: apply_mix(x, y, 4, params)  # noqa: E731
    state, metrics = aux_net_step(
        b, images, lambda z: cross_entropy(z, targets, 0.1).mean(), label_smoothing=0.1, mix=mix
    )
    logits = AuxNet().apply({"params": state.params}, images, train=True)[0]
    assert metrics["top1"] == np.sum(np.argmax(logits, -1) == np.argmax(targets, -1))


def test_metrics_count_top1_and_top5_hits_as_numpy_does():
    logits, labels = RNG.normal(size=(50, 10)).astype(np.float32), RNG.integers(0, 10, 50).astype(np.int32)
    mask = np.arange(50) < 43
    m = batch_metrics(jnp.asarray(logits), jnp.asarray(labels), jnp.ones(50), jnp.asarray(mask))
    ranks = (logits > logits[np.arange(50), labels][:, None]).sum(1)  # how many classes score higher
    assert m["count"] == 43 and m["loss"] == 43
    assert m["top1"] == np.sum((ranks == 0) & mask) and m["top5"] == np.sum((ranks < 5) & mask)


def test_eval_step_ignores_masked_padding_rows():
    model, tx = AuxNet(), optimizer("sgd", 1.0)
    state = create_train_state(model, jax.random.key(2), (1, 8, 8, 1), tx)
    b = batch()
    logits = model.apply({"params": state.params}, b["image"])
    m = make_eval_step(model)(state, {**b, "mask": jnp.arange(8) < 5})
    assert m["count"] == 5
    np.testing.assert_allclose(m["loss"], 5 * log_softmax_ce(logits[:5], b["label"][:5]), rtol=1e-5)


def test_cosine_schedule_with_warmup_follows_its_formula():
    lr = schedule("cosine", 0.4, total_steps=110, warmup_steps=10)
    np.testing.assert_allclose([lr(0), lr(5), lr(9)], [0.04, 0.04 + 5 * 0.036, 0.04 + 9 * 0.036], rtol=1e-5)
    for t in (10, 35, 60, 109):
        np.testing.assert_allclose(lr(t), 0.4 * 0.5 * (1 + np.cos(np.pi * (t - 10) / 100)), rtol=1e-5, atol=1e-7)


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
    lr = schedule("step", 0.1, total_steps=100)
    np.testing.assert_allclose(
        [lr(0), lr(49), lr(50), lr(74), lr(75), lr(99)], [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-5
    )
    assert float(schedule("constant", 0.3, total_steps=5)(4)) == pytest.approx(0.3)


def weight_decay_update(name, lr=0.1, wd=0.01, **groups):
    params = {
        "conv": {"kernel": jnp.full((3, 3, 2, 2), 2.0), "bias": jnp.full((2,), 2.0)},
        "bn": {"scale": jnp.full((2,), 2.0), "bias": jnp.full((2,), 2.0)},
    }
    tx = optimizer(name, lr, momentum=0.0, weight_decay=wd, **groups)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    return updates


def test_sgd_weight_decay_is_coupled_l2_on_kernels_only():
    updates = weight_decay_update("sgd")
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * 0.01 * 2.0)  # -lr * (grad + wd * w)
    assert not np.any(updates["conv"]["bias"]) and not np.any(updates["bn"]["scale"])


def test_adamw_weight_decay_is_decoupled_on_kernels_only():
    updates = weight_decay_update("adamw")
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * 0.01 * 2.0, rtol=1e-6)  # zero grad: only -lr*wd*w
    assert not np.any(updates["conv"]["bias"]) and not np.any(updates["bn"]["scale"])


@pytest.mark.parametrize("name", ["sgd", "adamw"])
@pytest.mark.parametrize(
    "groups, rates",
    [  # rates of (conv kernel, conv bias, bn scale, bn bias), as torchvision's set_weight_decay gives them
        ({"norm_weight_decay": None, "bias_weight_decay": None}, (0.01, 0.01, 0.01, 0.01)),  # ResNet-50 V1
        ({"norm_weight_decay": 0.0, "bias_weight_decay": None}, (0.01, 0.01, 0.0, 0.0)),  # ResNet-50 V2
        ({"norm_weight_decay": 0.003, "bias_weight_decay": 0.0}, (0.01, 0.0, 0.003, 0.0)),  # "bias" wins over norm
        ({"norm_weight_decay": None, "bias_weight_decay": 0.007}, (0.01, 0.007, 0.01, 0.007)),
    ],
)
def test_each_group_decays_at_its_own_rate(name, groups, rates):
    """With zero gradients (so AdamW's step is the decay alone) the update of each parameter is
    -lr * rate * w: SGD's coupled L2 and AdamW's decoupled decay agree on the rates."""
    updates = weight_decay_update(name, **groups)
    got = [updates["conv"]["kernel"], updates["conv"]["bias"], updates["bn"]["scale"], updates["bn"]["bias"]]
    for update, rate in zip(got, rates):
        np.testing.assert_allclose(update, -0.1 * rate * 2.0, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: optimizer("lbfgs"), "optimizer must be one of"),
        (lambda: schedule("linear", 0.1, 10), "schedule must be one of"),
        (lambda: schedule("cosine", 0.1, 10, warmup_steps=10), "warmup_steps must be in 0..9"),
        (lambda: optimizer("sgd", weight_decay=-1.0), "weight_decay must be >= 0"),
        (lambda: optimizer("sgd", bias_weight_decay=-1.0), "bias_weight_decay must be >= 0"),
    ],
)
def test_bad_optimizer_settings_raise_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_steps_refuse_a_module_without_the_classifier_interface():
    class Bare(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return nn.Dense(4)(x.reshape(len(x), -1))

    with pytest.raises(TypeError, match="make_train_step needs a jaxcnn.models.Classifier .* got Bare"):
        make_train_step(Bare(), optimizer("sgd"))
    with pytest.raises(TypeError, match="make_eval_step needs a jaxcnn.models.Classifier"):
        make_eval_step(Bare())


@pytest.mark.parametrize("keys", [("image", "labels"), ("images", "label")])
def test_a_batch_with_wrong_keys_is_named_with_the_keys_expected(keys):
    model = create_model("resnet20", num_classes=10, in_channels=1)
    tx = optax.sgd(0.1)
    state = create_train_state(model, jax.random.key(0), (1, 28, 28, 1), tx)
    batch = dict(zip(keys, (jnp.zeros((2, 28, 28, 1)), jnp.zeros(2, jnp.int32))))
    for step in (make_train_step(model, tx), make_eval_step(model)):
        with pytest.raises(ValueError, match="needs a batch dict with keys 'image', 'label'") as err:
            jax.eval_shape(step, state, batch)
        assert next(k for k in ("image", "label") if k not in keys) in str(err.value)


def test_warm_up_takes_at_most_a_tenth_of_a_short_run():
    # the default 0.1 epoch is 125 steps of the main job: a 30-step run would be all warm-up
    info = DataInfo(num_classes=10, in_channels=1, image_size=28, mean=(0.3,), std=(0.3,), train_examples=20_000)
    config = TrainConfig(max_steps=30, schedule="constant")
    _, lr, total = build_optimizer(config, info)
    assert total == 30
    assert float(lr(0)) < config.lr
    assert float(lr(30 // 10)) == pytest.approx(config.lr)
    main_job = build_optimizer(TrainConfig(), info)[1]  # 2,500 steps: the configured 125-step warm-up stays
    assert float(main_job(124)) < TrainConfig().lr * 0.9999 and float(main_job(125)) == pytest.approx(TrainConfig().lr)
