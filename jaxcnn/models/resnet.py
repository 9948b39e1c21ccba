"""ResNets: the ImageNet nets of torchvision (v1.5), the CIFAR nets of He et al. 2015 (and their
plain twins without shortcuts) and the pre-activation nets of He et al. 2016.

One network class covers all of them (as haiku's ``ResNet``): the block class decides basic,
bottleneck or pre-activation; ``stem`` decides ImageNet (7x7/2 conv + 3x3/2 max-pool) or CIFAR
(one 3x3 conv); ``shortcut`` decides how a block whose shape changes is bypassed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from jaxcnn.models.base import Classifier
from jaxcnn.models.layers import (
    Conv,
    ModuleDef,
    Repeat,
    check_input,
    conv_init,
    dense,
    global_avg_pool,
    max_pool,
    norm_layer,
    output_logits,
    sow_feature,
    symmetric_padding,
)
from jaxcnn.models.registry import register_model
from jaxcnn.ops import XLA, Backend

SHORTCUTS = ("projection", "zero_pad", "none")
CHANNEL_PADDINGS = ("after", "both")


class _Block(nn.Module):
    """Fields shared by the residual blocks. ``features`` is the bottleneck width; the block
    outputs ``features * expansion`` maps."""

    features: int
    conv: ModuleDef
    norm: ModuleDef
    act: Any = nn.relu
    strides: int = 1
    shortcut: str = "projection"
    channel_padding: str = "after"
    expansion: ClassVar[int] = 1

    def bypass(
        self, x: jnp.ndarray, out_features: int, projection_input: jnp.ndarray | None = None
    ) -> jnp.ndarray | None:
        """The shortcut branch: identity, or for a shape change a 1x1 projection (option B) or
        subsampling with zero-padded channels (option A, parameter-free: the zero channels
        ``channel_padding`` "after" the input's, or half before and half after); ``None`` for plain nets."""
        if self.shortcut == "none":
            return None
        if self.strides == 1 and x.shape[-1] == out_features:
            return x
        if self.shortcut == "zero_pad":
            # lax.slice, not x[:, ::s, ::s]: that is a gather when the batch is symbolic (export)
            x = lax.slice(x, (0, 0, 0, 0), x.shape, (1, self.strides, self.strides, 1))
            extra = out_features - x.shape[-1]
            before = extra // 2 if self.channel_padding == "both" else 0
            return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (before, extra - before)))
        source = x if projection_input is None else projection_input
        y = self.conv(out_features, (1, 1), (self.strides,) * 2, name="downsample_conv")(source)
        return y if projection_input is not None else self.norm(name="downsample_bn")(y)


def _add(y: jnp.ndarray, residual: jnp.ndarray | None) -> jnp.ndarray:
    return y if residual is None else y + residual


class BasicBlock(_Block):
    """Two 3x3 convs (ResNet-18/34 and the CIFAR nets)."""

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        strides = (self.strides,) * 2
        y = self.conv(self.features, (3, 3), strides, padding=symmetric_padding(1), name="conv1")(x)
        y = self.norm(name="bn1")(y)
        y = self.act(y)
        y = self.conv(self.features, (3, 3), padding=symmetric_padding(1), name="conv2")(y)
        y = self.norm(name="bn2")(y)
        y = _add(y, self.bypass(x, self.features))
        return self.act(y)


class Bottleneck(_Block):
    """1x1 reduce, 3x3 (carrying the stride: ResNet v1.5 as torchvision), 1x1 expand x4."""

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        strides = (self.strides,) * 2
        y = self.conv(self.features, (1, 1), name="conv1")(x)
        y = self.norm(name="bn1")(y)
        y = self.act(y)
        y = self.conv(self.features, (3, 3), strides, padding=symmetric_padding(1), name="conv2")(y)
        y = self.norm(name="bn2")(y)
        y = self.act(y)
        y = self.conv(self.features * 4, (1, 1), name="conv3")(y)
        y = self.norm(name="bn3")(y)
        y = _add(y, self.bypass(x, self.features * 4))
        return self.act(y)


class PreActBottleneck(_Block):
    """Pre-activation bottleneck (He et al. 2016): BN-ReLU before each conv, nothing after the
    addition; a projection shortcut reads the pre-activated input. Stride on the 3x3 conv."""

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        strides = (self.strides,) * 2
        pre = self.norm(name="bn1")(x)
        pre = self.act(pre)
        y = self.conv(self.features, (1, 1), name="conv1")(pre)
        y = self.norm(name="bn2")(y)
        y = self.act(y)
        y = self.conv(self.features, (3, 3), strides, padding=symmetric_padding(1), name="conv2")(y)
        y = self.norm(name="bn3")(y)
        y = self.act(y)
        y = self.conv(self.features * 4, (1, 1), name="conv3")(y)
        return _add(y, self.bypass(x, self.features * 4, projection_input=pre))


