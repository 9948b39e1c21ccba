"""Small, fast training runs for tests/training: a 3-block ResNet on 256 real Fashion-MNIST images."""

import dataclasses

import numpy as np

from jaxcnn.data import Dataset
from jaxcnn.training import TrainConfig

TINY_RESNET = {"stage_sizes": [1, 1, 1], "widths": [4, 8, 8], "stem_width": 4}
# Every random input transform on: the crop and flip, random erasing, MixUp or CutMix per batch
# every random input transform on, repeated augmentation, and the moving average of the weights
AUGMENTED = {
    "ra_reps": 2,
    "pad": 2,
    "flip": True,
    "auto_augment": "ta_wide",
    "random_erase": 0.5,
    "mixup_alpha": 0.2,
    "cutmix_alpha": 1.0,
    "model_ema": True,
    "model_ema_steps": 3,
}


def subset(ds: Dataset, n: int) -> Dataset:
    """The first ``n`` examples of ``ds``."""
    return Dataset(np.ascontiguousarray(ds.images[:n]), np.ascontiguousarray(ds.labels[:n]), ds.classes, ds.source)


def tiny_config(out, **overrides) -> TrainConfig:
    """A run of a few seconds: tiny ResNet, batch 32, 2 epochs of 8 steps, no progress bar."""
    base = TrainConfig(
        model="resnet20",
        model_overrides=TINY_RESNET,
        epochs=2,
        batch_size=32,
        eval_batch_size=50,
        warmup_epochs=0,
        parallel="none",
        progress=False,
        out=str(out),
    )
    return dataclasses.replace(base, **overrides)
