"""Building blocks shared by the three families: the convolution, conv(+BN)(+ReLU), pooling with
torchvision's padding rules, classifier heads, input validation and repetition of identical blocks.

All arrays are NHWC. Padding is always explicit and symmetric (as torchvision pads) because
``'SAME'`` pads stride-2 layers asymmetrically, which would make imported weights compute
something else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.ops import XLA, Backend

ModuleDef = Any
Dtype = Any


# torchvision's conv initialisation (Kaiming normal, fan_out): keeps deep ReLU stacks trainable.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair stays a pair."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def symmetric_padding(padding: int | Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """torchvision-style padding ``p`` (or ``(ph, pw)``) as lax's ``((ph, ph), (pw, pw))``."""
    ph, pw = pair(padding)
    return ((ph, ph), (pw, pw))


class Conv(nn.Module):
    """``flax.linen.Conv`` for NHWC images, with the same parameters (``kernel`` [kh, kw, I, O],
    ``bias`` [O]), the same initialisation and the same result, computed by ``backend.conv``.

    ``[N, H, W, I] -> [N, H', W', features]`` in ``dtype`` (parameters stay ``param_dtype``);
    ``padding`` is explicit, ``((top, bottom), (left, right))``.
    """

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] = (1, 1)
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    use_bias: bool = True
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros
    backend: Backend = XLA

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        strides = tuple(int(s) for s in self.strides)
        padding = tuple((int(lo), int(hi)) for lo, hi in self.padding)
        y = self.backend.conv(x, kernel, strides, padding)
        return y if bias is None else y + bias


def norm_layer(
    train: bool, dtype: Dtype, axis_name: str | None, epsilon: float = 1e-5, group_size: int | None = None
) -> ModuleDef:
    """BatchNorm as torchvision configures it (momentum 0.1 there is 0.9 here).

    With ``train=True`` it normalises by batch statistics (averaged over ``axis_name`` when
    given, for cross-replica BN under pmap) and updates ``batch_stats``; with ``group_size``, by
    the statistics of each group of that many images (``GroupedBatchNorm``).
    """
    settings = {
        "use_running_average": not train,
        "momentum": 0.9,
        "epsilon": epsilon,
        "dtype": dtype,
        "param_dtype": jnp.float32,
        "axis_name": axis_name,
    }
    if group_size:
        return functools.partial(GroupedBatchNorm, group_size=group_size, **settings)
    return functools.partial(nn.BatchNorm, **settings)


