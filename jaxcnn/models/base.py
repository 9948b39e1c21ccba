"""The interface the rest of jaxcnn relies on: every model is a ``Classifier``."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp


class Classifier(nn.Module):
    """Base class of jaxcnn's networks; training, conversion and inspection read these members
    directly, so a model of your own trains with ``jaxcnn.training`` once it subclasses this.

    Every subclass declares the dataclass fields (a base class cannot, since subclasses add
    fields without defaults): ``num_classes: int``, ``in_channels: int``, ``dtype`` (compute
    dtype; parameters stay float32) and ``bn_axis_name: str | None`` (the ``pmap`` axis batch
    norm averages over; ``None`` for models without batch norm, which ignore it). jaxcnn's own
    models also declare ``backend: jaxcnn.ops.Backend`` (default ``XLA``), the convolution and
    max pool they compute with, which ``create_model`` chooses, and ``bn_group_size: int | None``
    (batch norm statistics per group of that many images of a batch, as a recipe's GPUs each
    normalised their own share: ``jaxcnn.models.layers.GroupedBatchNorm``; None: the whole batch).

    ``__call__(x, train=False)`` takes float ``[N, H, W, in_channels]`` and returns logits
    ``[N, num_classes]`` float32; in train mode a model with ``aux_heads > 0`` returns
    ``(logits, aux)`` instead, ``aux`` a tuple of ``aux_heads`` logits arrays.

    Stages (for ``jaxcnn.features`` and freezing): a network is a sequence of ``num_stages``
    stages, each everything that computes at one resolution, and a head. jaxcnn's models sow
    each stage's output map into the ``features`` collection (``stages``) and the head's
    pre-logit vector (``embedding``); ``stage_of`` says which stage a top-level layer belongs to,
    and a field ``frozen_stages: int = 0`` makes the batch norms of stages 1..frozen_stages use
    their running statistics in train mode too (frozen layers; see ``--freeze``).
    """

    classifier_paths: ClassVar[tuple[tuple[str, ...], ...]] = (("fc",),)
    """Module paths of the layers that output ``num_classes`` (the classifier first, then those
    of the auxiliary heads): initialised fresh when weights for another number of classes load."""

    aux_names: ClassVar[tuple[str, ...]] = ()
    """Top-level names of the auxiliary heads (GoogLeNet's ``aux1``, ``aux2``)."""

    aux_weight: ClassVar[float] = 0.0
    """Weight of each auxiliary head's loss in the training loss."""

    @property
    def aux_heads(self) -> int:
        """Number of auxiliary classifiers in train-mode output (0: the output is the logits)."""
        return 0

    @property
    def min_input_size(self) -> int:
        """Smallest height and width the network's reductions accept."""
        return 1

    @property
    def stage_strides(self) -> tuple[int, ...]:
        """The stride in input pixels of each stage's output map (one per stage)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its stages")

    @property
    def num_stages(self) -> int:
        """Number of stages before the head."""
        return len(self.stage_strides)

    def stage_of(self, name: str) -> int | None:
        """The stage (1-based) of the top-level layer ``name``; None for the head (classifier and
        auxiliary heads)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its stages")

    def trains_stage(self, stage: int, train: bool) -> bool:
        """Whether the batch norms of ``stage`` run in train mode: ``train`` and not frozen."""
        return train and stage > getattr(self, "frozen_stages", 0)


def check_classifier(model: object, caller: str) -> None:
    """``TypeError`` unless ``model`` is a ``Classifier`` with its four fields."""
    fields = ("num_classes", "in_channels", "dtype", "bn_axis_name")
    missing = [name for name in fields if name not in getattr(type(model), "__dataclass_fields__", {})]
    if not isinstance(model, Classifier) or missing:
        raise TypeError(
            f"{caller} needs a jaxcnn.models.Classifier with the fields {', '.join(fields)}; got "
            f"{type(model).__name__}{f' without {missing}' if isinstance(model, Classifier) else ''}. "
            "Subclass jaxcnn.models.Classifier and declare them."
        )


def init_shapes(model: Classifier, input_size: int, in_channels: int | None = None) -> Any:
    """Abstract variables (``jax.ShapeDtypeStruct`` leaves) of ``model`` at a square input; no FLOPs."""
    channels = in_channels or model.in_channels
    x = jax.ShapeDtypeStruct((1, input_size, input_size, channels), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape, x.dtype)))


def count_params(variables: Any) -> int:
    """Number of scalars in the ``params`` collection (batch statistics are not parameters).

    Works on concrete arrays and on ``jax.eval_shape`` output alike.
    """
    params = variables.get("params", {}) if hasattr(variables, "get") else variables
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))
