"""The model registry: every model is created by name through ``create_model``.

The facts of each built-in model (parameters, MACs, natural input, reference) are a table here, in
plain Python, so that ``jaxcnn models`` lists them without importing jax; each name is a function
of the same name in its family's module (``jaxcnn.models.resnet.resnet50``), imported when the
model is created. Models of your own are added with :func:`register_model`.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import flax.linen as nn

    from jaxcnn.ops import Backend


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a model (as timm's ``default_cfgs``).

    Attributes:
      name: the registered name.
      params: scalars in the ``params`` collection with the default attributes.
      macs: multiply-accumulates of the conv and dense layers for one image of ``input_size``
        (``jaxcnn.summary(model, (1, input_size, input_size, 3)).total_macs``).
      input_size: the natural square input (224, 299 for Inception v3, 32 for CIFAR nets).
      num_classes: outputs with the default attributes (1000 ImageNet, 10 CIFAR-10).
      reference: where the architecture and its figures come from (paper or torchvision).
      torchvision: torchvision has this model under the same name (weights convert both ways).
      module: the module that defines ``factory``.
      constructor: the factory of a model registered with :func:`register_model` (None for a
        built-in one, whose factory is looked up in ``module`` when first used).
    """

    name: str
    params: int
    macs: int
    input_size: int = 224
    num_classes: int = 1000
    reference: str = ""
    torchvision: bool = False
    module: str = ""
    constructor: Callable[..., nn.Module] | None = dataclasses.field(default=None, repr=False)

    @property
    def factory(self) -> Callable[..., nn.Module]:
        """``factory(**kwargs) -> Classifier``: the registered constructor, else the function
        ``name`` of ``module`` (importing it, and so jax and flax, on first use)."""
        return self.constructor or getattr(importlib.import_module(self.module), self.name)


CIFAR = dict(input_size=32, num_classes=10)  # every CIFAR net: 32x32 inputs, 10 classes
OPTION_A = "He et al. 2015, CIFAR-10, option A"
PLAIN = "He et al. 2015, CIFAR-10 plain net"
PREACT = "He et al. 2016, CIFAR-10, pre-activation"


def _model(name: str, family: str, params: int, macs: int, **facts) -> tuple[str, ModelInfo]:
    return name, ModelInfo(name, params, macs, module=f"jaxcnn.models.{family}", **facts)


