"""The PyTorch side's models: torchvision's where it has the model, faithful twins otherwise.

Imports torch: only ``jaxcnn.bench.torch_side`` imports this module, and only when asked to
compare (PyTorch is the optional extra ``pip install -e ".[torch]"``).

The twins are jaxcnn's CIFAR nets layer for layer (``jaxcnn/models/resnet.py``): a 3x3 stem
of 16 maps; three stages of 16/32/64 maps (bottleneck widths for the pre-activation nets),
each after the first starting with a stride-2 block; option-A shortcuts (subsample, zero-pad
the new channels; no parameters) or none (the plain nets); global average pooling and one
linear layer. Same parameter count, output shape and MACs as jaxcnn's (tests/bench).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from jaxcnn.models import create_model
from jaxcnn.models.resnet import BasicBlock, PreActBottleneck


class CifarBasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, + option-A shortcut (or none), ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad, self.shortcut = stride, cout - cin, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.shortcut == "none":
            return F.relu(y)
        if self.stride != 1 or self.pad:
            x = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.pad))
        return F.relu(y + x)


class PreActBlock(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3(stride), BN-ReLU-conv1x1 (x4 maps); identity shortcut, or
    a 1x1 projection of the pre-activated input when the shape changes. Nothing after the sum."""

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = 4 * width
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, width, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(width), nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn3, self.conv3 = nn.BatchNorm2d(width), nn.Conv2d(width, cout, 1, bias=False)
        project = stride != 1 or cin != cout
        self.downsample = nn.Conv2d(cin, cout, 1, stride, bias=False) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        y = self.conv1(pre)
        y = self.conv2(F.relu(self.bn2(y)))
        y = self.conv3(F.relu(self.bn3(y)))
        return y + (x if self.downsample is None else self.downsample(pre))


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNets (basic blocks, option A or plain) and pre-activation nets.

    ``[N, in_channels, H, W]`` float -> logits ``[N, num_classes]``.
    """

    def __init__(self, stage_sizes, widths, preact: bool, shortcut: str, stem_width: int, in_channels, num_classes):
        super().__init__()
        self.preact = preact
        self.conv1 = nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False)
        self.bn1 = nn.Identity() if preact else nn.BatchNorm2d(stem_width)
        blocks, cin = [], stem_width
        for i, (count, width) in enumerate(zip(stage_sizes, widths)):
            for j in range(count):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(
                    PreActBlock(cin, width, stride) if preact else CifarBasicBlock(cin, width, stride, shortcut)
                )
                cin = 4 * width if preact else width
        self.blocks = nn.Sequential(*blocks)
        self.bn_final = nn.BatchNorm2d(cin) if preact else nn.Identity()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = x if self.preact else F.relu(self.bn1(x))
        x = self.blocks(x)
        x = F.relu(self.bn_final(x)) if self.preact else x
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


TORCHVISION_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False}}
TORCHVISION_KWARGS["inception_v3"] = TORCHVISION_KWARGS["googlenet"]


def torch_model(name: str, in_channels: int, num_classes: int) -> tuple[nn.Module, str]:
    """(the PyTorch model of a jaxcnn name, its source): torchvision's ``name`` (first conv
    rebuilt for ``in_channels`` != 3), or the CIFAR twin; ``ValueError`` if there is neither."""
    if hasattr(torchvision.models, name) and not _is_cifar(name):
        model = getattr(torchvision.models, name)(
            weights=None, num_classes=num_classes, **TORCHVISION_KWARGS.get(name, {})
        )
        return _with_in_channels(model, in_channels), f"torchvision.models.{name}"
    jax_model = create_model(name)
    if not _is_cifar(name) or jax_model.block_cls not in (BasicBlock, PreActBottleneck):
        raise ValueError(f"no PyTorch twin of {name}: torchvision lacks it and it is not a CIFAR ResNet")
    preact = jax_model.block_cls is PreActBottleneck
    twin = CifarResNet(
        jax_model.stage_sizes,
        jax_model.widths,
        preact,
        jax_model.shortcut,
        jax_model.stem_width,
        in_channels,
        num_classes,
    )
    return twin, "jaxcnn.bench.torch_models.CifarResNet"


def _is_cifar(name: str) -> bool:
    return getattr(create_model(name), "stem", None) == "cifar"


def _with_in_channels(model: nn.Module, in_channels: int) -> nn.Module:
    """The model with its first convolution rebuilt to read ``in_channels`` maps."""
    name, first = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    if first.in_channels == in_channels:
        return model
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    conv = nn.Conv2d(
        in_channels, first.out_channels, first.kernel_size, first.stride, first.padding, bias=first.bias is not None
    )
    setattr(parent, attr, conv)
    return model