SCAN_MIN_REPEATS = 12  # resnet110, resnet1202, the pre-activation nets and resnet101/152's layer3 scan


class ResNet(Classifier):
    """A residual (or plain) network. ``[N, H, W, in_channels]`` float -> logits ``[N, num_classes]``.

    Attributes:
      stage_sizes: blocks per stage; every stage after the first halves H and W.
      block_cls: ``BasicBlock``, ``Bottleneck`` or ``PreActBottleneck``.
      widths: bottleneck width per stage (output maps = width * block expansion).
      stem: ``"imagenet"`` (7x7/2 conv, 3x3/2 max-pool) or ``"cifar"`` (3x3 conv, ``stem_width`` maps).
      shortcut: ``"projection"``, ``"zero_pad"`` (option A of the ResNet paper) or ``"none"`` (plain net).
      channel_padding: where option A puts its zero channels: ``"after"`` the input's (as
        fb.resnet.torch's CIFAR nets; the paper does not say which)
        or ``"both"`` sides, half each (as Idelbayev's CIFAR-10 release, whose weights need it).
      scan: compile each stage's repeated blocks once with ``nn.scan`` (params stacked on axis 0
        under ``layerN_blocks/scan/block``) or unroll them (``layerN_blocks/blockJ``). ``None``
        (default) scans only stages that repeat their block at least ``SCAN_MIN_REPEATS`` times,
        where unrolling would make compilation slow.
      remat: recompute block activations in the backward pass to save memory.
      backend: the convolutions and max pool (``jaxcnn.ops.XLA`` or ``CPU``).
      frozen_stages: stages whose batch norms use running statistics in train mode too.

    Stages: with the ImageNet stem, stage 1 is the stem (its map before the max-pool, stride 2)
    and stage k + 1 is ``layerk``; with the CIFAR stem, the stem belongs to stage 1 with ``layer1``.
    """

    stage_sizes: Sequence[int]
    block_cls: type[_Block]
    widths: Sequence[int] = (64, 128, 256, 512)
    stem: str = "imagenet"
    stem_width: int = 64
    shortcut: str = "projection"
    channel_padding: str = "after"
    num_classes: int = 1000
    in_channels: int = 3
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    bn_group_size: int | None = None
    scan: bool | None = None
    remat: bool = False
    backend: Backend = XLA
    frozen_stages: int = 0

    @property
    def stage_strides(self) -> tuple[int, ...]:
        if self.stem == "imagenet":
            return (2, *(4 * 2**i for i in range(len(self.stage_sizes))))
        return tuple(2**i for i in range(len(self.stage_sizes)))

    def stage_of(self, name: str) -> int | None:
        layer = re.match(r"layer(\d+)_", name)
        if layer:
            return int(layer[1]) + (self.stem == "imagenet")
        return {"conv1": 1, "bn1": 1, "bn_final": self.num_stages}.get(name)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        name = type(self).__name__
        check_input(x, model=name, channels=self.in_channels, min_size=self.min_input_size)
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"{name} shortcut must be one of {SHORTCUTS}; got {self.shortcut!r}")
        if self.channel_padding not in CHANNEL_PADDINGS:
            raise ValueError(f"{name} channel_padding must be one of {CHANNEL_PADDINGS}; got {self.channel_padding!r}")
        conv = functools.partial(
            Conv, use_bias=False, dtype=self.dtype, param_dtype=jnp.float32, kernel_init=conv_init, backend=self.backend
        )
        norm = lambda stage: norm_layer(  # noqa: E731
            self.trains_stage(stage, train), self.dtype, self.bn_axis_name, group_size=self.bn_group_size
        )
        preact = self.block_cls is PreActBottleneck
        x = x.astype(self.dtype)
        if self.stem == "imagenet":
            x = conv(self.stem_width, (7, 7), (2, 2), padding=symmetric_padding(3), name="conv1")(x)
            x = nn.relu(norm(1)(name="bn1")(x))
            sow_feature(self, "stages", x)
            x = max_pool(x, 3, 2, padding=1, backend=self.backend)
        elif self.stem == "cifar":
            x = conv(self.stem_width, (3, 3), padding=symmetric_padding(1), name="conv1")(x)
            x = x if preact else nn.relu(norm(1)(name="bn1")(x))
        else:
            raise ValueError(f"{name} stem must be 'imagenet' or 'cifar'; got {self.stem!r}")
        for i, (blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
            stage = self.stage_of(f"layer{i + 1}_")
            block = functools.partial(
                self.block_cls, width, conv, norm(stage), shortcut=self.shortcut, channel_padding=self.channel_padding
            )
            x = block(strides=1 if i == 0 else 2, name=f"layer{i + 1}_block0")(x)
            if blocks > 1:
                scan = blocks - 1 >= SCAN_MIN_REPEATS if self.scan is None else self.scan
                x = Repeat(block, blocks - 1, scan=scan, remat=self.remat, name=f"layer{i + 1}_blocks")(x)
            if preact and stage == self.num_stages:
                x = nn.relu(norm(stage)(name="bn_final")(x))
            sow_feature(self, "stages", x)
        x = global_avg_pool(x)
        sow_feature(self, "embedding", x)
        return output_logits(dense(self.num_classes, self.dtype, "fc")(x))


# Stage configurations. ImageNet nets: torchvision's v1.5 (stride on the 3x3 conv). CIFAR nets of
# He et al. 2015, sec. 4.2: depth 6n+2, 16/32/64 maps. Pre-activation nets of He et al. 2016: depth 9n+2.
IMAGENET_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
CIFAR = dict(stem="cifar", stem_width=16, widths=(16, 32, 64))


def imagenet_resnet(depth: int, **kwargs) -> ResNet:
    """torchvision's ``resnet{depth}``; ``kwargs`` override any attribute."""
    block_cls = BasicBlock if depth < 50 else Bottleneck
    return ResNet(**{"stage_sizes": IMAGENET_STAGES[depth], "block_cls": block_cls, **kwargs})


def cifar_resnet(depth: int, shortcut: str, **kwargs) -> ResNet:
    """He et al. 2015's CIFAR net of ``depth`` = 6n + 2 basic blocks; ``kwargs`` override any
    attribute (``resnet20(stage_sizes=(1, 1, 1))``)."""
    config = dict(CIFAR, stage_sizes=((depth - 2) // 6,) * 3, block_cls=BasicBlock, shortcut=shortcut)
    return ResNet(**{**config, **kwargs})


def preact_resnet(depth: int, **kwargs) -> ResNet:
    """He et al. 2016's pre-activation CIFAR net of ``depth`` = 9n + 2 with bottleneck blocks."""
    config = dict(CIFAR, stage_sizes=((depth - 2) // 9,) * 3, block_cls=PreActBottleneck)
    return ResNet(**{**config, **kwargs})


# Each factory carries its facts (``register_model``): parameters and MACs at the natural input
# (224 ImageNet, 32 CIFAR), checked against the built models by tests/models/test_registry.py. The
# registry reads them from this file's text, so that ``jaxcnn models`` imports no jax: keep them
# literals, or names of this module's literal constants.
CIFAR10 = {"input_size": 32, "num_classes": 10}  # every CIFAR net: 32x32 inputs, 10 classes
OPTION_A = "He et al. 2015, CIFAR-10, option A"
PLAIN = "He et al. 2015, CIFAR-10 plain net"
PREACT = "He et al. 2016, CIFAR-10, pre-activation"

# Published trained weights (the fields of jaxcnn.models.registry.PublishedWeights; what all of a
# publisher's files share is in its PUBLISHERS), as torchvision's Weights enums record them
# (tests/convert/test_published_torch.py compares them where torch is installed); each file name
# carries the first 8 hex digits of the file's sha256, which torch.hub checks.
TORCHVISION = {
    "publisher": "torchvision",
    "source": "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
}
TORCHVISION_V2 = {
    **TORCHVISION,
    "resize": 232,
    "default": True,
    "source": "https://github.com/pytorch/vision/issues/3995#new-recipe",
}
# Yerlan Idelbayev's option-A CIFAR-10 release (akamaster/pytorch_resnet_cifar10): saved from
# DataParallel ("module." keys), the classifier named "linear", the shortcut's zero channels padded
# on both sides, inputs normalised with ImageNet's statistics; top-1 = 100 - its README's test error.
# Sizes of resnet110/1202 are estimated from the four others' (the files were not at hand).
IDELBAYEV = {
    "base_url": "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/",
    "dataset": "CIFAR-10",
    "top5": None,
    "crop": 32,
    "resize": None,
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "classes": "cifar10",
    "license": "BSD-2-Clause",
    "source": "https://github.com/akamaster/pytorch_resnet_cifar10",
    "overrides": {"channel_padding": "both"},
    "prefix": "module.",
    "renames": {"linear": "fc"},
}


@register_model(
    params=11_689_512,
    macs=1_814_073_344,
    reference="torchvision resnet18",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "resnet18-f37072fd.pth",
            "sha256": "f37072fd",
            "size_mb": 44.661,
            "top1": 69.758,
            "top5": 89.078,
            "hf_hub": "timm/resnet18.tv_in1k",
        },
    },
)
def resnet18(**kwargs) -> ResNet:
    """ResNet-18, torchvision's ``resnet18``."""
    return imagenet_resnet(18, **kwargs)


@register_model(
    params=21_797_672,
    macs=3_663_761_408,
    reference="torchvision resnet34",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "resnet34-b627a593.pth",
            "sha256": "b627a593",
            "size_mb": 83.275,
            "top1": 73.314,
            "top5": 91.42,
            "hf_hub": "timm/resnet34.tv_in1k",
        },
    },
)
def resnet34(**kwargs) -> ResNet:
    """ResNet-34, torchvision's ``resnet34``."""
    return imagenet_resnet(34, **kwargs)


@register_model(
    params=25_557_032,
    macs=4_089_184_256,
    reference="torchvision resnet50",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "resnet50-0676ba61.pth",
            "sha256": "0676ba61",
            "size_mb": 97.781,
            "top1": 76.13,
            "top5": 92.862,
            "hf_hub": "timm/resnet50.tv_in1k",
        },
        "IMAGENET1K_V2": {
            **TORCHVISION_V2,
            "file": "resnet50-11ad3fa6.pth",
            "sha256": "11ad3fa6",
            "size_mb": 97.79,
            "top1": 80.858,
            "top5": 95.434,
            "hf_hub": "timm/resnet50.tv2_in1k",
            "source": "https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621",
        },
    },
)
def resnet50(**kwargs) -> ResNet:
    """ResNet-50, torchvision's ``resnet50`` (v1.5)."""
    return imagenet_resnet(50, **kwargs)