class GroupedBatchNorm(nn.Module):
    """Batch norm whose training statistics come from groups of ``group_size`` consecutive images
    of the batch, each normalised by its own, as on GPUs that each normalise their own share of
    a batch (torchvision's multi-GPU recipes without ``--sync-bn``); the running statistics follow
    the first group's, which DDP broadcasts from its first GPU before every step. Parameters and
    statistics are named as ``nn.BatchNorm``'s (``scale``, ``bias``; ``mean``, ``var``), so
    weights move freely between the two. ``[N, H, W, C] -> [N, H, W, C]``, N a multiple of
    ``group_size`` (the batch per device under ``axis_name``)."""

    group_size: int
    use_running_average: bool = False
    momentum: float = 0.9
    epsilon: float = 1e-5
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,), self.param_dtype)
        bias = self.param("bias", nn.initializers.zeros, (channels,), self.param_dtype)
        running_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((channels,), jnp.float32))
        running_var = self.variable("batch_stats", "var", lambda: jnp.ones((channels,), jnp.float32))
        view = x  # in training, [groups, images x pixels of a group, C]: each group's statistics broadcast
        if self.use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            if x.shape[0] % self.group_size:
                raise ValueError(
                    f"a batch of {x.shape[0]} images does not split into batch norm groups of {self.group_size}; "
                    f"use a batch (per device) that is a multiple of {self.group_size}"
                )
            view = x.reshape(x.shape[0] // self.group_size, -1, channels)
            groups = view.astype(jnp.float32)
            mean = groups.mean(axis=1, keepdims=True)
            var = jnp.maximum((groups * groups).mean(axis=1, keepdims=True) - mean * mean, 0.0)
            if not self.is_initializing():
                first_mean, first_var = mean[0, 0], var[0, 0]
                if self.axis_name is not None:  # the first group of the global batch: the first device's
                    first = jax.lax.axis_index(self.axis_name) == 0
                    first_mean = jax.lax.psum(jnp.where(first, first_mean, 0.0), self.axis_name)
                    first_var = jax.lax.psum(jnp.where(first, first_var, 0.0), self.axis_name)
                running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * first_mean
                running_var.value = self.momentum * running_var.value + (1 - self.momentum) * first_var
        view, mean, var, scale, bias = nn.dtypes.promote_dtype(view, mean, var, scale, bias, dtype=self.dtype)
        return ((view - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias).reshape(x.shape)


class ConvBN(nn.Module):
    """Conv -> optional norm -> optional ReLU (torchvision's ``BasicConv2d``, VGG's conv+bn+relu).

    ``norm`` is a partial from ``norm_layer`` (which carries ``train``) or ``None``; the conv
    has a bias when there is no norm unless ``use_bias`` says otherwise (torchvision's VGG-BN
    keeps it); ``backend`` computes the convolution. Submodules are named ``conv`` and ``bn`` as in
    torchvision.
    ``[N, H, W, C] -> [N, H', W', features]``.
    """

    features: int
    kernel_size: int | Sequence[int] = 3
    strides: int = 1
    padding: int | Sequence[int] = 0
    norm: ModuleDef | None = None
    act: bool = True
    use_bias: bool | None = None
    dtype: Dtype = jnp.float32
    backend: Backend = XLA

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = Conv(
            self.features,
            pair(self.kernel_size),
            pair(self.strides),
            padding=symmetric_padding(self.padding),
            use_bias=self.norm is None if self.use_bias is None else self.use_bias,
            dtype=self.dtype,
            param_dtype=jnp.float32,
            kernel_init=conv_init,
            backend=self.backend,
            name="conv",
        )(x)
        if self.norm is not None:
            x = self.norm(name="bn")(x)
        return nn.relu(x) if self.act else x


def pool_padding(
    size: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: int, ceil_mode: bool
) -> list[tuple[int, int]]:
    """Per-axis ``(low, high)`` padding that reproduces torch's pooling output size.

    ``ceil_mode`` adds the extra high-side padding torch implies, except where the last window
    would start in the padding (torch drops that window).
    """
    pads = []
    for n, k, s in zip(size, window, strides):
        span = n + 2 * padding - k
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= n + padding:
            out -= 1
        pads.append((padding, padding + max(0, (out - 1) * s + k - n - 2 * padding)))
    return pads


def max_pool(
    x: jnp.ndarray, window: int, strides: int, padding: int = 0, ceil_mode: bool = False, backend: Backend = XLA
) -> jnp.ndarray:
    """``torch.nn.MaxPool2d(window, strides, padding, ceil_mode=...)`` on NHWC, computed by
    ``backend.max_pool``; pads with -inf. ``[N, H, W, C] -> [N, H', W', C]``."""
    window, strides = pair(window), pair(strides)
    pads = tuple(pool_padding(x.shape[1:3], window, strides, padding, ceil_mode))
    return backend.max_pool(x, window, strides, pads)


def avg_pool(x: jnp.ndarray, window: int, strides: int, padding: int = 0) -> jnp.ndarray:
    """``torch.nn.functional.avg_pool2d`` with ``count_include_pad=True`` (torch's default)."""
    return nn.avg_pool(x, pair(window), pair(strides), symmetric_padding(padding), count_include_pad=True)


def adaptive_avg_pool(x: jnp.ndarray, output_size: int | Sequence[int]) -> jnp.ndarray:
    """``torch.nn.AdaptiveAvgPool2d``: bin ``i`` averages rows ``floor(i*H/o) .. ceil((i+1)*H/o)``.

    ``[N, H, W, C] -> [N, oh, ow, C]``; exact for any ``H, W``, also smaller than the output.
    """
    (h, w), (oh, ow) = x.shape[1:3], pair(output_size)
    if (h, w) == (oh, ow):
        return x
    if h % oh == 0 and w % ow == 0:
        return nn.avg_pool(x, (h // oh, w // ow), (h // oh, w // ow))
    rows = [x[:, (i * h) // oh : -(-(i + 1) * h // oh)].mean(1, keepdims=True) for i in range(oh)]
    x = jnp.concatenate(rows, axis=1)
    cols = [x[:, :, (j * w) // ow : -(-(j + 1) * w // ow)].mean(2, keepdims=True) for j in range(ow)]
    return jnp.concatenate(cols, axis=2)


def global_avg_pool(x: jnp.ndarray) -> jnp.ndarray:
    """``[N, H, W, C] -> [N, C]``: the average pooling backend of GoogLeNet and ResNet."""
    return x.mean(axis=(1, 2))


def dense(features: int, dtype: Dtype, name: str) -> nn.Dense:
    """A fully-connected layer computing in ``dtype`` with float32 parameters."""
    return nn.Dense(features, dtype=dtype, param_dtype=jnp.float32, name=name)


class MLPHead(nn.Module):
    """VGG's backend as in torchvision: adaptive average pool to 7x7, flatten, two hidden
    layers (ReLU, dropout) and a linear classifier. ``[N, H, W, C] -> [N, num_classes]``; the
    input of the classifier is sown as ``features/embedding``.

    The flatten is in NHWC order; the torchvision importer permutes ``fc1`` accordingly.
    """

    num_classes: int
    hidden: int = 4096
    pool_size: int = 7
    dropout: float = 0.5
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        x = adaptive_avg_pool(x, self.pool_size).reshape(x.shape[0], -1)
        for name in ("fc1", "fc2"):
            x = nn.relu(dense(self.hidden, self.dtype, name)(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        sow_feature(self, "embedding", x)
        return dense(self.num_classes, self.dtype, "fc3")(x)


class GAPHead(nn.Module):
    """Global average pooling, optional dropout, one linear layer: ``[N, H, W, C] -> [N, T]``;
    the pooled vector is sown as ``features/embedding``."""

    num_classes: int
    dropout: float = 0.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        x = global_avg_pool(x)
        sow_feature(self, "embedding", x)
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return dense(self.num_classes, self.dtype, "fc")(x)


def check_input(x: Any, *, model: str, channels: int, min_size: int) -> None:
    """Raise a clear error for input the model cannot take, before XLA sees it.

    Expects a floating ``[N, H, W, channels]`` array with ``H, W >= min_size``.
    """
    shape, dtype = np.shape(x), getattr(x, "dtype", None)
    if len(shape) != 4:
        raise ValueError(
            f"{model} expects images of shape [N, H, W, {channels}] (NHWC, rank 4); got shape "
            f"{tuple(shape)}. Add a batch axis with x[None] or move channels last."
        )
    if shape[-1] != channels:
        raise ValueError(
            f"{model} expects {channels} input channels (NHWC, channels last); got {shape[-1]} "
            f"in shape {tuple(shape)}. Create the model with in_channels={shape[-1]} or convert the images."
        )
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        hint = (
            " Convert uint8 images with x.astype(jnp.float32) / 255."
            if dtype is not None and jnp.issubdtype(dtype, jnp.integer)
            else ""
        )
        raise TypeError(f"{model} expects floating-point images; got dtype {dtype}.{hint}")
    if min(shape[1:3]) < min_size:
        raise ValueError(
            f"{model} needs inputs of at least {min_size}x{min_size} pixels for its spatial "
            f"reductions; got {shape[1]}x{shape[2]}. Resize or pad the images."
        )


def sow_feature(module: nn.Module, name: str, x: jnp.ndarray) -> None:
    """Keep ``x`` in ``module``'s ``features`` collection under ``name`` (appended to a tuple)
    when the caller asked for it (``apply(..., mutable=["features"])``, see ``jaxcnn.features``);
    never while initialising, so variables hold only ``params`` and ``batch_stats``."""
    if not module.is_initializing():
        module.sow("features", name, x)


def output_logits(x: jnp.ndarray) -> jnp.ndarray:
    """Logits are returned in float32 whatever the compute dtype, for a stable loss."""
    return x.astype(jnp.float32)


class _ScanCell(nn.Module):
    """Adapts a block ``x -> x`` to ``nn.scan``'s ``(carry, _) -> (carry, None)``."""

    block: Callable[..., nn.Module]

    @nn.compact
    def __call__(self, x, _):
        return self.block(name="block")(x), None


class Repeat(nn.Module):
    """``length`` copies of a block with identical shapes, applied in sequence.

    With ``scan=True`` the block is compiled once (``nn.scan``) and its parameters and batch
    statistics are stacked along a leading axis of size ``length`` under ``block``; with
    ``scan=False`` the copies are unrolled as ``block0 .. block{length-1}``. Both compute the
    same function. ``remat=True`` recomputes each block's activations in the backward pass.
    """

    block: Callable[..., nn.Module]
    length: int
    scan: bool = True
    remat: bool = False

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        if self.scan:
            cell = nn.remat(_ScanCell) if self.remat else _ScanCell
            scanned = nn.scan(
                cell,
                variable_axes={"params": 0, "batch_stats": 0},
                split_rngs={"params": True, "dropout": True},
                length=self.length,
            )
            x, _ = scanned(self.block, name="scan")(x, None)
            return x
        block = nn.remat(self.block.func) if self.remat else self.block.func
        for i in range(self.length):
            x = functools.partial(block, *self.block.args, **self.block.keywords)(name=f"block{i}")(x)
        return x
