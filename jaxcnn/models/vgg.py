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
            norm = norm_layer(self.trains_stage(s, train), self.dtype, self.bn_axis_name) if self.batch_norm else None
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


# Each factory carries its facts (``register_model``; parameters and MACs at 224x224, checked against
# the built models by tests/models/test_registry.py), read from this file's text by the registry.


@register_model(params=132_863_336, macs=7_609_090_048, reference="torchvision vgg11", torchvision=True)
def vgg11(**kwargs) -> VGG:
    """VGG-11 (configuration A), torchvision's ``vgg11``."""
    return vgg(11, False, **kwargs)


@register_model(params=132_868_840, macs=7_609_090_048, reference="torchvision vgg11_bn", torchvision=True)
def vgg11_bn(**kwargs) -> VGG:
    """VGG-11 with BatchNorm, torchvision's ``vgg11_bn``."""
    return vgg(11, True, **kwargs)


@register_model(params=133_047_848, macs=11_308_466_176, reference="torchvision vgg13", torchvision=True)
def vgg13(**kwargs) -> VGG:
    """VGG-13 (configuration B), torchvision's ``vgg13``."""
    return vgg(13, False, **kwargs)


@register_model(params=133_053_736, macs=11_308_466_176, reference="torchvision vgg13_bn", torchvision=True)
def vgg13_bn(**kwargs) -> VGG:
    """VGG-13 with BatchNorm, torchvision's ``vgg13_bn``."""
    return vgg(13, True, **kwargs)


@register_model(params=138_357_544, macs=15_470_264_320, reference="torchvision vgg16", torchvision=True)
def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration D), torchvision's ``vgg16``."""
    return vgg(16, False, **kwargs)


@register_model(params=138_365_992, macs=15_470_264_320, reference="torchvision vgg16_bn", torchvision=True)
def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 with BatchNorm, torchvision's ``vgg16_bn``."""
    return vgg(16, True, **kwargs)


@register_model(params=143_667_240, macs=19_632_062_464, reference="torchvision vgg19", torchvision=True)
def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration E), torchvision's ``vgg19``."""
    return vgg(19, False, **kwargs)


@register_model(params=143_678_248, macs=19_632_062_464, reference="torchvision vgg19_bn", torchvision=True)
def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 with BatchNorm, torchvision's ``vgg19_bn``."""
    return vgg(19, True, **kwargs)
