"""Build jaxcnn/data/fashion_mnist_small.{npz,json} from the official Fashion-MNIST idx files.

    python tools/make_fashion_mnist_small.py [--source /usr/share/datasets/fashion-mnist]

Takes the official test set (10,000 images) and, from the official training set,
``--per-class`` images of each class drawn without replacement by a seeded numpy
Generator, kept in official order. The idx files are verified against the sha256
sums pinned in jaxcnn.data.named. The output npz stores uint8 NHWC images and
int32 labels as LZMA-compressed members with fixed timestamps, so the same inputs
give the same bytes; the json beside it records the indices taken and the npz's
sha256, which the package checks on every load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from jaxcnn.data import embedded, formats
from jaxcnn.data.download import read_verified
from jaxcnn.data.named import DATASETS, FASHION_CLASSES

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "jaxcnn" / "data"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def read_split(source: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Official images uint8 [N, 28, 28, 1] and labels int32 [N], verified by sha256."""
    image_file, label_file = DATASETS["fashion_mnist"].files[split]
    images = formats.idx_images(read_verified(source / image_file.name, image_file), image_file.name)
    labels = formats.idx_labels(read_verified(source / label_file.name, label_file), label_file.name)
    return images, labels


def balanced_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of each class, drawn without replacement, sorted ascending."""
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(len(FASHION_CLASSES))]
    return np.sort(np.concatenate(chosen))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An npz with LZMA-compressed members and fixed timestamps (reproducible bytes)."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_LZMA
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(tmp, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("/usr/share/datasets/fashion-mnist"),
        help="folder with the four official *-ubyte.gz files",
    )
    parser.add_argument("--out-dir", type=Path, default=PACKAGE_DIR)
    parser.add_argument("--per-class", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    train_images, train_labels = read_split(args.source, "train")
    test_images, test_labels = read_split(args.source, "test")
    train_idx = balanced_indices(train_labels, args.per_class, args.seed)
    test_idx = np.arange(len(test_labels))

    data_path = args.out_dir / embedded.DATA_FILE
    write_npz(
        data_path,
        {
            "train_images": train_images[train_idx],
            "train_labels": train_labels[train_idx],
            "test_images": test_images[test_idx],
            "test_labels": test_labels[test_idx],
        },
    )
    data = data_path.read_bytes()
    record = {
        "name": embedded.NAME,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "classes": list(FASHION_CLASSES),
        "source": "https://github.com/zalandoresearch/fashion-mnist (MIT licence)",
        "source_files_sha256": {
            f.name: f.sha256 for s in ("train", "test") for f in DATASETS["fashion_mnist"].files[s]
        },
        "seed": args.seed,
        "train_per_class": args.per_class,
        "indices": {"train": train_idx.tolist(), "test": test_idx.tolist()},
    }
    (args.out_dir / embedded.RECORD_FILE).write_text(json.dumps(record) + "\n")
    print(f"wrote {data_path} ({len(data) / 1e6:.2f} MB, sha256 {record['sha256']})")


if __name__ == "__main__":
    main()
