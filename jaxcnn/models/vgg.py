"""VGGNet (Simonyan & Zisserman 2015) as one template: stages of 3x3 convs, 2x2 max-pool after each.

The course calls VGG "a good template for conventional frontends": the number of pooling
layers, the initial number of feature maps and the conv layers per pooling layer are the knobs,
so a config is just ``((convs, width), ...)`` per stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.models import register_model
from jaxcnn.models.base import Classifier
from jaxcnn.models.layers import ConvBN, GAPHead, MLPHead, check_input, max_pool, norm_layer, output_logits

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
      conv_impl: ``"cpu"``, ``"xla"`` or ``None`` (automatic), as in ``jaxcnn.models.conv.Conv``.
    """

    stages: Sequence[tuple[int, int]]
    num_classes: int = 1000
    batch_norm: bool = False
    head: str = "mlp"
    in_channels: int = 3
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    conv_impl: str | None = None

    @property
    def min_input_size(self) -> int:
        return 2 ** len(self.stages)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        check_input(x, model=type(self).__name__, channels=self.in_channels, min_size=self.min_input_size)
        norm = norm_layer(train, self.dtype, self.bn_axis_name) if self.batch_norm else None
        x = x.astype(self.dtype)
        for s, (convs, width) in enumerate(self.stages, start=1):
            for j in range(1, convs + 1):
                x = ConvBN(
                    width,
                    3,
                    padding=1,
                    norm=norm,
                    use_bias=True,
                    dtype=self.dtype,
                    conv_impl=self.conv_impl,
                    name=f"conv{s}_{j}",
                )(x)
            x = max_pool(x, 2, 2, impl=self.conv_impl)
        if self.head == "mlp":
            x = MLPHead(self.num_classes, dtype=self.dtype, name="head")(x, train)
        elif self.head == "gap":
            x = GAPHead(self.num_classes, dtype=self.dtype, name="head")(x, train)
        else:
            raise ValueError(f"VGG head must be 'mlp' or 'gap'; got {self.head!r}")
        return output_logits(x)


# name: (parameters, MACs at 224x224), checked against the built models by tests/models/test_registry.py.
FACTS = {
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg11_bn": (132_868_840, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg13_bn": (133_053_736, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg16_bn": (138_365_992, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "vgg19_bn": (143_678_248, 19_632_062_464),
}


def _register(depth: int, batch_norm: bool) -> None:
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")

    def factory(**kwargs) -> VGG:
        return VGG(**{"stages": CONFIGS[depth], "batch_norm": batch_norm, **kwargs})

    factory.__name__ = name
    factory.__doc__ = f"VGG-{depth}{' with BatchNorm' if batch_norm else ''} (torchvision ``{name}``)."
    params, macs = FACTS[name]
    register_model(params=params, macs=macs, reference=f"torchvision {name}", torchvision=True)(factory)


for _depth in CONFIGS:
    for _bn in (False, True):
        _register(_depth, _bn)
