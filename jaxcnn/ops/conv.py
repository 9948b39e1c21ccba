"""Convolutions of NHWC images with HWIO kernels: XLA's own, and the same function with a
backward pass written for XLA:CPU.

XLA:CPU computes a convolution's weight gradient as a convolution that contracts over the
batch, which slows down per example as the batch grows, and it runs the transposed
convolutions of a backward pass inside a loop body (``nn.scan``'s repeated blocks) as a
generic loop. ``cpu_conv`` keeps XLA's forward convolution and writes the backward pass
with explicit flips and transposes around convolutions in the canonical NHWC/HWIO form: the
input gradient as one convolution of the dilated output gradient with the flipped kernel (for
strides > 1: the transpose of ``gemm_conv``, which skips the dilation's zeros), the weight
gradient summed over batch chunks of ``CHUNK`` examples.

On small output maps XLA:CPU treats the padded input as the kernel; one matrix product of the
input's patches (``gemm_conv``) is faster there, so ``cpu_backend_conv`` takes it on maps
of at most ``GEMM_MAX_POSITIONS`` output positions.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

NHWC = ("NHWC", "HWIO", "NHWC")
CHUNK = 16  # examples per weight-gradient convolution; larger chunks bring back the slowdown
GEMM_MAX_POSITIONS = 16  # output maps of at most 4x4 take the matrix product

Padding = tuple[tuple[int, int], tuple[int, int]]


def xla_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
    """``lax.conv_general_dilated`` of NHWC images ``x`` [N, H, W, I] with an HWIO ``kernel``
    [kh, kw, I, O]: ``[N, H', W', O]`` in the inputs' dtype."""
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC)


def cpu_backend_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
    """The same function as ``xla_conv``: ``gemm_conv`` where the output has at most
    ``GEMM_MAX_POSITIONS`` positions (H' * W'), else ``cpu_conv``."""
    ho, wo = (output_size(x.shape[1 + a], kernel.shape[a], strides[a], padding[a]) for a in (0, 1))
    conv = gemm_conv if ho * wo <= GEMM_MAX_POSITIONS else cpu_conv
    return conv(x, kernel, strides, padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def cpu_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
    """The same function as ``xla_conv``; its weight gradient is summed over batch chunks."""
    return xla_conv(x, kernel, strides, padding)


def _cpu_conv_fwd(x, kernel, strides, padding):
    return xla_conv(x, kernel, strides, padding), (x, kernel)


def _cpu_conv_bwd(strides, padding, residuals, g):
    x, kernel = residuals
    if strides == (1, 1):
        x_grad = input_grad(g, kernel, padding)
    else:
        (x_grad,) = jax.linear_transpose(lambda x: gemm_conv(x, kernel, strides, padding), x)(g)
    return x_grad, chunked_kernel_grad(x, g, kernel, strides, padding)


cpu_conv.defvjp(_cpu_conv_fwd, _cpu_conv_bwd)


def input_grad(g: jax.Array, kernel: jax.Array, padding: Padding) -> jax.Array:
    """d(loss)/dx of a stride-1 ``xla_conv`` from the output gradient ``g`` [N, H', W', O]:
    a convolution of ``g``, padded by ``k - 1 - pad`` on each side, with the spatially flipped,
    in/out-swapped ``kernel``: ``[N, H, W, I]``."""
    pads = [(0, 0, 0)]
    for (lo, hi), k in zip(padding, kernel.shape[:2]):
        pads.append((k - 1 - lo, k - 1 - hi, 0))
    g_padded = lax.pad(g, jnp.zeros((), g.dtype), [*pads, (0, 0, 0)])  # negative pads crop
    flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
    return xla_conv(g_padded, flipped, (1, 1), ((0, 0), (0, 0)))


def kernel_grad(x: jax.Array, g: jax.Array, kernel_hw: tuple[int, int], strides: tuple[int, int], padding: Padding):
    """d(loss)/d(kernel) of ``xla_conv`` from its input ``x`` [N, H, W, I] and output gradient
    ``g`` [N, H', W', O]: a correlation of the padded input with ``g`` dilated by the stride,
    contracting the batch. ``[kh, kw, I, O]`` for ``kernel_hw`` = (kh, kw)."""
    pads = [(0, 0, 0)]
    for size, (lo, hi), k, s in zip(x.shape[1:3], padding, kernel_hw, strides):
        pads.append((lo, hi - (size + lo + hi - k) % s, 0))  # rows no stride-s window reaches are cut
    x_padded = lax.pad(x, jnp.zeros((), x.dtype), [*pads, (0, 0, 0)])
    # x as (I batch, H, W, N features) and g as (H', W', N in-features, O): the convolution contracts
    # N. Explicit transposes keep it in the canonical NHWC/HWIO form, also inside a loop body, where
    # XLA:CPU cannot change a convolution's layout and falls back to a generic loop.
    kernel = lax.conv_general_dilated(
        jnp.transpose(x_padded, (3, 1, 2, 0)),
        jnp.transpose(g, (1, 2, 0, 3)),
        (1, 1),
        "VALID",
        rhs_dilation=strides,
        dimension_numbers=NHWC,
    )
    return jnp.transpose(kernel, (1, 2, 0, 3))


def chunked_kernel_grad(
    x: jax.Array, g: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding
) -> jax.Array:
    """``kernel_grad`` of each chunk of ``CHUNK`` examples (the last one may be shorter),
    summed in float32: ``[kh, kw, I, O]`` in ``kernel.dtype``."""
    total = jnp.zeros(kernel.shape, jnp.float32)
    for start in range(0, x.shape[0], CHUNK):
        chunk = slice(start, start + CHUNK)
        total = total + kernel_grad(x[chunk], g[chunk], kernel.shape[:2], strides, padding).astype(jnp.float32)
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
    """The same function as ``xla_conv`` as one matrix product: the input's patches
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
