"""How each jaxcnn model family names its layers in torchvision.

A ``Family`` turns the path of a Flax submodule (``('inception3a', 'branch2_1', 'conv')``)
into the name of the matching torchvision module (``'inception3a.branch2.1.conv'``). Everything
else (which leaf is a conv kernel, how it is transposed) is the same for all families and
lives in ``jaxcnn.convert.mapping``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import flax.linen as nn

from jaxcnn.models import create_model, list_models
from jaxcnn.models.inception import GoogLeNet, InceptionV3
from jaxcnn.models.resnet import BasicBlock, Bottleneck, ResNet
from jaxcnn.models.vgg import VGG

Path = tuple[str, ...]

TORCHVISION_MODELS = tuple(list_models(torchvision=True))  # the registry records which models torchvision has

# torchvision's ImageNet weights expect inputs normalised with these (0..1 units, RGB) ...
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def eval_resize(input_size: int) -> int:
    """... and resized so the shorter side is this before the centre crop of ``input_size``:
    torchvision's evaluation transform (256 for 224, 342 for Inception v3's 299)."""
    return {224: 256, 299: 342}.get(input_size, input_size)


@dataclasses.dataclass(frozen=True)
class Family:
    """The torchvision naming of one model class.

    Attributes:
      module_type: the jaxcnn model class.
      module_names: ``(model, flax_module_path, stack) -> torch module names``; one name, or
        ``stack`` names for a module whose parameters are stacked by ``nn.scan``.
      classifier: Flax path and torch name of the last linear layer (it tells ``num_classes``).
      flattened: Flax paths of linear layers reading a flattened feature map, with its
        ``(H, W)``: torchvision flattens NCHW, jaxcnn NHWC, so their rows are permuted.
      aux: top-level names of the auxiliary classifiers (the same in Flax and torchvision).
      scans: the model has a ``scan`` attribute (stacked or unrolled repeated blocks).
      check: raises ``ValueError`` for a configuration torchvision does not have.
    """

    module_type: type
    module_names: Callable[[nn.Module, Path, int], list[str]]
    classifier: tuple[Path, str]
    flattened: dict[Path, tuple[int, int]] = dataclasses.field(default_factory=dict)
    aux: tuple[str, ...] = ()
    scans: bool = False
    check: Callable[[nn.Module], None] = lambda model: None


def _vgg_feature_indices(model: VGG) -> dict[str, int]:
    """Index in torchvision's ``features`` Sequential of each conv: conv(, bn), relu per conv,
    one max-pool per stage."""
    indices, index = {}, 0
    for s, (convs, _) in enumerate(model.stages, start=1):
        for j in range(1, convs + 1):
            indices[f"conv{s}_{j}"] = index
            index += 3 if model.batch_norm else 2
        index += 1
    return indices


def _vgg_names(model: VGG, path: Path, stack: int) -> list[str]:
    if path[0] == "head":
        return [{"fc1": "classifier.0", "fc2": "classifier.3", "fc3": "classifier.6"}[path[1]]]
    return [f"features.{_vgg_feature_indices(model)[path[0]] + (path[1] == 'bn')}"]


def _check_vgg(model: VGG) -> None:
    if model.head != "mlp":
        raise ValueError(
            f"torchvision's VGG has the 'mlp' head; this VGG has head={model.head!r}, which has no torchvision weights."
        )


def _googlenet_names(model: GoogLeNet, path: Path, stack: int) -> list[str]:
    # torchvision's branches are Sequentials: our branch2_1 is its branch2.1.
    return [".".join(re.sub(r"^branch(\d)_(\d)$", r"branch\1.\2", part) for part in path)]


def _inception_v3_names(model: InceptionV3, path: Path, stack: int) -> list[str]:
    return [".".join(path)]


_RESNET_RENAMES = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}


def _resnet_names(model: ResNet, path: Path, stack: int) -> list[str]:
    """``layer2_block0/conv1`` -> ``layer2.0.conv1``; ``layer2_blocks/block0/conv1`` ->
    ``layer2.1.conv1``; ``layer2_blocks/scan/block/conv1`` -> ``layer2.1.conv1 .. layer2.{stack}.conv1``."""
    head, rest = path[0], [_RESNET_RENAMES.get(part, part) for part in path[1:]]
    first = re.fullmatch(r"layer(\d+)_block0", head)
    if first:
        return [".".join([f"layer{first[1]}", "0", *rest])]
    repeated = re.fullmatch(r"layer(\d+)_blocks", head)
    if not repeated:
        return [".".join([head, *rest])]
    if rest[0] == "scan":
        return [".".join([f"layer{repeated[1]}", str(j), *rest[2:]]) for j in range(1, stack + 1)]
    return [".".join([f"layer{repeated[1]}", str(int(rest[0].removeprefix("block")) + 1), *rest[1:]])]


def _check_resnet(model: ResNet) -> None:
    imagenet = model.stem == "imagenet" and model.shortcut == "projection"
    cifar = model.stem == "cifar" and model.shortcut == "zero_pad"  # torchvision's naming, as published CIFAR nets
    if not (imagenet or cifar) or model.block_cls not in (BasicBlock, Bottleneck):
        raise ValueError(
            "torchvision's ResNets have stem='imagenet', shortcut='projection' (or, as the published CIFAR-10 "
            "nets, stem='cifar', shortcut='zero_pad') and BasicBlock or Bottleneck blocks; "
            f"this ResNet has stem={model.stem!r}, shortcut={model.shortcut!r}, {model.block_cls.__name__}, "
            "which has no torchvision weights."
        )


FAMILIES = (
    Family(VGG, _vgg_names, (("head", "fc3"), "classifier.6"), {("head", "fc1"): (7, 7)}, check=_check_vgg),
    Family(
        GoogLeNet,
        _googlenet_names,
        (("fc",), "fc"),
        {("aux1", "fc1"): (4, 4), ("aux2", "fc1"): (4, 4)},
        aux=("aux1", "aux2"),
    ),
    Family(InceptionV3, _inception_v3_names, (("fc",), "fc"), aux=("AuxLogits",)),
    Family(ResNet, _resnet_names, (("fc",), "fc"), scans=True, check=_check_resnet),
)


def family_of(model: nn.Module) -> Family:
    """The ``Family`` of a jaxcnn model; ``ValueError`` if torchvision has no such model."""
    for family in FAMILIES:
        if isinstance(model, family.module_type):
            family.check(model)
            return family
    raise ValueError(
        f"torchvision conversion handles jaxcnn's VGG, GoogLeNet, InceptionV3 and ResNet models; got "
        f"{type(model).__name__}. Pass one of them or a name from {TORCHVISION_MODELS}."
    )


def model_from_name(name: str, **kwargs) -> nn.Module:
    """``create_model(name, **kwargs)`` for a model that torchvision also has, else ``ValueError``."""
    if name not in TORCHVISION_MODELS:
        raise ValueError(
            f"torchvision has no model {name!r} to convert; "
            f"the models it shares with jaxcnn are {', '.join(TORCHVISION_MODELS)}."
        )
    return create_model(name, **kwargs)
