"""The model registry: every model is created by name through ``create_model``.

Each model is a function of its name in its family's module (``jaxcnn.models.resnet.resnet50``),
decorated with ``register_model``, which carries its facts (parameters, MACs, natural input,
reference) and its published trained weights (``PublishedWeights``) beside it, as timm's
``default_cfgs`` and torchvision's ``Weights`` enums. The registry reads the built-in models' facts
from those modules' text, so that ``jaxcnn models`` lists them without importing jax; a family
module is imported when one of its models is created. Models of your own are added with the same
decorator.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import fnmatch
import importlib
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
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
      weights: the published trained weights by tag (``PublishedWeights``).
      module: the module that defines ``factory``.
      constructor: the factory of a model registered with ``register_model`` (None for a
        built-in one, whose factory is looked up in ``module`` when first used).
    """

    name: str
    params: int
    macs: int
    input_size: int = 224
    num_classes: int = 1000
    reference: str = ""
    torchvision: bool = False
    weights: dict[str, PublishedWeights] = dataclasses.field(default_factory=dict, repr=False)
    module: str = ""
    constructor: Callable[..., nn.Module] | None = dataclasses.field(default=None, repr=False)

    @property
    def factory(self) -> Callable[..., nn.Module]:
        """``factory(**kwargs) -> Classifier``: the registered constructor, else the function
        ``name`` of ``module`` (importing it, and so jax and flax, on first use)."""
        return self.constructor or getattr(importlib.import_module(self.module), self.name)


@dataclasses.dataclass(frozen=True)
class PublishedWeights:
    """Trained weights of a model as their publisher released them (torchvision's ``Weights``).

    Attributes:
      model, tag: the registered model and the weights' name (``'resnet50'``, ``'IMAGENET1K_V2'``).
      file: the file name as published; ``url``: ``base_url`` + ``file``.
      sha256: the published hash: the first 8 hex digits the file name carries (what ``torch.hub``
        checks) or the whole digest; a download must start with it.
      size_mb: the file's size in MB (10**6 bytes) as the publisher states it.
      dataset, top1, top5: the evaluation the publisher reports (percent; None where it reports none).
      resize, crop, interpolation, mean, std: the evaluation transform (shorter side, centre crop,
        in 0..1 units); ``resize`` None: the images are already ``crop`` pixels.
      classes: ``'imagenet'`` or ``'cifar10'``: the label names (``jaxcnn.convert.class_names``).
      license, source: the weights' licence and the publisher's page or recipe.
      hf_hub: the identical copy on the Hugging Face Hub, where one is published (timm's).
      default: torchvision's ``DEFAULT`` for the model.
      overrides: model attributes the weights need (``{'transform_input': True}``).
      prefix, renames: the file's state_dict keys carry ``prefix`` and these module names
        (``{'linear': 'fc'}``) where torchvision's naming has others.
      classifier: False where the file's classifier holds no trained values (features only).
    """

    model: str
    tag: str
    file: str
    base_url: str
    sha256: str
    size_mb: float
    dataset: str
    top1: float | None
    top5: float | None
    crop: int
    resize: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: str
    license: str
    source: str
    interpolation: str = "bilinear"
    hf_hub: str | None = None
    default: bool = False
    overrides: dict = dataclasses.field(default_factory=dict)
    prefix: str = ""
    renames: dict = dataclasses.field(default_factory=dict)
    classifier: bool = True

    @property
    def url(self) -> str:
        """Where the publisher serves the file."""
        return self.base_url + self.file

    @property
    def name(self) -> str:
        """``model:tag``, as ``--init-from``, ``predict`` and ``export`` take it."""
        return f"{self.model}:{self.tag}"


FAMILIES = ("inception", "resnet", "vgg")  # the modules jaxcnn.models.<family> of the built-in models
_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    *,
    params: int,
    macs: int,
    input_size: int = 224,
    num_classes: int = 1000,
    reference: str = "",
    torchvision: bool = False,
    weights: dict[str, dict] | None = None,
):
    """Decorator registering ``factory(**kwargs) -> Classifier`` under its function name, with
    the facts of ``ModelInfo``; ``weights`` maps each tag to the fields of
    ``PublishedWeights`` but ``model`` and ``tag`` (or a ``"publisher"`` of ``PUBLISHERS`` and the
    fields its files do not share). ``create_model`` passes the factory ``num_classes``,
    ``dtype`` and ``backend`` (a ``jaxcnn.ops.Backend``) besides the caller's overrides.

    The built-in models carry their facts the same way, beside their factories in
    ``jaxcnn.models.<family>``; the registry reads those from the modules' text (``_read_family``),
    so that listing them imports no jax, and the decorator leaves them as read."""

    def decorate(factory):
        name = factory.__name__
        registry = _registry()
        if name in registry and registry[name].module == factory.__module__ and registry[name].constructor is None:
            return factory  # a built-in model, registered from its module's text
        if name in registry:
            raise ValueError(f"model {name!r} is already registered")
        facts = dict(input_size=input_size, num_classes=num_classes, reference=reference, torchvision=torchvision)
        published = _published(name, weights or {})
        registry[name] = ModelInfo(
            name, params, macs, **facts, weights=published, module=factory.__module__, constructor=factory
        )
        return factory

    return decorate


