"""Max pooling of NHWC images: XLA's own, and the same function with a gradient written for XLA:CPU."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .conv import Padding, window_slice


def xla_max_pool(x: jax.Array, window: tuple[int, int], strides: tuple[int, int], padding: Padding) -> jax.Array:
    """The maximum of each ``window`` of NHWC ``x`` [N, H, W, C], moved by ``strides`` over ``x``
    padded with -inf: ``lax.reduce_window``, [N, H', W', C] (``flax.linen.max_pool``'s function)."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1), ((0, 0), *padding, (0, 0)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def cpu_max_pool(x: jax.Array, window: tuple[int, int], strides: tuple[int, int], padding: Padding) -> jax.Array:
    """The same function as ``xla_max_pool``, with XLA's gradient (each output's gradient goes
    to the first maximum of its window in row-major order) written as one strided slice per window
    offset: XLA:CPU expands its own select-and-scatter into a reduce-window over four int32 index
    arrays of the input's size."""
    return xla_max_pool(x, window, strides, padding)


def _cpu_max_pool_fwd(x, window, strides, padding):
    return xla_max_pool(x, window, strides, padding), x


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