@register_model(
    params=44_549_160,
    macs=7_801_405_440,
    reference="torchvision resnet101",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "resnet101-63fe2227.pth",
            "sha256": "63fe2227",
            "size_mb": 170.511,
            "top1": 77.374,
            "top5": 93.546,
            "hf_hub": "timm/resnet101.tv_in1k",
        },
        "IMAGENET1K_V2": {
            **TORCHVISION_V2,
            "file": "resnet101-cd907fc2.pth",
            "sha256": "cd907fc2",
            "size_mb": 170.53,
            "top1": 81.886,
            "top5": 95.78,
            "hf_hub": "timm/resnet101.tv2_in1k",
        },
    },
)
def resnet101(**kwargs) -> ResNet:
    """ResNet-101, torchvision's ``resnet101`` (v1.5)."""
    return imagenet_resnet(101, **kwargs)


@register_model(
    params=60_192_808,
    macs=11_513_626_624,
    reference="torchvision resnet152",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "resnet152-394f9c45.pth",
            "sha256": "394f9c45",
            "size_mb": 230.434,
            "top1": 78.312,
            "top5": 94.046,
            "hf_hub": "timm/resnet152.tv_in1k",
        },
        "IMAGENET1K_V2": {
            **TORCHVISION_V2,
            "file": "resnet152-f82ba261.pth",
            "sha256": "f82ba261",
            "size_mb": 230.474,
            "top1": 82.284,
            "top5": 96.002,
            "hf_hub": "timm/resnet152.tv2_in1k",
        },
    },
)
def resnet152(**kwargs) -> ResNet:
    """ResNet-152, torchvision's ``resnet152`` (v1.5)."""
    return imagenet_resnet(152, **kwargs)


