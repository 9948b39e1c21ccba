"""conv2d with a backward pass written as convolutions, against lax.conv and its Jacobians."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jax import lax

from jaxcnn.autodiff import conv2d, conv2d_input_grad, conv2d_kernel_grad

DIMS = ("NHWC", "HWIO", "NHWC")


def lax_conv(x, w, stride, padding):
    return lax.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=DIMS)


@partial(jax.jit, static_argnums=(3, 4))
def values_and_vjps(x, w, g, stride, padding):
    """(y, dx, dw) of our conv2d pulled back from g, and the reference: lax.conv, and g contracted
    with its forward-mode Jacobians. Not lax's own vjp: with padding beyond k - 1 XLA:CPU's
    transpose of a convolution returns garbage (JAX 0.10.2: kernel 3, pads (3, 1) on a 1x1
    input gives dx of order 1e22), while the forward convolution, hence jacfwd, is right."""
    y, pullback = jax.vjp(lambda x, w: conv2d(x, w, stride, padding), x, w)
    jac_x, jac_w = jax.jacfwd(lax_conv, argnums=(0, 1))(x, w, stride, padding)
    contract = partial(jnp.tensordot, g, axes=g.ndim)
    return (y, *pullback(g)), (lax_conv(x, w, stride, padding), contract(jac_x), contract(jac_w))


paddings = st.one_of(
    st.integers(0, 3),
    st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3))),
)


@settings(max_examples=25, deadline=None)
@given(
    kernel=st.sampled_from([1, 3, 5, 7]),
    stride=st.sampled_from([1, 2]),
    padding=paddings,
    extra_h=st.integers(0, 5),
    extra_w=st.integers(0, 5),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
# Stride 2 with (H + pads - k) odd: the last input row is never reached by a window.
@example(kernel=3, stride=2, padding=((0, 0), (1, 0)), extra_h=1, extra_w=0, c_in=2, c_out=3, seed=0)
# Padding beyond k - 1: the input-gradient convolution pads negatively (crops).
@pytest.mark.slow
@example(kernel=1, stride=2, padding=3, extra_h=2, extra_w=3, c_in=1, c_out=2, seed=1)
def test_conv2d_and_its_vjp_equal_lax(kernel, stride, padding, extra_h, extra_w, c_in, c_out, seed):
    pads = ((padding, padding),) * 2 if isinstance(padding, int) else padding
    # The smallest input the padded kernel fits, plus a few rows/columns.
    height = max(1, kernel - sum(pads[0])) + extra_h
    width = max(1, kernel - sum(pads[1])) + extra_w
    out_h = (height + sum(pads[0]) - kernel) // stride + 1
    out_w = (width + sum(pads[1]) - kernel) // stride + 1
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(2, height, width, c_in)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(kernel, kernel, c_in, c_out)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(2, out_h, out_w, c_out)), jnp.float32)
    ours, reference = values_and_vjps(x, w, g, stride, pads)
    for name, got, expected in zip(("y", "dx", "dw"), ours, reference):
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4, err_msg=name)


def test_conv2d_accepts_padding_int_and_same_like_lax():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 7, 6, 2)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 2, 4)), jnp.float32)
    for padding in ("SAME", "VALID"):
        np.testing.assert_allclose(conv2d(x, w, 2, padding), lax_conv(x, w, 2, padding), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        conv2d(x, w, (2, 1), 1),
        lax.conv_general_dilated(x, w, (2, 1), ((1, 1), (1, 1)), dimension_numbers=DIMS),
        rtol=1e-5,
        atol=1e-5,
    )


def test_backward_pieces_are_themselves_differentiable_linear_maps():
    """conv2d_input_grad is the transpose of x -> conv2d(x, w): <conv(x), g> = <x, dx(g)>."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, 3, 5)), jnp.float32)
    pads, strides = ((1, 0), (2, 1)), (2, 2)
    y = conv2d(x, w, strides, pads)
    g = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    dx = conv2d_input_grad(g, w, x.shape[1:3], strides, pads)
    dw = conv2d_kernel_grad(x, g, w.shape[:2], strides, pads)
    assert float(jnp.vdot(y, g)) == pytest.approx(float(jnp.vdot(x, dx)), rel=1e-4)
    assert float(jnp.vdot(y, g)) == pytest.approx(float(jnp.vdot(w, dw)), rel=1e-4)


def small_cnn_loss(params, images, labels, conv):
    same = ((1, 1), (1, 1))
    h = jax.nn.relu(conv(images, params["conv1"], 1, same))
    h = jax.nn.relu(conv(h, params["conv2"], 2, same))  # 8 + 2 - 3 = 7: odd, stride 2
    logits = h.mean(axis=(1, 2)) @ params["dense"] + params["bias"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(len(labels)), labels])


@partial(jax.jit, static_argnums=3)
def sgd_step(params, images, labels, conv, lr=0.5):
    loss, grads = jax.value_and_grad(small_cnn_loss)(params, images, labels, conv)
    return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss


def test_small_cnn_trains_step_for_step_like_lax_conv():
    rng = np.random.default_rng(0)
    params = {
        "conv1": rng.normal(size=(3, 3, 1, 4)) * 0.5,
        "conv2": rng.normal(size=(3, 3, 4, 8)) * 0.3,
        "dense": rng.normal(size=(8, 3)) * 0.3,
        "bias": np.zeros(3),
    }
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
    images = jnp.asarray(rng.normal(size=(8, 8, 8, 1)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, size=8))
    ours, reference = params, params
    for _ in range(5):
        ours, our_loss = sgd_step(ours, images, labels, conv2d)
        reference, reference_loss = sgd_step(reference, images, labels, lax_conv)
        assert float(our_loss) == pytest.approx(float(reference_loss), rel=1e-5)
    assert float(our_loss) < float(small_cnn_loss(params, images, labels, lax_conv))  # it learns
    for name in params:
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding, message",
    [
        ((5, 5, 3), (3, 3, 3, 4), 1, 0, r"x of shape \(N, H, W, C_in\) \(NHWC\); got shape \(5,"),
        ((1, 5, 5, 3), (3, 3, 4), 1, 0, r"w of shape \(kH, kW, C_in, C_out\) \(HWIO\); got"),
        ((1, 5, 5, 3), (3, 3, 2, 4), 1, 0, "x has 3 channels .* w expects 2 input channels"),
        ((1, 5, 5, 3), (3, 3, 3, 4), 0, 0, "stride must be an int >= 1 or a pair of them; got 0"),
        ((1, 5, 5, 3), (3, 3, 3, 4), 1, -1, "padding must be an int >= 0"),
        ((1, 5, 5, 3), (3, 3, 3, 4), 1, (1, 2), r"\(\(top, bottom\), \(left, right\)\)"),
        ((1, 5, 5, 3), (3, 3, 3, 4), 1, "FULL", "'SAME' or 'VALID'; got 'FULL'"),
        ((1, 2, 5, 3), (3, 3, 3, 4), 1, 0, r"padded input height 2 \+ 0 \+ 0 is smaller than"),
    ],
)
def test_conv2d_rejects_bad_input(x_shape, w_shape, stride, padding, message):
    with pytest.raises(ValueError, match=message):
        conv2d(jnp.zeros(x_shape), jnp.zeros(w_shape), stride, padding)
