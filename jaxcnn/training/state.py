"""The training state: everything a step reads and writes, as one pytree."""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """params and batch_stats (float32 trees), opt_state (optax), step (int32 []) and rng
    (uint32 raw key data; augmentation and dropout keys are folded from it)."""

    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array

    @property
    def variables(self) -> dict:
        """``{'params', 'batch_stats'}`` as ``model.apply`` takes them."""
        return {"params": self.params, "batch_stats": self.batch_stats}


def create_train_state(
    model: nn.Module, rng: jax.Array, input_shape: tuple[int, ...], tx: optax.GradientTransformation
) -> TrainState:
    """Initialise ``model`` for float32 inputs of ``input_shape`` ([N, H, W, C]) and ``tx``.

    Args:
      model: a linen module taking ``(x, train=...)``.
      rng: a PRNG key (``jax.random.key`` or raw uint32 ``PRNGKey``); split into the
        initialisation key and the state's ``rng``.
      input_shape: the shape of one input batch (any N, e.g. 1).
      tx: the optimizer.
    """
    key = rng if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(rng)
    init_key, state_key = jax.random.split(key)
    variables = jax.jit(model.init)(init_key, jnp.zeros(input_shape, jnp.float32))
    params = variables["params"]
    return TrainState(
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        step=jnp.zeros((), jnp.int32),
        rng=jax.random.key_data(state_key),
    )
