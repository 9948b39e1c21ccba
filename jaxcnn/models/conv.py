"""The one convolution of every jaxcnn model: ``lax.conv_general_dilated``, with a backward
pass that is fast on XLA:CPU.

XLA:CPU computes a convolution's weight gradient as a convolution that contracts over the
batch: the examples become its feature axis (after a transpose of the activations). That
convolution slows down as the batch grows (a 16->16 3x3 layer at 28x28: 27 GFLOP/s with 128
examples as features, 51-53 GFLOP/s with 8 or 16), so ResNet-20's step got *slower per image*
from batch 32 to batch 128. Inside a loop body (``nn.scan``'s repeated blocks) it is worse: XLA
cannot give the transposed convolutions of the backward pass the layouts they need, and runs them
as a generic loop (a scanned ResNet-110 step was 7x slower than the unrolled one).

The ``"cpu"`` implementation keeps XLA's forward convolution and writes the backward pass as
``jaxcnn.autodiff`` does, with explicit flips and transposes around convolutions in the canonical
NHWC/HWIO form: the input gradient as one convolution of the dilated output gradient with the
flipped kernel (for strides > 1: the transpose of :func:`gemm_conv`, which skips the dilation's
zeros), the weight gradient summed over batch chunks of ``CHUNK`` examples.

On maps of at most ``GEMM_MAX_POSITIONS`` output positions (ResNet-18's last stages at 32x32
run on 4x4, 2x2 and 1x1 maps) XLA:CPU treats the padded input as the kernel and runs 5-25x
slower than one matrix product of the input's patches: there the convolution is
:func:`gemm_conv`. The max pool's gradient (:func:`cpu_max_pool`) is written out as well.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.autodiff.conv import conv2d_input_grad, conv2d_kernel_grad

NHWC = ("NHWC", "HWIO", "NHWC")
IMPLS = ("xla", "cpu")
CHUNK = 16  # 8 and 16 examples were equally fast per layer; 32 was up to 2x slower

GEMM_MAX_POSITIONS = 16  # output maps of at most 4x4: one matrix product beats XLA's convolution

Padding = tuple[tuple[int, int], tuple[int, int]]

_REFERENCE = contextvars.ContextVar("jaxcnn_reference_ops", default=False)


def xla_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
    """``lax.conv_general_dilated`` of NHWC images ``x`` [N, H, W, I] with an HWIO ``kernel``
    [kh, kw, I, O]: ``[N, H', W', O]`` in the inputs' dtype."""
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def cpu_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
    """The same function as :func:`xla_conv`; its weight gradient is summed over batch chunks."""
    return xla_conv(x, kernel, strides, padding)


def _cpu_conv_fwd(x, kernel, strides, padding):
    return xla_conv(x, kernel, strides, padding), (x, kernel)


def _cpu_conv_bwd(strides, padding, residuals, g):
    x, kernel = residuals
    if strides == (1, 1):
        x_grad = conv2d_input_grad(g, kernel, x.shape[1:3], strides, padding)
    else:
        (x_grad,) = jax.linear_transpose(lambda x: gemm_conv(x, kernel, strides, padding), x)(g)
    return x_grad, chunked_kernel_grad(x, g, kernel, strides, padding)


cpu_conv.defvjp(_cpu_conv_fwd, _cpu_conv_bwd)


def chunked_kernel_grad(
    x: jax.Array, g: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding
) -> jax.Array:
    """d(loss)/d(kernel) of :func:`xla_conv` from its input ``x`` [N, H, W, I] and output
    gradient ``g`` [N, H', W', O]: ``jaxcnn.autodiff.conv2d_kernel_grad`` of each chunk of
    ``CHUNK`` examples (the last one may be shorter), summed in float32, in ``kernel.dtype``."""
    total = jnp.zeros(kernel.shape, jnp.float32)
    for start in range(0, x.shape[0], CHUNK):
        chunk = slice(start, start + CHUNK)
        total = total + conv2d_kernel_grad(x[chunk], g[chunk], kernel.shape[:2], strides, padding).astype(jnp.float32)
    return total.astype(kernel.dtype)


def covered_taps(size: int, k: int, stride: int, pad: tuple[int, int]) -> list[int]:
    """The kernel offsets (of ``k``, along one axis) whose windows touch at least one of the
    ``size`` real input positions; the others only ever multiply zero padding."""
    out = output_size(size, k, stride, pad)
    return [i for i in range(k) if any(pad[0] <= i + o * stride < pad[0] + size for o in range(out))]


def output_size(size: int, k: int, stride: int, pad: tuple[int, int]) -> int:
    """Output positions, along one axis, of a window ``k`` moved by ``stride`` over ``size`` padded by ``pad``."""
    return (size + pad[0] + pad[1] - k) // stride + 1


def gemm_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
    """The same function as :func:`xla_conv` as one matrix product: the input's patches
    [N*H'*W', taps*I] (one strided slice of the padded input per kernel offset that touches the
    image) times the kernel's rows at those offsets [taps*I, O]. Differentiated by JAX."""
    n, h, w, _ = x.shape
    kh, kw, _, o = kernel.shape
    rows = covered_taps(h, kh, strides[0], padding[0])
    cols = covered_taps(w, kw, strides[1], padding[1])
    if not rows or not cols:  # an empty map: nothing to multiply
        return xla_conv(x, kernel, strides, padding)
    ho, wo = output_size(h, kh, strides[0], padding[0]), output_size(w, kw, strides[1], padding[1])
    padded = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    patches = jnp.concatenate([window_slice(padded, i, j, (ho, wo), strides) for i in rows for j in cols], axis=-1)
    taps = jnp.concatenate([kernel[i, j] for i in rows for j in cols], axis=0)
    return (patches.reshape(-1, patches.shape[-1]) @ taps).reshape(n, ho, wo, o)