# tests/models checks every entry against the model built from it (and against torchvision).
_REGISTRY: dict[str, ModelInfo] = dict(
    [
        _model("googlenet", "inception", 6_624_904, 1_498_376_192, reference="torchvision googlenet", torchvision=True),
        _model(
            "inception_v3",
            "inception",
            23_834_568,
            5_713_216_096,
            input_size=299,
            reference="torchvision inception_v3 (transform_input=False)",
            torchvision=True,
        ),
        _model("plain20", "resnet", 269_722, 40_551_040, **CIFAR, reference=PLAIN),
        _model("plain32", "resnet", 464_154, 68_862_592, **CIFAR, reference=PLAIN),
        _model("plain44", "resnet", 658_586, 97_174_144, **CIFAR, reference=PLAIN),
        _model("plain56", "resnet", 853_018, 125_485_696, **CIFAR, reference=PLAIN),
        _model("plain110", "resnet", 1_727_962, 252_887_680, **CIFAR, reference=PLAIN),
        _model("preact_resnet164", "resnet", 1_703_258, 247_646_720, **CIFAR, reference=PREACT),
        _model("preact_resnet1001", "resnet", 10_327_706, 1_490_995_712, **CIFAR, reference=PREACT),
        _model("resnet18", "resnet", 11_689_512, 1_814_073_344, reference="torchvision resnet18", torchvision=True),
        _model("resnet20", "resnet", 269_722, 40_551_040, **CIFAR, reference=OPTION_A),
        _model("resnet32", "resnet", 464_154, 68_862_592, **CIFAR, reference=OPTION_A),
        _model("resnet34", "resnet", 21_797_672, 3_663_761_408, reference="torchvision resnet34", torchvision=True),
        _model("resnet44", "resnet", 658_586, 97_174_144, **CIFAR, reference=OPTION_A),
        _model("resnet50", "resnet", 25_557_032, 4_089_184_256, reference="torchvision resnet50", torchvision=True),
        _model("resnet56", "resnet", 853_018, 125_485_696, **CIFAR, reference=OPTION_A),
        _model("resnet101", "resnet", 44_549_160, 7_801_405_440, reference="torchvision resnet101", torchvision=True),
        _model("resnet110", "resnet", 1_727_962, 252_887_680, **CIFAR, reference=OPTION_A),
        _model("resnet152", "resnet", 60_192_808, 11_513_626_624, reference="torchvision resnet152", torchvision=True),
        _model("resnet1202", "resnet", 19_421_274, 2_829_238_912, **CIFAR, reference=OPTION_A),
        _model("vgg11", "vgg", 132_863_336, 7_609_090_048, reference="torchvision vgg11", torchvision=True),
        _model("vgg11_bn", "vgg", 132_868_840, 7_609_090_048, reference="torchvision vgg11_bn", torchvision=True),
        _model("vgg13", "vgg", 133_047_848, 11_308_466_176, reference="torchvision vgg13", torchvision=True),
        _model("vgg13_bn", "vgg", 133_053_736, 11_308_466_176, reference="torchvision vgg13_bn", torchvision=True),
        _model("vgg16", "vgg", 138_357_544, 15_470_264_320, reference="torchvision vgg16", torchvision=True),
        _model("vgg16_bn", "vgg", 138_365_992, 15_470_264_320, reference="torchvision vgg16_bn", torchvision=True),
        _model("vgg19", "vgg", 143_667_240, 19_632_062_464, reference="torchvision vgg19", torchvision=True),
        _model("vgg19_bn", "vgg", 143_678_248, 19_632_062_464, reference="torchvision vgg19_bn", torchvision=True),
    ]
)


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
    the facts of :class:`ModelInfo`. ``create_model`` passes the factory ``num_classes``,
    ``dtype`` and ``backend`` (a ``jaxcnn.ops.Backend``) besides the caller's overrides."""

    def decorate(factory):
        name = factory.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        facts = dict(input_size=input_size, num_classes=num_classes, reference=reference, torchvision=torchvision)
        _REGISTRY[name] = ModelInfo(name, params, macs, **facts, module=factory.__module__, constructor=factory)
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
    dtype: Any = None,
    backend: Backend | str | None = None,
    **overrides,
) -> nn.Module:
    """Create a registered model.

    Args:
      name: a name from ``list_models()``, e.g. ``'resnet50'``.
      num_classes: outputs of the last layer; default 1000 for ImageNet models, 10 for CIFAR ones.
      dtype: compute dtype (None: ``jnp.float32``; ``jnp.bfloat16`` for mixed precision);
        parameters stay float32.
      backend: how convolutions and max pools are computed: ``"xla"``, ``"cpu"`` or a
        ``jaxcnn.ops.Backend``; ``None`` reads ``$JAXCNN_CONV``, else takes ``"cpu"`` when JAX's
        default device is a CPU and ``"xla"`` otherwise. Decided here, once: the model's
        attribute ``backend`` holds the choice. Every backend computes the same function.
      **overrides: model attributes such as ``in_channels``, ``bn_axis_name``, ``scan``, ``remat``.

    Returns:
      A ``flax.linen.Module``; ``apply(variables, x[N, H, W, C] float, train=False)`` gives
      logits ``[N, num_classes]`` in float32.
    """
    import jax.numpy as jnp

    from jaxcnn.ops import resolve_backend

    info = model_info(name)
    dtype = jnp.float32 if dtype is None else dtype
    try:
        return info.factory(
            num_classes=num_classes or info.num_classes, dtype=dtype, backend=resolve_backend(backend), **overrides
        )
    except TypeError as err:
        raise TypeError(f"create_model({name!r}): {err}") from None