@register_model(
    params=269_722,
    macs=40_551_040,
    **CIFAR10,
    reference=OPTION_A,
    weights={
        "CIFAR10_V1": {
            **IDELBAYEV,
            "file": "resnet20-12fca82f.th",
            "sha256": "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8",
            "size_mb": 1.099231,
            "top1": 91.73,
        },
    },
)
def resnet20(**kwargs) -> ResNet:
    """ResNet-20 for CIFAR-10, He et al. 2015 sec. 4.2 (option A shortcuts)."""
    return cifar_resnet(20, "zero_pad", **kwargs)


@register_model(
    params=464_154,
    macs=68_862_592,
    **CIFAR10,
    reference=OPTION_A,
    weights={
        "CIFAR10_V1": {
            **IDELBAYEV,
            "file": "resnet32-d509ac18.th",
            "sha256": "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850",
            "size_mb": 1.890043,
            "top1": 92.63,
        },
    },
)
def resnet32(**kwargs) -> ResNet:
    """ResNet-32 for CIFAR-10, He et al. 2015 sec. 4.2 (option A shortcuts)."""
    return cifar_resnet(32, "zero_pad", **kwargs)


@register_model(
    params=658_586,
    macs=97_174_144,
    **CIFAR10,
    reference=OPTION_A,
    weights={
        "CIFAR10_V1": {
            **IDELBAYEV,
            "file": "resnet44-014dd654.th",
            "sha256": "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4",
            "size_mb": 2.680855,
            "top1": 93.1,
        },
    },
)
def resnet44(**kwargs) -> ResNet:
    """ResNet-44 for CIFAR-10, He et al. 2015 sec. 4.2 (option A shortcuts)."""
    return cifar_resnet(44, "zero_pad", **kwargs)


