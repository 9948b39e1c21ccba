"""ImageNet's 1,000 class names in label order, as torchvision's pretrained weights use them.

``imagenet_classes.json`` (built by ``tools/make_imagenet_classes.py``) holds torchvision's
``_IMAGENET_CATEGORIES`` and names that source.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

CLASSES_FILE = "imagenet_classes.json"


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names; label k of a torchvision ImageNet model means ``[k]``."""
    return tuple(json.loads((resources.files(__package__) / CLASSES_FILE).read_text())["classes"])
