"""Reproducible random weights and inputs: torchvision's (shared by tools/make_torchvision_fixtures.py
and the tests: torchvision's logits are stored once, the weights are drawn again from a seed) and
jaxcnn's (``random_variables``, for the export tests and the serving benchmark)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_RESIDUAL_BN = re.compile(r"^(layer\d+\.\d+)\.bn(\d)\.weight$")


def _closes_residual_branch(key: str, keys: set[str]) -> bool:
    """The last batch norm of a ResNet block's residual branch (what torchvision's
    ``zero_init_residual`` zeroes): ``bn2`` of a basic block, ``bn3`` of a bottleneck."""
    match = _RESIDUAL_BN.match(key)
    return bool(match) and f"{match[1]}.bn{int(match[2]) + 1}.weight" not in keys


def random_state_dict(spec: Sequence[tuple[str, Sequence[int]]], seed: int) -> dict[str, np.ndarray]:
    """A state_dict with every entry drawn, in ``spec`` order, from one ``numpy`` generator.

    Args:
      spec: ``(torchvision name, shape)`` pairs in the state_dict's order.
      seed: seed of ``np.random.default_rng``.

    Returns:
      ``{name: array}``, float32 except ``num_batches_tracked`` (int64 zeros). Conv and linear
      weights ~ N(0, 2 / fan_in) (He), batch-norm weights ~ U(0.5, 1.5), biases and running
      means ~ N(0, 0.1^2), running variances ~ U(0.5, 1.5): activations stay of order one
      through a deep net in eval mode. The batch norms that close a ResNet residual branch get
      weights ~ U(0.05, 0.15), so that the residual sum does not grow geometrically with depth
      (resnet152's logits would reach 1e13 and drown every bias and running mean).
    """
    rng, keys, state_dict = np.random.default_rng(seed), {key for key, _ in spec}, {}
    for key, shape in spec:
        shape = tuple(shape)
        if key.endswith("num_batches_tracked"):
            state_dict[key] = np.zeros(shape, np.int64)
        elif key.endswith("running_var") or (key.endswith("weight") and len(shape) == 1):
            low, high = (0.05, 0.15) if _closes_residual_branch(key, keys) else (0.5, 1.5)
            state_dict[key] = np.float32(low) + rng.random(shape, np.float32) * np.float32(high - low)
        elif key.endswith("weight"):
            state_dict[key] = rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2 / np.prod(shape[1:])))
        else:  # biases and running means
            state_dict[key] = rng.standard_normal(shape, np.float32) * np.float32(0.1)
    return state_dict


def random_images(seed: int, batch: int, height: int, width: int, channels: int = 3) -> np.ndarray:
    """Standard-normal float32 images ``[batch, height, width, channels]`` (NHWC; transpose to
    NCHW for torch) from ``np.random.default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal((batch, height, width, channels), np.float32)


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """``max |ours - reference| / max |reference|``: the parity measure against torchvision."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    if ours.shape != reference.shape:
        raise ValueError(f"outputs differ in shape: {ours.shape} here, {reference.shape} in the reference.")
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def random_variables(model, size: int, seed: int = 0) -> dict:
    """Random ``{'params', 'batch_stats'}`` of ``model``'s shapes at input side ``size``, drawn in
    numpy (an eager ``init`` of Inception v3 takes half a minute on a 2-core CPU): kernels
    ~ N(0, 1 / fan_in), scales and running variances ~ U(0.5, 1.5), biases and running means
    ~ N(0, 0.2^2), so that batch norm is not the identity. float32 arrays."""
    import jax

    from jaxcnn.models import init_shapes

    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name, shape = jax.tree_util.keystr(path), leaf.shape
        if "kernel" in name:
            return rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape).astype(np.float32)
        if "var" in name or "scale" in name:
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        return rng.normal(0, 0.2, shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, init_shapes(model, size))
