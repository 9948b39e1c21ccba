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
flipped kernel, the weight gradient summed over batch chunks of ``CHUNK`` examples.
"""

from __future__ import annotations

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

Padding = tuple[tuple[int, int], tuple[int, int]]


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
    return conv2d_input_grad(g, kernel, x.shape[1:3], strides, padding), chunked_kernel_grad(
        x, g, kernel, strides, padding
    )


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


def conv_impl(requested: str | None = None) -> str:
    """The convolution implementation to use: ``requested``, else ``$JAXCNN_CONV``, else the
    default backend's choice (``"cpu"`` on a CPU, ``"xla"`` on GPUs and TPUs)."""
    impl = requested or os.environ.get("JAXCNN_CONV") or ("cpu" if jax.default_backend() == "cpu" else "xla")
    if impl not in IMPLS:
        raise ValueError(
            f"convolution implementation must be one of {IMPLS} (model attribute conv_impl or $JAXCNN_CONV); "
            f"got {impl!r}"
        )
    return impl


class Conv(nn.Module):
    """``flax.linen.Conv`` for NHWC images, with the same parameters (``kernel`` [kh, kw, I, O],
    ``bias`` [O]), the same initialisation and the same result, computed by :func:`xla_conv`
    or :func:`cpu_conv` as :func:`conv_impl` decides.

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
        conv = cpu_conv if conv_impl(self.impl) == "cpu" else xla_conv
        strides = tuple(int(s) for s in self.strides)
        padding = tuple((int(lo), int(hi)) for lo, hi in self.padding)
        y = conv(x, kernel, strides, padding)
        return y if bias is None else y + bias