@register_model(
    params=853_018,
    macs=125_485_696,
    **CIFAR10,
    reference=OPTION_A,
    weights={
        "CIFAR10_V1": {
            **IDELBAYEV,
            "file": "resnet56-4bfd9763.th",
            "sha256": "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367",
            "size_mb": 3.471733,
            "top1": 93.39,
        },
    },
)
def resnet56(**kwargs) -> ResNet:
    """ResNet-56 for CIFAR-10, He et al. 2015 sec. 4.2 (option A shortcuts)."""
    return cifar_resnet(56, "zero_pad", **kwargs)


@register_model(
    params=1_727_962,
    macs=252_887_680,
    **CIFAR10,
    reference=OPTION_A,
    weights={
        "CIFAR10_V1": {
            **IDELBAYEV,
            "file": "resnet110-1d1ed7c2.th",
            "sha256": "1d1ed7c2",
            "size_mb": 7.03,
            "top1": 93.68,
        },
    },
)
def resnet110(**kwargs) -> ResNet:
    """ResNet-110 for CIFAR-10, He et al. 2015 sec. 4.2 (option A shortcuts)."""
    return cifar_resnet(110, "zero_pad", **kwargs)


@register_model(
    params=19_421_274,
    macs=2_829_238_912,
    **CIFAR10,
    reference=OPTION_A,
    weights={
        "CIFAR10_V1": {
            **IDELBAYEV,
            "file": "resnet1202-f3b1deed.th",
            "sha256": "f3b1deed",
            "size_mb": 79.0,
            "top1": 93.82,
        },
    },
)
def resnet1202(**kwargs) -> ResNet:
    """ResNet-1202 for CIFAR-10, He et al. 2015 sec. 4.2 (option A shortcuts)."""
    return cifar_resnet(1202, "zero_pad", **kwargs)


@register_model(params=269_722, macs=40_551_040, **CIFAR10, reference=PLAIN)
def plain20(**kwargs) -> ResNet:
    """ResNet-20 without shortcuts, He et al. 2015 sec. 4.2's plain net."""
    return cifar_resnet(20, "none", **kwargs)


@register_model(params=464_154, macs=68_862_592, **CIFAR10, reference=PLAIN)
def plain32(**kwargs) -> ResNet:
    """ResNet-32 without shortcuts, He et al. 2015 sec. 4.2's plain net."""
    return cifar_resnet(32, "none", **kwargs)


@register_model(params=658_586, macs=97_174_144, **CIFAR10, reference=PLAIN)
def plain44(**kwargs) -> ResNet:
    """ResNet-44 without shortcuts, He et al. 2015 sec. 4.2's plain net."""
    return cifar_resnet(44, "none", **kwargs)


@register_model(params=853_018, macs=125_485_696, **CIFAR10, reference=PLAIN)
def plain56(**kwargs) -> ResNet:
    """ResNet-56 without shortcuts, He et al. 2015 sec. 4.2's plain net."""
    return cifar_resnet(56, "none", **kwargs)


@register_model(params=1_727_962, macs=252_887_680, **CIFAR10, reference=PLAIN)
def plain110(**kwargs) -> ResNet:
    """ResNet-110 without shortcuts, He et al. 2015 sec. 4.2's plain net."""
    return cifar_resnet(110, "none", **kwargs)


@register_model(params=1_703_258, macs=247_646_720, **CIFAR10, reference=PREACT)
def preact_resnet164(**kwargs) -> ResNet:
    """Pre-activation ResNet-164 for CIFAR-10, He et al. 2016."""
    return preact_resnet(164, **kwargs)


@register_model(params=10_327_706, macs=1_490_995_712, **CIFAR10, reference=PREACT)
def preact_resnet1001(**kwargs) -> ResNet:
    """Pre-activation ResNet-1001 for CIFAR-10, He et al. 2016."""
    return preact_resnet(1001, **kwargs)
