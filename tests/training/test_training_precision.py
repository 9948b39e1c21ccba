"""--dtype bfloat16: bf16 compute, float32 parameters and optimizer state, nearly float32's results."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.training import fit
from tests.training.runs import tiny_config


def test_bfloat16_training_keeps_float32_state_and_tracks_float32(tiny_data, tmp_path):
    train, test = tiny_data
    runs = {
        dtype: fit(tiny_config(tmp_path / dtype, dtype=dtype), train=train, test=test)
        for dtype in ("float32", "bfloat16")
    }
    half = runs["bfloat16"]
    assert half.model.dtype == jnp.bfloat16
    assert {
        leaf.dtype
        for leaf in jax.tree.leaves((half.state.params, half.state.opt_state, half.state.batch_stats))
        if np.issubdtype(leaf.dtype, np.floating)
    } == {np.dtype(np.float32)}
    full, half = runs["float32"].history[-1], half.history[-1]
    # bf16 keeps 8 significant bits (relative rounding 2**-9 = 0.2% per operation); over ~10 layers and
    # 16 steps these errors stay within a few percent of the loss, far below the change from training
    # (the loss falls from ln 10 = 2.3 to about 1.5 here).
    assert abs(half["train_loss"] - full["train_loss"]) <= 0.05 * full["train_loss"]
    assert abs(half["test_loss"] - full["test_loss"]) <= 0.05 * full["test_loss"]
    # 100 test images: allow 5 of them to change class.
    assert abs(half["test_accuracy"] - full["test_accuracy"]) <= 0.05
