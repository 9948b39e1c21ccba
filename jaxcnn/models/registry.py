"""The model registry: every model is created by name through ``create_model``; the family
modules register their constructors with :func:`register_model`."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.ops import Backend, resolve_backend


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a model, kept beside its definition (as timm's ``default_cfgs``).

    Attributes:
      name, factory: the registered name and ``factory(**kwargs) -> Classifier``.
      params: scalars in the ``params`` collection with the default attributes.
      macs: multiply-accumulates of the conv and dense layers for one image of ``input_size``
        (``jaxcnn.summary(model, (1, input_size, input_size, 3)).total_macs``).
      input_size: the natural square input (224, 299 for Inception v3, 32 for CIFAR nets).
      num_classes: outputs with the default attributes (1000 ImageNet, 10 CIFAR-10).
      reference: where the architecture and its figures come from (paper or torchvision).
      torchvision: torchvision has this model under the same name (weights convert both ways).
    """

    name: str
    factory: Callable[..., nn.Module]
    params: int
    macs: int
    input_size: int
    num_classes: int
    reference: str
    torchvision: bool


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    *,
    params: int,
    macs: int,
    input_size: int = 224,
    num_classes: int = 1000,
    reference: str = "",
    torchvision: bool = False,
):
    """Decorator registering ``factory(**kwargs) -> Classifier`` under its function name, with
    the facts of :class:`ModelInfo` (tests/models checks them against the built model).
    ``create_model`` passes the factory ``num_classes``, ``dtype`` and ``backend`` (a
    ``jaxcnn.ops.Backend``) besides the caller's overrides."""

    def decorate(factory):
        name = factory.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, factory, params, macs, input_size, num_classes, reference, torchvision)
        return factory

    return decorate


def natural_key(name: str) -> list:
    """Sort key putting ``plain20`` before ``plain110``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str | None = None, *, torchvision: bool | None = None) -> list[str]:
    """Registered names in natural order (``resnet20`` before ``resnet110``), optionally filtered
    by an fnmatch ``pattern`` (``'resnet*'``) and by whether torchvision has the model."""
    names = sorted(_REGISTRY, key=natural_key)
    names = [n for n in names if torchvision is None or _REGISTRY[n].torchvision == torchvision]
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; unknown names raise ``ValueError`` with close matches."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} `jaxcnn models` lists all {len(_REGISTRY)} models.")
    return _REGISTRY[name]


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    dtype: Any = jnp.float32,
    backend: Backend | str | None = None,
    **overrides,
) -> nn.Module:
    """Create a registered model.

    Args:
      name: a name from ``list_models()``, e.g. ``'resnet50'``.
      num_classes: outputs of the last layer; default 1000 for ImageNet models, 10 for CIFAR ones.
      dtype: compute dtype (``jnp.bfloat16`` for mixed precision); parameters stay float32.
      backend: how convolutions and max pools are computed: ``"xla"``, ``"cpu"`` or a
        ``jaxcnn.ops.Backend``; ``None`` reads ``$JAXCNN_CONV``, else takes ``"cpu"`` when JAX's
        default device is a CPU and ``"xla"`` otherwise. Decided here, once: the model's
        attribute ``backend`` holds the choice. Every backend computes the same function.
      **overrides: model attributes such as ``in_channels``, ``bn_axis_name``, ``scan``, ``remat``.

    Returns:
      A ``flax.linen.Module``; ``apply(variables, x[N, H, W, C] float, train=False)`` gives
      logits ``[N, num_classes]`` in float32.
    """
    info = model_info(name)
    try:
        return info.factory(
            num_classes=num_classes or info.num_classes, dtype=dtype, backend=resolve_backend(backend), **overrides
        )
    except TypeError as err:
        raise TypeError(f"create_model({name!r}): {err}") from None
