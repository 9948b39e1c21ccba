"""A 2-d convolution whose backward pass is again a convolution.

For y = conv(x, w) with stride s and padding (lo, hi), and g = d(loss)/dy:

* d(loss)/dx is a stride-1 convolution of g -- dilated by s (s - 1 zeros between its
  entries) and padded by k - 1 - lo before and k - 1 - hi + r after -- with the kernel
  flipped spatially and its in/out channels swapped. r = (H + lo + hi - k) mod s is the
  number of input rows the forward stride never reached; they get gradient 0 but still
  need rows in the result, hence the extra padding on the far side.
* d(loss)/dw is a correlation of the padded input with g, g dilated by s, summed over the
  batch: the batch plays the role of the channel being contracted.

Arrays are NHWC (inputs, outputs) and HWIO (kernels), as in Flax.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

_NHWC_HWIO = ("NHWC", "HWIO", "NHWC")
Pads = tuple[tuple[int, int], tuple[int, int]]


def conv2d(x: jax.Array, w: jax.Array, stride=1, padding=0) -> jax.Array:
    """2-d cross-correlation (what deep learning calls convolution), differentiable through
    a backward pass written as convolutions (`conv2d_input_grad`, `conv2d_kernel_grad`).

    Args:
      x: input, shape (N, H, W, C_in), float.
      w: kernel, shape (kH, kW, C_in, C_out), same dtype as ``x``.
      stride: an int, or (stride_h, stride_w); each >= 1.
      padding: an int p (p zeros on every side), ((top, bottom), (left, right)), or
        "SAME" / "VALID" as in `lax.conv_general_dilated`.

    Returns:
      Shape (N, H_out, W_out, C_out) with H_out = (H + top + bottom - kH) // stride_h + 1.
      Equal to ``lax.conv_general_dilated(x, w, stride, padding, dimension_numbers=
      ("NHWC", "HWIO", "NHWC"))``, and so are its gradients.

    Raises:
      ValueError: ranks other than 4, C_in of ``x`` and ``w`` differ, a stride below 1, a
        negative padding, or a kernel larger than the padded input.
    """
    x, w = jnp.asarray(x), jnp.asarray(w)
    _check_shapes(x.shape, w.shape)
    strides = _pair_of_positive_ints(stride)
    pads = _pads(padding, x.shape[1:3], w.shape[:2], strides)
    for name, size, (lo, hi), k in zip(("height", "width"), x.shape[1:3], pads, w.shape[:2]):
        if size + lo + hi < k:
            raise ValueError(
                f"conv2d: the padded input {name} {size} + {lo} + {hi} is smaller than the "
                f"kernel {name} {k}; pad more or use a smaller kernel."
            )
    return _conv2d(x, w, strides, pads)


def conv2d_input_grad(g: jax.Array, w: jax.Array, input_hw, strides, pads: Pads) -> jax.Array:
    """d(loss)/dx of ``conv2d`` as a convolution of the dilated, padded output gradient
    ``g`` (N, H_out, W_out, C_out) with the flipped, in/out-swapped kernel ``w`` (HWIO).

    Returns shape (N, H, W, C_in) for ``input_hw`` = (H, W).
    """
    config = [(0, 0, 0)]
    for size, (lo, hi), k, s in zip(input_hw, pads, w.shape[:2], strides):
        config.append((k - 1 - lo, k - 1 - hi + _unreached(size, lo, hi, k, s), s - 1))
    config.append((0, 0, 0))
    g_dilated = lax.pad(g, jnp.zeros((), g.dtype), config)  # negative pads crop
    w_flipped = jnp.swapaxes(w[::-1, ::-1], 2, 3)
    return lax.conv_general_dilated(g_dilated, w_flipped, (1, 1), "VALID", dimension_numbers=_NHWC_HWIO)


def conv2d_kernel_grad(x: jax.Array, g: jax.Array, kernel_hw, strides, pads: Pads) -> jax.Array:
    """d(loss)/dw of ``conv2d`` as a correlation of the padded input ``x`` (NHWC) with the
    output gradient ``g`` (N, H_out, W_out, C_out), dilated by the stride.

    Returns shape (kH, kW, C_in, C_out) for ``kernel_hw`` = (kH, kW).
    """
    config = [(0, 0, 0)]
    for size, (lo, hi), k, s in zip(x.shape[1:3], pads, kernel_hw, strides):
        config.append((lo, hi - _unreached(size, lo, hi, k, s), 0))
    config.append((0, 0, 0))
    x_padded = lax.pad(x, jnp.zeros((), x.dtype), config)
    # Read x as (C_in batch, H, W, N features) and g as (H_out, W_out, N in-features, C_out): the
    # convolution contracts N and yields (C_in, kH, kW, C_out). The transposes are explicit so that
    # the convolution is in XLA's canonical NHWC/HWIO form everywhere, also inside a loop body,
    # where XLA:CPU cannot change a convolution's layout and falls back to a slow generic loop.
    kernel = lax.conv_general_dilated(
        jnp.transpose(x_padded, (3, 1, 2, 0)),
        jnp.transpose(g, (1, 2, 0, 3)),
        (1, 1),
        "VALID",
        rhs_dilation=strides,
        dimension_numbers=_NHWC_HWIO,
    )
    return jnp.transpose(kernel, (1, 2, 0, 3))


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv2d(x, w, strides, pads):
    return lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_NHWC_HWIO)


def _conv2d_forward(x, w, strides, pads):
    return _conv2d(x, w, strides, pads), (x, w)


def _conv2d_backward(strides, pads, residuals, g):
    x, w = residuals
    return (
        conv2d_input_grad(g, w, x.shape[1:3], strides, pads),
        conv2d_kernel_grad(x, g, w.shape[:2], strides, pads),
    )


_conv2d.defvjp(_conv2d_forward, _conv2d_backward)


def _unreached(size: int, lo: int, hi: int, k: int, s: int) -> int:
    """Rows (or columns) at the far end of the padded input that no stride-s window covers."""
    return (size + lo + hi - k) % s


def _check_shapes(x_shape, w_shape) -> None:
    if len(x_shape) != 4:
        raise ValueError(
            f"conv2d needs x of shape (N, H, W, C_in) (NHWC); got shape {x_shape}. "
            "Add a batch axis with x[None] for a single image."
        )
    if len(w_shape) != 4:
        raise ValueError(f"conv2d needs w of shape (kH, kW, C_in, C_out) (HWIO); got shape {w_shape}.")
    if x_shape[3] != w_shape[2]:
        raise ValueError(
            f"conv2d: x has {x_shape[3]} channels (shape {x_shape}) but w expects "
            f"{w_shape[2]} input channels (shape {w_shape}); they must match."
        )


def _pair_of_positive_ints(stride) -> tuple[int, int]:
    pair = (stride, stride) if isinstance(stride, int) else stride
    if not (_is_pair(pair) and all(_is_non_negative_int(s) and s >= 1 for s in pair)):
        raise ValueError(f"conv2d stride must be an int >= 1 or a pair of them; got {stride!r}.")
    return tuple(pair)


def _pads(padding, input_hw, kernel_hw, strides) -> Pads:
    if isinstance(padding, str) and padding.upper() in ("SAME", "VALID"):
        pads = lax.padtype_to_pads(input_hw, kernel_hw, strides, padding.upper())
        return tuple(map(tuple, pads))
    if _is_non_negative_int(padding):
        return ((padding, padding), (padding, padding))
    if _is_pair(padding) and all(_is_pair(p) and all(map(_is_non_negative_int, p)) for p in padding):
        return tuple(map(tuple, padding))
    raise ValueError(
        "conv2d padding must be an int >= 0, ((top, bottom), (left, right)) of such ints, "
        f"'SAME' or 'VALID'; got {padding!r}."
    )


def _is_pair(x) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2


def _is_non_negative_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0
