"""jaxcnn's models in Flax NNX code, through ``flax.nnx.bridge``.

``to_nnx(model, variables)`` gives an ``nnx.Module`` that holds the variables (``nnx.Param`` and
``nnx.BatchStat``) and calls the linen model: ``m(x)`` in eval mode, ``m(x, train=True,
mutable=["batch_stats"])`` updating its batch statistics in place; ``nnx.Optimizer`` and
``nnx.grad`` take it as any NNX module. ``linen_variables(m)`` gives the variables back as linen's
``{'params', 'batch_stats'}``, so checkpoints, exports and converters see the same dict either way.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax import nnx
from flax.nnx.bridge import variables as bridge_variables


def to_nnx(
    model: nn.Module, variables: dict | None = None, *, rngs: nnx.Rngs | None = None, input_size: int | None = None
) -> nnx.bridge.ToNNX:
    """``model`` as an NNX module holding ``variables``.

    Args:
      model: a jaxcnn classifier (``jaxcnn.create_model``).
      variables: its ``{'params', 'batch_stats'}`` (published, a run's ``load_checkpoint``, or
        ``model.init``'s); None: initialised from ``rngs``' ``params`` stream on a zero image of
        ``input_size`` (default: the model's smallest input, at least 32).
      rngs: the ``nnx.Rngs`` of initialisation and of dropout in train mode; default
        ``nnx.Rngs(params=0, dropout=1)``.

    Returns:
      ``nnx.bridge.ToNNX``: ``m(x[N, H, W, C] float)`` -> logits ``[N, classes]`` float32 in eval
      mode; ``m(x, train=True, mutable=["batch_stats"])`` in train mode.
    """
    wrapped = nnx.bridge.ToNNX(model, rngs=rngs or nnx.Rngs(params=0, dropout=1))
    if variables is None:
        size = input_size or max(model.min_input_size, 32)
        return wrapped.lazy_init(jnp.zeros((1, size, size, model.in_channels)))
    for name, value in bridge_variables.linen_vars_to_nnx_attrs(variables).items():
        setattr(wrapped, name, nnx.data(value))
    return wrapped


def linen_variables(module: nnx.bridge.ToNNX) -> dict[str, Any]:
    """The ``{'params', 'batch_stats'}`` that ``module`` (a ``to_nnx`` result) holds now, as linen's
    ``model.apply`` takes them."""
    attrs = {name: value for name, value in vars(module).items() if not name.startswith(("to_nnx__", "_pytree__"))}
    return bridge_variables.nnx_attrs_to_linen_vars(attrs)
