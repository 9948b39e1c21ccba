"""VGGNet (Simonyan & Zisserman 2015) as one template: stages of 3x3 convs, 2x2 max-pool after each.

The course calls VGG "a good template for conventional frontends": the number of pooling
layers, the initial number of feature maps and the conv layers per pooling layer are the knobs,
so a config is just ``((convs, width), ...)`` per stage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.models.base import Classifier
from jaxcnn.models.layers import ConvBN, GAPHead, MLPHead, check_input, max_pool, norm_layer, output_logits, sow_feature
from jaxcnn.models.registry import register_model
from jaxcnn.ops import XLA, Backend

# (convs in the stage, feature maps) per stage; torchvision's configs "A", "B", "D", "E".
CONFIGS: dict[int, tuple[tuple[int, int], ...]] = {
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}


class VGG(Classifier):
    """A VGG network. ``[N, H, W, in_channels]`` float -> logits ``[N, num_classes]`` float32.

    Attributes:
      stages: ``((convs, width), ...)``; each stage is followed by a 2x2/2 max-pool, so the
        input must be at least ``2 ** len(stages)`` pixels.
      batch_norm: BatchNorm after every conv (the ``*_bn`` variants).
      head: ``"mlp"`` (torchvision's 7x7 pool + 4096-4096 MLP) or ``"gap"`` (global average
        pooling + one linear layer, the simpler backend the course recommends).
      backend: the convolutions and max pools (``jaxcnn.ops.XLA`` or ``CPU``).
      frozen_stages: stages whose batch norms use running statistics in train mode too.

    Stage ``s`` is the convolutions ``conv{s}_*``; its output is the map before its max-pool
    (stride ``2 ** (s - 1)``), as timm's VGG feature maps. The head is ``head``.
    """

    stages: Sequence[tuple[int, int]]
    num_classes: int = 1000
    batch_norm: bool = False
    head: str = "mlp"
    in_channels: int = 3
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    bn_group_size: int | None = None
    backend: Backend = XLA
    frozen_stages: int = 0

    @property
    def min_input_size(self) -> int:
        return 2 ** len(self.stages)

    @property
    def classifier_paths(self) -> tuple[tuple[str, ...], ...]:
        return (("head", "fc3" if self.head == "mlp" else "fc"),)

    @property
    def stage_strides(self) -> tuple[int, ...]:
        return tuple(2**i for i in range(len(self.stages)))

    def stage_of(self, name: str) -> int | None:
        stage = re.fullmatch(r"conv(\d+)_\d+", name)
        return int(stage[1]) if stage else None

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        check_input(x, model=type(self).__name__, channels=self.in_channels, min_size=self.min_input_size)
        x = x.astype(self.dtype)
        for s, (convs, width) in enumerate(self.stages, start=1):
            trains = self.trains_stage(s, train)
            norm = (
                norm_layer(trains, self.dtype, self.bn_axis_name, group_size=self.bn_group_size)
                if self.batch_norm
                else None
            )
            for j in range(1, convs + 1):
                x = ConvBN(
                    width,
                    3,
                    padding=1,
                    norm=norm,
                    use_bias=True,
                    dtype=self.dtype,
                    backend=self.backend,
                    name=f"conv{s}_{j}",
                )(x)
            sow_feature(self, "stages", x)
            x = max_pool(x, 2, 2, backend=self.backend)
        if self.head == "mlp":
            x = MLPHead(self.num_classes, dtype=self.dtype, name="head")(x, train)
        elif self.head == "gap":
            x = GAPHead(self.num_classes, dtype=self.dtype, name="head")(x, train)
        else:
            raise ValueError(f"VGG head must be 'mlp' or 'gap'; got {self.head!r}")
        return output_logits(x)


def vgg(depth: int, batch_norm: bool, **kwargs) -> VGG:
    """torchvision's ``vgg{depth}`` (``_bn`` with ``batch_norm``); ``kwargs`` override any attribute."""
    return VGG(**{"stages": CONFIGS[depth], "batch_norm": batch_norm, **kwargs})


# Published trained weights (jaxcnn.models.registry.PublishedWeights' fields) as torchvision's Weights
# enums record them; each file name carries the first 8 hex digits of the file's sha256.
TORCHVISION = {
    "publisher": "torchvision",
    "source": "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
}
# The SSD authors' VGG-16 features (amdegroot/ssd.pytorch): the classifier holds no trained values;
# inputs are 0..255 pixels minus these means (std 1/255 in 0..1 units).
AMDEGROOT = {
    **TORCHVISION,
    "top1": None,
    "top5": None,
    "mean": (0.48235, 0.45882, 0.40784),
    "std": (0.00392156862745098, 0.00392156862745098, 0.00392156862745098),  # 1 / 255
    "license": "MIT",
    "source": "https://github.com/amdegroot/ssd.pytorch#training-ssd",
    "classifier": False,
}

