"""The optimizers, gradient clipping and the exponential schedule against NumPy transcriptions of
their references: TensorFlow 1's ApplyRMSProp kernel (with its RMSPropOptimizer's slot of ones),
torch.nn.utils.clip_grad_norm_, the LAMB paper's Algorithm 2 and TF's staircase exponential_decay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.training import optimizer, schedule

SHAPES = {"conv": {"kernel": (3, 3, 2, 4), "bias": (4,)}, "bn": {"scale": (4,), "bias": (4,)}}


def tree(seed: int, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: (scale * rng.normal(size=s)).astype(np.float32), SHAPES, is_leaf=lambda x: isinstance(x, tuple)
    )


def run(tx, params, grads) -> dict:
    """``params`` after one ``tx`` step per gradient of ``grads``."""
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = jax.tree.map(jnp.add, params, updates)
    return params


def test_rmsprop_tf_is_tensorflows_update():
    lr, rho, eps, momentum, wd = 0.045, 0.9, 1.0, 0.9, 4e-5
    params, grads = tree(0), [tree(s, scale=3.0) for s in (1, 2, 3)]
    got = run(optimizer("rmsprop_tf", lr, momentum=momentum, weight_decay=wd), params, grads)

    def tensorflow(w, gs, decayed):
        ms, mom = np.ones_like(w), np.zeros_like(w)  # RMSPropOptimizer: the ms slot starts at 1
        for g in gs:
            g = g + wd * w if decayed else g  # the L2 regulariser's gradient (kernels only here)
            ms = ms + (g * g - ms) * (1 - rho)
            mom = mom * momentum + lr * g / np.sqrt(ms + eps)
            w = w - mom
        return w

    for layer, name in (("conv", "kernel"), ("conv", "bias"), ("bn", "scale")):
        expected = tensorflow(params[layer][name], [g[layer][name] for g in grads], name == "kernel")
        np.testing.assert_allclose(got[layer][name], expected, rtol=1e-5, atol=1e-7)


def test_lamb_is_the_papers_algorithm():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-6, 0.02
    params, grads = tree(4), [tree(s) for s in (5, 6)]
    got = run(optimizer("lamb", lr, weight_decay=wd, norm_weight_decay=None, bias_weight_decay=None), params, grads)

    def paper(w, gs):  # You et al. 2020, Algorithm 2, one layer = one parameter array
        m, v = np.zeros_like(w), np.zeros_like(w)
        for t, g in enumerate(gs, start=1):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            u = r + wd * w
            w = w - lr * (np.linalg.norm(w) / np.linalg.norm(u)) * u
        return w

    for layer in ("conv", "bn"):
        for name in SHAPES[layer]:
            expected = paper(params[layer][name], [g[layer][name] for g in grads])
            np.testing.assert_allclose(got[layer][name], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])  # clipped, and left alone
def test_gradient_clipping_is_torchs_clip_grad_norm(max_norm):
    params, grads = tree(7), tree(8, scale=2.0)
    got = run(optimizer("sgd", 1.0, momentum=0.0, weight_decay=0.0, clip_grad_norm=max_norm), params, [grads])
    total = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in jax.tree.leaves(grads)))
    coef = min(max_norm / (total + 1e-6), 1.0)  # torch.nn.utils.clip_grad_norm_
    for w, g, new in zip(jax.tree.leaves(params), jax.tree.leaves(grads), jax.tree.leaves(got)):
        np.testing.assert_allclose(new, w - coef * g, rtol=1e-5, atol=1e-6)


def test_exponential_schedule_is_tensorflows_staircase_decay():
    lr = schedule("exponential", 0.045, total_steps=1000, decay_steps=80, gamma=0.94)
    for t in (0, 79, 80, 159, 160, 999):
        np.testing.assert_allclose(lr(t), 0.045 * 0.94 ** (t // 80), rtol=1e-6)  # exponential_decay(staircase=True)
    warm = schedule("exponential", 0.045, total_steps=1000, warmup_steps=100, decay_steps=80, gamma=0.94)
    np.testing.assert_allclose(
        [warm(100), warm(179), warm(180)], [0.045, 0.045, 0.045 * 0.94], rtol=1e-6
    )  # after warm-up


def test_he_et_als_resnet110_warm_up_holds_001_then_returns_to_01():
    """ "We use 0.01 to warm up the training ... then go back to 0.1" (He et al. 2016, section 4.2)."""
    lr = schedule("step", 0.1, total_steps=1000, warmup_steps=400, warmup_method="constant", start_factor=0.1)
    np.testing.assert_allclose([lr(0), lr(399), lr(400), lr(699), lr(700)], [0.01, 0.01, 0.1, 0.1, 0.01], rtol=1e-6)


def test_a_schedule_stepped_per_epoch_changes_only_when_an_epoch_starts():
    per_step = schedule("cosine", 0.4, total_steps=100, warmup_steps=20, start_factor=0.01)
    per_epoch = schedule("cosine", 0.4, total_steps=100, warmup_steps=20, start_factor=0.01, steps_per_epoch=10)
    for t in range(100):
        np.testing.assert_allclose(per_epoch(t), per_step(t // 10 * 10), rtol=1e-6)
    np.testing.assert_allclose([per_epoch(0), per_epoch(10)], [0.004, 0.004 + 0.5 * (0.4 - 0.004)], rtol=1e-5)
