"""``fashion_mnist_small``: Fashion-MNIST data shipped inside the package.

The official 10,000 test images and 2,000 training images per class (20,000),
uint8 28x28, in ``fashion_mnist_small.npz`` (an npz whose members are LZMA
compressed, readable by ``np.load``). ``fashion_mnist_small.json`` records the
official indices taken, the sha256 of the npz and the class names; both are
written by ``tools/make_fashion_mnist_small.py``. Licence: MIT, Zalando SE, see
``FASHION_MNIST_LICENSE.txt`` beside them.
"""

from __future__ import annotations

import hashlib
import io
import json
from importlib import resources

import numpy as np

from .dataset import Dataset

NAME = "fashion_mnist_small"
DATA_FILE = f"{NAME}.npz"
RECORD_FILE = f"{NAME}.json"


def record() -> dict:
    """The build record: sha256 of the data file, official indices per split, classes."""
    return json.loads((resources.files(__package__) / RECORD_FILE).read_text())


def load(split: str) -> Dataset:
    """The embedded split ("train": 20,000 images, "test": 10,000), checked against its sha256."""
    info = record()
    resource = resources.files(__package__) / DATA_FILE
    data = resource.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != info["sha256"]:
        raise ValueError(
            f"{resource} is damaged: sha256 {actual}, expected {info['sha256']}; "
            "reinstall jaxcnn or rebuild it with tools/make_fashion_mnist_small.py"
        )
    with np.load(io.BytesIO(data)) as arrays:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    return Dataset(images, labels, tuple(info["classes"]), source=str(resource), sha256=info["sha256"])
