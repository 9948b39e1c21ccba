"""Build jaxcnn/data/imagenet_classes.json: the 1,000 ImageNet class names in torchvision's order.

The names are torchvision's ``_IMAGENET_CATEGORIES`` (torchvision/models/_meta.py), the list its
pretrained classification weights report in ``weights.meta["categories"]``; label k of a
torchvision ImageNet model means ``classes[k]``. Needs torchvision:

    python tools/make_imagenet_classes.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torchvision
from torchvision.models._meta import _IMAGENET_CATEGORIES

OUT = Path(__file__).resolve().parent.parent / "jaxcnn" / "data" / "imagenet_classes.json"


def main() -> None:
    record = {
        "source": f"torchvision {torchvision.__version__}, torchvision/models/_meta.py _IMAGENET_CATEGORIES",
        "classes": list(_IMAGENET_CATEGORIES),
    }
    OUT.write_text(json.dumps(record, indent=0) + "\n")
    print(f"wrote {len(record['classes'])} class names to {OUT}")


if __name__ == "__main__":
    main()
