"""Reading a network's features: the pre-logit embedding and each stage's map, from what the
models sow into their ``features`` collection.

One function for every family, rather than methods on each model (timm's ``forward_features``,
``forward_head`` and ``features_only=True``): the models keep one ``__call__``, a sown value costs
nothing unless the ``features`` collection is asked for, and ``features`` runs under ``jax.jit``
like any ``apply``. Like ``features_only``, the stage maps are the last map at each stride (with
the stride given beside it); like ``forward_head(pre_logits=True)``, the embedding is what the
classifier reads, so ``logits == embedding @ kernel + bias``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax
import jax
from flax import traverse_util

from jaxcnn.models.base import Classifier, check_classifier


@flax.struct.dataclass
class Features:
    """What ``features`` returns (a pytree: ``jax.jit`` may return it; ``strides`` are static).

    Attributes:
      embedding: ``[N, D]``, the classifier's input (after global pooling; VGG's MLP head: after
        its hidden layers), in the model's compute dtype.
      stages: the chosen stages' output maps, NHWC ``[N, H / stride, W / stride, C]``.
      strides: each map's stride in input pixels.
      logits: ``[N, num_classes]`` float32.
    """

    embedding: jax.Array
    stages: tuple[jax.Array, ...]
    strides: tuple[int, ...] = flax.struct.field(pytree_node=False)
    logits: jax.Array


def features(model: Classifier, variables: Any, x: jax.Array, stages: Sequence[int] | None = None) -> Features:
    """The embedding and stage maps of ``model`` (eval mode) for float ``x[N, H, W, C]``.

    Args:
      model: a jaxcnn model (``create_model``); stages are defined per family (``stage_of``).
      variables: its ``{'params', 'batch_stats'}``.
      x: the normalised input images, as ``model.apply`` takes them.
      stages: 1-based stage numbers to return (default all, ``1 .. model.num_stages``).

    Raises:
      ValueError: a stage outside ``1 .. model.num_stages``.
    """
    check_classifier(model, "jaxcnn.features")
    chosen = tuple(range(1, model.num_stages + 1)) if stages is None else tuple(stages)
    wrong = [s for s in chosen if not (isinstance(s, int) and 1 <= s <= model.num_stages)]
    if wrong:
        raise ValueError(f"{type(model).__name__} has stages 1..{model.num_stages}; got {', '.join(map(repr, wrong))}")
    logits, sown = model.apply(variables, x, train=False, mutable=["features"])
    flat = traverse_util.flatten_dict(sown["features"])
    (embedding,) = [value[0] for path, value in flat.items() if path[-1] == "embedding"]
    maps = flat[("stages",)]
    return Features(
        embedding, tuple(maps[s - 1] for s in chosen), tuple(model.stage_strides[s - 1] for s in chosen), logits
    )
