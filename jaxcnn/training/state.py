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


# XLA:CPU compiles with LLVM at level 3 by default; init's program (the unrolled threefry and
# truncated normals of every initializer; the forward pass is dead code) compiles markedly faster
# at level 2 and gives the same bits (tests/training/test_training_state.py compares them).
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}


def init_variables(model: nn.Module, key: jax.Array, input_shape: tuple[int, ...]) -> dict:
    """``model.init(key, zeros(input_shape) float32)``, jitted; on CPU compiled with
    ``INIT_COMPILER_OPTIONS`` (unless traced inside another jit or ``eval_shape``, whose own
    compilation decides). Returns the variables (``params``, ``batch_stats``: float32 trees)."""
    top_level = not isinstance(key, jax.core.Tracer)
    options = INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" and top_level else None
    return jax.jit(model.init, compiler_options=options)(key, jnp.zeros(input_shape, jnp.float32))


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
    variables = init_variables(model, init_key, input_shape)
    params = variables["params"]
    return TrainState(
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        step=jnp.zeros((), jnp.int32),
        rng=jax.random.key_data(state_key),
    )