def window_slice(padded: jax.Array, i: int, j: int, out_hw: tuple[int, int], strides: tuple[int, int]) -> jax.Array:
    """What window offset (i, j) meets at each of the ``out_hw`` output positions: a strided
    slice of the padded NHWC input [N, Hp, Wp, C], shaped [N, H', W', C]."""
    n, _, _, c = padded.shape
    end = (n, i + (out_hw[0] - 1) * strides[0] + 1, j + (out_hw[1] - 1) * strides[1] + 1, c)
    return lax.slice(padded, (0, i, j, 0), end, (1, *strides, 1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def cpu_max_pool(x: jax.Array, window: tuple[int, int], strides: tuple[int, int], padding: Padding) -> jax.Array:
    """``flax.linen.max_pool`` of NHWC ``x`` [N, H, W, C] (padding with -inf): [N, H', W', C].

    Its gradient is XLA's (each output's gradient goes to the first maximum of its window in
    row-major order), written as one strided slice per window offset: XLA:CPU expands its own
    select-and-scatter into a reduce-window over four int32 index arrays of the input's size.
    """
    return _max_pool(x, window, strides, padding)


def _max_pool(x, window, strides, padding):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1), ((0, 0), *padding, (0, 0)))


def _cpu_max_pool_fwd(x, window, strides, padding):
    return _max_pool(x, window, strides, padding), x


def _cpu_max_pool_bwd(window, strides, padding, x, g):
    # The maxima are found again from one materialised copy of x: XLA may recompute x's producer
    # (batch norm, ReLU) inside several fusions, and copies can differ in the last bit, so the
    # forward's output need not equal any element of x as the backward pass sees it.
    x = lax.optimization_barrier(x)
    offsets = [(i, j) for i in range(window[0]) for j in range(window[1])]

    def windows(x, fill):
        """What each window offset meets at each output position: ``[N, H', W', C]`` per offset."""
        padded = jnp.pad(x, ((0, 0), *padding, (0, 0)), constant_values=fill)
        return [window_slice(padded, i, j, g.shape[1:3], strides) for i, j in offsets]

    taps = windows(x, -jnp.inf)
    maximum = functools.reduce(jnp.maximum, taps)
    taken, routed = jnp.zeros(g.shape, bool), []
    for tap in taps:
        first = (tap == maximum) & ~taken
        taken = taken | first
        routed.append(jnp.where(first, g, 0))
    # the transpose of gathering the windows (with zero padding) scatters each offset's share back
    return jax.linear_transpose(lambda x: windows(x, 0), x)(routed)


cpu_max_pool.defvjp(_cpu_max_pool_fwd, _cpu_max_pool_bwd)


def conv_impl(requested: str | None = None) -> str:
    """The convolution implementation to use: ``requested``, else ``$JAXCNN_CONV``, else the
    default backend's choice (``"cpu"`` on a CPU, ``"xla"`` on GPUs and TPUs); ``"xla"`` inside
    :func:`reference_ops`."""
    impl = requested or os.environ.get("JAXCNN_CONV") or ("cpu" if jax.default_backend() == "cpu" else "xla")
    if impl not in IMPLS:
        raise ValueError(
            f"convolution implementation must be one of {IMPLS} (model attribute conv_impl or $JAXCNN_CONV); "
            f"got {impl!r}"
        )
    return "xla" if _REFERENCE.get() else impl


def conv_function(impl: str, positions: int):
    """The function a :class:`Conv` with ``positions`` output positions (H' * W') computes with:
    :func:`xla_conv` for ``impl="xla"``; for ``"cpu"`` :func:`gemm_conv` on at most
    ``GEMM_MAX_POSITIONS`` positions, else :func:`cpu_conv`."""
    if impl == "xla":
        return xla_conv
    return gemm_conv if positions <= GEMM_MAX_POSITIONS else cpu_conv


@contextlib.contextmanager
def reference_ops():
    """Within this context every :class:`Conv` and max pool traces XLA's own operation
    (``conv_general_dilated``, ``reduce_window``), whatever ``conv_impl`` says: the same function,
    as one recognisable operation for ``jaxcnn.summary`` to walk."""
    token = _REFERENCE.set(True)
    try:
        yield
    finally:
        _REFERENCE.reset(token)


class Conv(nn.Module):
    """``flax.linen.Conv`` for NHWC images, with the same parameters (``kernel`` [kh, kw, I, O],
    ``bias`` [O]), the same initialisation and the same result, computed by :func:`xla_conv`,
    or where :func:`conv_impl` says ``"cpu"`` by :func:`gemm_conv` (outputs of at most
    ``GEMM_MAX_POSITIONS`` positions) or :func:`cpu_conv` (larger ones).

    ``[N, H, W, I] -> [N, H', W', features]`` in ``dtype`` (parameters stay ``param_dtype``);
    ``padding`` is explicit, ``((top, bottom), (left, right))``.
    """

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] = (1, 1)
    padding: Padding = ((0, 0), (0, 0))
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros
    impl: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        strides = tuple(int(s) for s in self.strides)
        padding = tuple((int(lo), int(hi)) for lo, hi in self.padding)
        ho, wo = (output_size(x.shape[1 + a], shape[a], strides[a], padding[a]) for a in (0, 1))
        y = conv_function(conv_impl(self.impl), ho * wo)(x, kernel, strides, padding)
        return y if bias is None else y + bias