# What every file of a publisher shares; an entry of ``register_model(weights=...)`` names its
# ``"publisher"`` and gives the rest (its own values win).
PUBLISHERS = {
    "torchvision": {
        "base_url": "https://download.pytorch.org/models/",
        "dataset": "ImageNet-1K",
        "crop": 224,
        "resize": 256,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "classes": "imagenet",
        "license": "BSD-3-Clause",
    },
}


def _published(model: str, weights: dict[str, dict]) -> dict[str, PublishedWeights]:
    published = {}
    for tag, entry in weights.items():
        fields = {**PUBLISHERS.get(entry.get("publisher"), {}), **entry}
        fields.pop("publisher", None)
        fields["mean"], fields["std"] = tuple(fields["mean"]), tuple(fields["std"])
        published[tag] = PublishedWeights(model, tag, **fields)
    return published


def _registry() -> dict[str, ModelInfo]:
    """The registry, holding the built-in models from the first use on."""
    if not _REGISTRY:
        for family in FAMILIES:
            _REGISTRY.update(_read_family(f"jaxcnn.models.{family}"))
    return _REGISTRY


def _read_family(module: str) -> dict[str, ModelInfo]:
    """``{name: ModelInfo}`` of the functions of ``module`` decorated with ``register_model``, read
    from its source without importing it: each argument a literal, a name of one of the module's
    literal constants, or ``**`` such a dict, and so within dicts, lists and tuples."""
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    constants: dict[str, Any] = {}

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return constants[node.id]
        if isinstance(node, ast.Dict):
            merged = {}
            for key, item in zip(node.keys, node.values):
                merged.update(value(item) if key is None else {ast.literal_eval(key): value(item)})
            return merged
        if isinstance(node, ast.List):
            return [value(item) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(value(item) for item in node.elts)
        return ast.literal_eval(node)

    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError, KeyError):
                constants[node.targets[0].id] = value(node.value)

    found = {}
    for node in tree.body:
        for decorator in getattr(node, "decorator_list", []):
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register_model":
                facts = {}
                for keyword in decorator.keywords:
                    facts.update(value(keyword.value) if keyword.arg is None else {keyword.arg: value(keyword.value)})
                facts["weights"] = _published(node.name, facts.get("weights") or {})
                found[node.name] = ModelInfo(node.name, module=module, **facts)
    return found


def natural_key(name: str) -> list:
    """Sort key putting ``plain20`` before ``plain110``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str | None = None, *, torchvision: bool | None = None) -> list[str]:
    """Registered names in natural order (``resnet20`` before ``resnet110``), optionally filtered
    by an fnmatch ``pattern`` (``'resnet*'``) and by whether torchvision has the model."""
    registry = _registry()
    names = sorted(registry, key=natural_key)
    names = [n for n in names if torchvision is None or registry[n].torchvision == torchvision]
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; unknown names raise ``ValueError`` with close matches."""
    registry = _registry()
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} `jaxcnn models` lists all {len(registry)} models.")
    return registry[name]


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
      logits ``[N, num_classes]`` in float32. ``jaxcnn.create_model(name, weights=...)`` also
      gives published trained variables (``jaxcnn.convert.published``).
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


def list_weights(pattern: str | None = None) -> list[PublishedWeights]:
    """Every published weight of the models matching ``pattern`` (as ``list_models``), by model in
    natural order, then as registered."""
    registry = _registry()
    return [weights for name in list_models(pattern) for weights in registry[name].weights.values()]


def get_weights(spec: str, tag: str | None = None) -> PublishedWeights:
    """The published weights ``'model:TAG'`` (or ``spec`` the model and ``tag`` the tag);
    ``DEFAULT`` or no tag is the model's default (torchvision's ``DEFAULT``).

    Raises:
      ValueError: an unknown model (with close names), a model without published weights, or an
        unknown tag (listing the model's).
    """
    name, _, named_tag = spec.partition(":")
    tag = (tag or named_tag or "DEFAULT").upper()
    published = model_info(name).weights
    if not published:
        having = sorted({w.model for w in list_weights()}, key=natural_key)
        raise ValueError(f"{name} has no published weights; the models that have some: {', '.join(having)}")
    if tag == "DEFAULT":
        return next((w for w in published.values() if w.default), next(iter(published.values())))
    if tag not in published:
        raise ValueError(f"{name} has no weights {tag!r}; it has {', '.join(published)} (and DEFAULT)")
    return published[tag]


def is_weights_name(src: object) -> bool:
    """Whether ``src`` names published weights (``'resnet50:IMAGENET1K_V2'``, ``'resnet50:DEFAULT'``)
    rather than a file or folder: ``model:TAG`` of a registered model, and no such path exists."""
    if not isinstance(src, str) or ":" not in src:
        return False
    return src.partition(":")[0] in _registry() and not Path(src).exists()
