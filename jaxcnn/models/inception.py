"""Inception: GoogLeNet (Inception v1, Szegedy et al. 2015) and Inception v3, as torchvision builds them.

An Inception module extracts features at four scales in four columns and concatenates them:
``D1 + D2 + D3 + D4`` output maps, with 1x1 convs reducing depth before the expensive columns.
Layer names follow torchvision (``inception3a/branch2_1``, ``Mixed_6b/branch7x7_2``) so that
its weights import by name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.models.base import Classifier
from jaxcnn.models.layers import (
    ConvBN,
    ModuleDef,
    adaptive_avg_pool,
    avg_pool,
    check_input,
    dense,
    global_avg_pool,
    max_pool,
    norm_layer,
    output_logits,
    sow_feature,
)
from jaxcnn.models.registry import register_model
from jaxcnn.ops import XLA, Backend


def tensorflow_range(x: jnp.ndarray) -> jnp.ndarray:
    """torchvision's ``transform_input``: inputs normalised with ImageNet's mean and std
    ``[N, H, W, 3]`` -> the same pixels in -1..1, what the weights ported from TensorFlow expect."""
    mean, std = jnp.array([0.485, 0.456, 0.406]), jnp.array([0.229, 0.224, 0.225])
    return x * (std / 0.5) + (mean - 0.5) / 0.5


def _cat(*columns: jnp.ndarray) -> jnp.ndarray:
    return jnp.concatenate(columns, axis=-1)


class InceptionV1Module(nn.Module):
    """GoogLeNet's module: 1x1 | 1x1->3x3 | 1x1->3x3 | 3x3 max-pool->1x1.

    The third column is 5x5 in the paper; torchvision (and so its weights) use 3x3 there, and so
    do we. ``conv`` builds the ``ConvBN`` layers and ``pool`` is the max pool (``max_pool``'s
    arguments). ``[N, H, W, C] -> [N, H, W, ch1x1 + ch3x3 + ch5x5 + pool_proj]``.
    """

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int
    conv: ModuleDef
    pool: Callable[..., jnp.ndarray]

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        conv = self.conv
        b1 = conv(self.ch1x1, 1, name="branch1")(x)
        b2 = conv(self.ch3x3red, 1, name="branch2_0")(x)
        b2 = conv(self.ch3x3, 3, padding=1, name="branch2_1")(b2)
        b3 = conv(self.ch5x5red, 1, name="branch3_0")(x)
        b3 = conv(self.ch5x5, 3, padding=1, name="branch3_1")(b3)
        b4 = conv(self.pool_proj, 1, name="branch4_1")(self.pool(x, 3, 1, padding=1, ceil_mode=True))
        return _cat(b1, b2, b3, b4)


class GoogLeNetAux(nn.Module):
    """GoogLeNet's auxiliary classifier: 4x4 adaptive avg-pool, 1x1 conv (128), fc 1024, dropout 0.7, fc."""

    num_classes: int
    conv: ModuleDef
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        x = self.conv(128, 1, name="conv")(adaptive_avg_pool(x, 4))
        x = nn.relu(dense(1024, self.dtype, "fc1")(x.reshape(x.shape[0], -1)))
        x = nn.Dropout(0.7, deterministic=not train)(x)
        return output_logits(dense(self.num_classes, self.dtype, "fc2")(x))


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each module, GoogLeNet paper table 1.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNet(Classifier):
    """GoogLeNet / Inception v1. ``[N, H, W, in_channels]`` float -> logits ``[N, num_classes]``.

    With ``aux_logits=True`` and ``train=True`` it returns ``(logits, (aux1, aux2))``; the
    training loss adds ``aux_weight`` times each auxiliary loss (0.3 in the paper).
    ``backend``: the convolutions and max pools (``jaxcnn.ops.XLA`` or ``CPU``);
    ``frozen_stages``: stages whose batch norms use running statistics in train mode too;
    ``transform_input``: map ImageNet-normalised inputs to -1..1 first (``tensorflow_range``).
    Stages (the last map at each stride): ``conv1`` | ``conv2``, ``conv3`` | ``inception3*`` |
    ``inception4*`` | ``inception5*``; the head is ``fc`` and the auxiliary heads.
    """

    num_classes: int = 1000
    aux_logits: bool = False
    dropout: float = 0.2
    in_channels: int = 3
    transform_input: bool = False
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    bn_group_size: int | None = None
    backend: Backend = XLA
    frozen_stages: int = 0

    aux_weight: ClassVar[float] = 0.3
    classifier_paths: ClassVar[tuple[tuple[str, ...], ...]] = (("fc",), ("aux1", "fc2"), ("aux2", "fc2"))
    aux_names: ClassVar[tuple[str, ...]] = ("aux1", "aux2")
    stage_strides: ClassVar[tuple[int, ...]] = (2, 4, 8, 16, 32)

    @property
    def aux_heads(self) -> int:
        return 2 if self.aux_logits else 0

    @property
    def min_input_size(self) -> int:
        return 15  # smallest size whose ceil-mode pools all see a full window

    def stage_of(self, name: str) -> int | None:
        stage = re.fullmatch(r"inception(\d)[a-e]", name)
        return int(stage[1]) if stage else {"conv1": 1, "conv2": 2, "conv3": 2}.get(name)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False):
        check_input(x, model="GoogLeNet", channels=self.in_channels, min_size=self.min_input_size)
        x = tensorflow_range(x) if self.transform_input else x
        conv = functools.partial(_conv_bn, self, train, 1e-3)
        pool = functools.partial(max_pool, backend=self.backend)
        with_aux = self.aux_logits and (train or self.is_initializing())
        aux = []
        x = conv(1)(64, 7, 2, 3, name="conv1")(x.astype(self.dtype))
        sow_feature(self, "stages", x)
        x = pool(x, 3, 2, ceil_mode=True)
        x = conv(2)(64, 1, name="conv2")(x)
        x = conv(2)(192, 3, padding=1, name="conv3")(x)
        sow_feature(self, "stages", x)
        x = pool(x, 3, 2, ceil_mode=True)
        for key, spec in GOOGLENET_MODULES.items():
            if key == "4a" or key == "5a":
                sow_feature(self, "stages", x)
                x = pool(x, 3 if key == "4a" else 2, 2, ceil_mode=True)
            x = InceptionV1Module(*spec, conv=conv(int(key[0])), pool=pool, name=f"inception{key}")(x)
            if with_aux and key in ("4a", "4d"):
                head = conv(None)
                aux.append(GoogLeNetAux(self.num_classes, head, self.dtype, name=f"aux{len(aux) + 1}")(x, train))
        sow_feature(self, "stages", x)
        x = global_avg_pool(x)
        sow_feature(self, "embedding", x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        logits = output_logits(dense(self.num_classes, self.dtype, "fc")(x))
        return (logits, tuple(aux)) if with_aux and train else logits


def _conv_bn(model: Classifier, train: bool, epsilon: float, stage: int | None) -> ModuleDef:
    """The conv + BN + ReLU of ``model``'s ``stage`` (None: a head): its BN trains unless frozen."""
    trains = train if stage is None else model.trains_stage(stage, train)
    return functools.partial(
        ConvBN,
        norm=norm_layer(trains, model.dtype, model.bn_axis_name, epsilon, model.bn_group_size),
        dtype=model.dtype,
        backend=model.backend,
    )


class InceptionA(nn.Module):
    """35x35 module: 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | avg-pool->1x1."""

    pool_features: int
    conv: ModuleDef

    @nn.compact
    def __call__(self, x):
        c = self.conv
        b1 = c(64, 1, name="branch1x1")(x)
        b5 = c(48, 1, name="branch5x5_1")(x)
        b5 = c(64, 5, padding=2, name="branch5x5_2")(b5)
        b3 = c(64, 1, name="branch3x3dbl_1")(x)
        b3 = c(96, 3, padding=1, name="branch3x3dbl_2")(b3)
        b3 = c(96, 3, padding=1, name="branch3x3dbl_3")(b3)
        return _cat(b1, b5, b3, c(self.pool_features, 1, name="branch_pool")(avg_pool(x, 3, 1, 1)))


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1->3x3->3x3/2 | max-pool/2."""

    conv: ModuleDef
    pool: Callable[..., jnp.ndarray]

    @nn.compact
    def __call__(self, x):
        c = self.conv
        b3 = c(384, 3, 2, name="branch3x3")(x)
        bd = c(64, 1, name="branch3x3dbl_1")(x)
        bd = c(96, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = c(96, 3, 2, name="branch3x3dbl_3")(bd)
        return _cat(b3, bd, self.pool(x, 3, 2))


class InceptionC(nn.Module):
    """17x17 module with factorised 7x7 convs (1x7 and 7x1)."""

    channels_7x7: int
    conv: ModuleDef

    @nn.compact
    def __call__(self, x):
        c, c7 = self.conv, self.channels_7x7
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        b1 = c(192, 1, name="branch1x1")(x)
        b7 = c(c7, 1, name="branch7x7_1")(x)
        b7 = c(c7, name="branch7x7_2", **row)(b7)
        b7 = c(192, name="branch7x7_3", **col)(b7)
        bd = c(c7, 1, name="branch7x7dbl_1")(x)
        for i, (width, shape) in enumerate([(c7, col), (c7, row), (c7, col), (192, row)], start=2):
            bd = c(width, name=f"branch7x7dbl_{i}", **shape)(bd)
        return _cat(b1, b7, bd, c(192, 1, name="branch_pool")(avg_pool(x, 3, 1, 1)))


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1->3x3/2 | 1x1->1x7->7x1->3x3/2 | max-pool/2."""

    conv: ModuleDef
    pool: Callable[..., jnp.ndarray]

    @nn.compact
    def __call__(self, x):
        c = self.conv
        b3 = c(192, 1, name="branch3x3_1")(x)
        b3 = c(320, 3, 2, name="branch3x3_2")(b3)
        b7 = c(192, 1, name="branch7x7x3_1")(x)
        b7 = c(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = c(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = c(192, 3, 2, name="branch7x7x3_4")(b7)
        return _cat(b3, b7, self.pool(x, 3, 2))


class InceptionE(nn.Module):
    """8x8 module with expanded filter banks (1x3 and 3x1 side by side)."""

    conv: ModuleDef

    @nn.compact
    def __call__(self, x):
        c = self.conv

        def split(y, prefix):
            return _cat(
                c(384, (1, 3), padding=(0, 1), name=f"{prefix}a")(y),
                c(384, (3, 1), padding=(1, 0), name=f"{prefix}b")(y),
            )

        b1 = c(320, 1, name="branch1x1")(x)
        b3 = split(c(384, 1, name="branch3x3_1")(x), "branch3x3_2")
        bd = c(448, 1, name="branch3x3dbl_1")(x)
        bd = c(384, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = split(bd, "branch3x3dbl_3")
        return _cat(b1, b3, bd, c(192, 1, name="branch_pool")(avg_pool(x, 3, 1, 1)))


class InceptionV3Aux(nn.Module):
    """Inception v3's auxiliary classifier on the 17x17 grid: 5x5/3 avg-pool, 1x1 (128), 5x5 (768), fc."""

    num_classes: int
    conv: ModuleDef
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = self.conv(128, 1, name="conv0")(avg_pool(x, 5, 3))
        x = global_avg_pool(self.conv(768, 5, name="conv1")(x))
        return output_logits(dense(self.num_classes, self.dtype, "fc")(x))


class InceptionV3(Classifier):
    """Inception v3 (Szegedy et al. 2016) as torchvision's ``inception_v3``.
    ``[N, 299, 299, 3]`` float -> logits ``[N, num_classes]``.

    With ``aux_logits=True`` and ``train=True`` it returns ``(logits, (aux,))``.
    ``backend``: the convolutions and max pools (``jaxcnn.ops.XLA`` or ``CPU``);
    ``frozen_stages``: stages whose batch norms use running statistics in train mode too;
    ``transform_input``: map ImageNet-normalised inputs to -1..1 first (``tensorflow_range``).
    Stages (the last map at each stride, as timm's features): ``Conv2d_1a``-``2b`` |
    ``Conv2d_3b``, ``4a`` | ``Mixed_5*`` | ``Mixed_6*`` | ``Mixed_7*``; the head is ``fc`` and ``AuxLogits``.
    """

    num_classes: int = 1000
    aux_logits: bool = False
    dropout: float = 0.5
    in_channels: int = 3
    transform_input: bool = False
    dtype: Any = jnp.float32
    bn_axis_name: str | None = None
    bn_group_size: int | None = None
    backend: Backend = XLA
    frozen_stages: int = 0

    aux_weight: ClassVar[float] = 0.4
    classifier_paths: ClassVar[tuple[tuple[str, ...], ...]] = (("fc",), ("AuxLogits", "fc"))
    aux_names: ClassVar[tuple[str, ...]] = ("AuxLogits",)
    stage_strides: ClassVar[tuple[int, ...]] = (2, 4, 8, 16, 32)

    @property
    def aux_heads(self) -> int:
        return 1 if self.aux_logits else 0

    @property
    def min_input_size(self) -> int:
        # 75 as torchvision documents; the aux head's 5x5/3 pool + 5x5 conv need the 17x17 grid of 299.
        return 299 if self.aux_logits else 75

    def stage_of(self, name: str) -> int | None:
        conv = re.fullmatch(r"Conv2d_(\d)[ab]_\dx\d", name)
        if conv:
            return 1 if int(conv[1]) <= 2 else 2
        mixed = re.fullmatch(r"Mixed_(\d)[a-e]", name)
        return int(mixed[1]) - 2 if mixed else None

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False):
        check_input(x, model="InceptionV3", channels=self.in_channels, min_size=self.min_input_size)
        x = tensorflow_range(x) if self.transform_input else x
        c = functools.partial(_conv_bn, self, train, 1e-3)
        pool = functools.partial(max_pool, backend=self.backend)
        with_aux = self.aux_logits and (train or self.is_initializing())
        x = c(1)(32, 3, 2, name="Conv2d_1a_3x3")(x.astype(self.dtype))
        x = c(1)(32, 3, name="Conv2d_2a_3x3")(x)
        x = c(1)(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
        sow_feature(self, "stages", x)
        x = pool(x, 3, 2)
        x = c(2)(80, 1, name="Conv2d_3b_1x1")(x)
        x = c(2)(192, 3, name="Conv2d_4a_3x3")(x)
        sow_feature(self, "stages", x)
        x = pool(x, 3, 2)
        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = InceptionA(pool_features, c(3), name=name)(x)
        sow_feature(self, "stages", x)
        x = InceptionB(c(4), pool, name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, c(4), name=name)(x)
        sow_feature(self, "stages", x)
        aux = (InceptionV3Aux(self.num_classes, c(None), self.dtype, name="AuxLogits")(x),) if with_aux else ()
        x = InceptionD(c(5), pool, name="Mixed_7a")(x)
        x = InceptionE(c(5), name="Mixed_7b")(x)
        x = InceptionE(c(5), name="Mixed_7c")(x)
        sow_feature(self, "stages", x)
        x = global_avg_pool(x)
        sow_feature(self, "embedding", x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        logits = output_logits(dense(self.num_classes, self.dtype, "fc")(x))
        return (logits, aux) if with_aux and train else logits


# Published trained weights (jaxcnn.models.registry.PublishedWeights' fields) as torchvision's Weights
# enums record them; each file name carries the first 8 hex digits of the file's sha256. Both were
# ported from TensorFlow and expect inputs in -1..1: torchvision builds them with transform_input=True.
TORCHVISION = {
    "publisher": "torchvision",
    "overrides": {"transform_input": True},
    "default": True,
}


@register_model(
    params=6_624_904,
    macs=1_498_376_192,
    reference="torchvision googlenet",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "googlenet-1378be20.pth",
            "sha256": "1378be20",
            "size_mb": 49.731,
            "top1": 69.778,
            "top5": 89.53,
            "source": "https://github.com/pytorch/vision/tree/main/references/classification#googlenet",
        },
    },
)
def googlenet(**kwargs) -> GoogLeNet:
    """GoogLeNet (Inception v1); ``aux_logits=True`` adds the two auxiliary classifiers."""
    return GoogLeNet(**kwargs)


@register_model(
    params=23_834_568,
    macs=5_713_216_096,
    input_size=299,
    reference="torchvision inception_v3",
    torchvision=True,
    weights={
        "IMAGENET1K_V1": {
            **TORCHVISION,
            "file": "inception_v3_google-0cc3c7bd.pth",
            "sha256": "0cc3c7bd",
            "size_mb": 103.903,
            "top1": 77.294,
            "top5": 93.45,
            "crop": 299,
            "resize": 342,
            "hf_hub": "timm/inception_v3.tv_in1k",
            "source": "https://github.com/pytorch/vision/tree/main/references/classification#inception-v3",
        },
    },
)
def inception_v3(**kwargs) -> InceptionV3:
    """Inception v3 at 299x299; ``aux_logits=True`` adds the auxiliary classifier."""
    return InceptionV3(**kwargs)
