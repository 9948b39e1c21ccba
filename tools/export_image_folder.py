"""Write a named dataset as a folder of PNGs in the train/ + val/ layout that `--data PATH` reads.

    python tools/export_image_folder.py OUT [--data fashion_mnist_small] [--limit N]

``OUT/train/<k>_<class>/<index>.png`` for the training split and ``OUT/val/...`` for the test
split: ``k`` (zero-padded) keeps the class folders in label order when sorted, ``<class>`` is the
class name with characters a file name cannot hold replaced by ``_``, ``<index>`` (zero-padded)
is the image's position in its split, so sorted file names keep the split's order within a
class. Pixels are written losslessly: one-channel images as 8-bit greyscale (mode L) PNGs, three
as RGB. A folder read back in decoded-once mode therefore holds the split's arrays, ordered by
(label, index): ``class_order`` gives that order.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from PIL import Image

from jaxcnn.data import Dataset, load


def class_folder(label: int, name: str, count: int) -> str:
    """``'<label>_<name>'`` with the label zero-padded to the digits of ``count - 1`` and the name's
    characters other than letters, digits, ``-`` and ``.`` replaced by ``_``."""
    return f"{label:0{len(str(count - 1))}d}_{re.sub(r'[^A-Za-z0-9.-]', '_', name)}"


def class_order(labels: np.ndarray) -> np.ndarray:
    """The order in which a folder written by ``export`` lists a split: by label, then by index."""
    return np.argsort(labels, kind="stable")


def export(ds: Dataset, folder: Path) -> None:
    """Write every image of ``ds`` as ``folder/<class folder>/<index>.png``."""
    digits = len(str(len(ds) - 1))
    names = [class_folder(k, name, ds.num_classes) for k, name in enumerate(ds.classes)]
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(ds.images, ds.labels, strict=True)):
        pixels = image[..., 0] if image.shape[-1] == 1 else image
        Image.fromarray(np.asarray(pixels)).save(folder / names[label] / f"{index:0{digits}d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (train/ and val/ inside)")
    parser.add_argument("--data", default="fashion_mnist_small", help="a name from jaxcnn.data.list_datasets()")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each split")
    args = parser.parse_args()
    for split, part in (("train", "train"), ("test", "val")):
        ds = load(args.data, split)
        n = len(ds) if args.limit is None else args.limit
        export(Dataset(ds.images[:n], ds.labels[:n], ds.classes, ds.source), args.out / part)
        print(f"wrote {n} images of {args.data}'s {split} split to {args.out / part}")


if __name__ == "__main__":
    main()