# Each factory carries its facts (``register_model``; parameters and MACs at 224x224, checked against
# the built models by tests/models/test_registry.py), read from this file's text by the registry.


@register_model(
    params=132_863_336,
    macs=7_609_090_048,
    reference="torchvision vgg11",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg11-8a719046.pth",
            "sha256": "8a719046",
            "size_mb": 506.84,
            "top1": 69.02,
            "top5": 88.628,
            "hf_hub": "timm/vgg11.tv_in1k",
        },
    },
)
def vgg11(**kwargs) -> VGG:
    """VGG-11 (configuration A), torchvision's ``vgg11``."""
    return vgg(11, False, **kwargs)


@register_model(
    params=132_868_840,
    macs=7_609_090_048,
    reference="torchvision vgg11_bn",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg11_bn-6002323d.pth",
            "sha256": "6002323d",
            "size_mb": 506.881,
            "top1": 70.37,
            "top5": 89.81,
            "hf_hub": "timm/vgg11_bn.tv_in1k",
        },
    },
)
def vgg11_bn(**kwargs) -> VGG:
    """VGG-11 with BatchNorm, torchvision's ``vgg11_bn``."""
    return vgg(11, True, **kwargs)


@register_model(
    params=133_047_848,
    macs=11_308_466_176,
    reference="torchvision vgg13",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg13-19584684.pth",
            "sha256": "19584684",
            "size_mb": 507.545,
            "top1": 69.928,
            "top5": 89.246,
            "hf_hub": "timm/vgg13.tv_in1k",
        },
    },
)
def vgg13(**kwargs) -> VGG:
    """VGG-13 (configuration B), torchvision's ``vgg13``."""
    return vgg(13, False, **kwargs)


@register_model(
    params=133_053_736,
    macs=11_308_466_176,
    reference="torchvision vgg13_bn",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg13_bn-abd245e5.pth",
            "sha256": "abd245e5",
            "size_mb": 507.59,
            "top1": 71.586,
            "top5": 90.374,
            "hf_hub": "timm/vgg13_bn.tv_in1k",
        },
    },
)
def vgg13_bn(**kwargs) -> VGG:
    """VGG-13 with BatchNorm, torchvision's ``vgg13_bn``."""
    return vgg(13, True, **kwargs)


@register_model(
    params=138_357_544,
    macs=15_470_264_320,
    reference="torchvision vgg16",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg16-397923af.pth",
            "sha256": "397923af",
            "size_mb": 527.796,
            "top1": 71.592,
            "top5": 90.382,
            "hf_hub": "timm/vgg16.tv_in1k",
        },
        "IMAGENET1K_FEATURES": {
            **AMDEGROOT,
            "file": "vgg16_features-amdegroot-88682ab5.pth",
            "sha256": "88682ab5",
            "size_mb": 527.802,
        },
    },
)
def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration D), torchvision's ``vgg16``."""
    return vgg(16, False, **kwargs)


@register_model(
    params=138_365_992,
    macs=15_470_264_320,
    reference="torchvision vgg16_bn",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg16_bn-6c64b313.pth",
            "sha256": "6c64b313",
            "size_mb": 527.866,
            "top1": 73.36,
            "top5": 91.516,
            "hf_hub": "timm/vgg16_bn.tv_in1k",
        },
    },
)
def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 with BatchNorm, torchvision's ``vgg16_bn``."""
    return vgg(16, True, **kwargs)


@register_model(
    params=143_667_240,
    macs=19_632_062_464,
    reference="torchvision vgg19",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg19-dcbb9e9d.pth",
            "sha256": "dcbb9e9d",
            "size_mb": 548.051,
            "top1": 72.376,
            "top5": 90.876,
            "hf_hub": "timm/vgg19.tv_in1k",
        },
    },
)
def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration E), torchvision's ``vgg19``."""
    return vgg(19, False, **kwargs)


@register_model(
    params=143_678_248,
    macs=19_632_062_464,
    reference="torchvision vgg19_bn",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "vgg19_bn-c79401a0.pth",
            "sha256": "c79401a0",
            "size_mb": 548.143,
            "top1": 74.218,
            "top5": 91.842,
            "hf_hub": "timm/vgg19_bn.tv_in1k",
        },
    },
)
def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 with BatchNorm, torchvision's ``vgg19_bn``."""
    return vgg(19, True, **kwargs)
