"""Named datasets: where each is published, its pinned checksums, and ``load``.

Pinned sha256 sums (of the payload, see ``download``), and where they come from:

- Fashion-MNIST: sha256 of the four decompressed idx files. Computed from Debian's
  dataset-fashion-mnist; their md5s equal the md5s of the decompressed official
  files listed in torchvision forks (``raw_data``), and the sha256s are the ones
  other projects pin (e.g. "SHA256F_*" in a public Makefile).
- MNIST: sha256 of the four decompressed idx files as widely published
  (ba891046..., 65a50cbb..., 0fa7898d..., ff7bcfd4...); the .gz files match
  torchvision's md5s f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d....
- CIFAR-10 / CIFAR-100: sha256 of the python tar.gz archives as pinned by
  keras.datasets (6d958be0..., 85cd44d0...); their md5s are the ones on the CIFAR
  page and in torchvision (c58f3010..., eb9058c3...).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable

from . import embedded, formats
from .dataset import Dataset
from .download import RemoteFile, fetch, search_dirs

SPLITS = ("train", "test")
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _idx(name: str, sha256: str) -> RemoteFile:
    return RemoteFile(name, sha256, gunzip=True)


@dataclasses.dataclass(frozen=True)
class NamedDataset:
    """A downloadable dataset: its folder name, canonical URL and files per split.

    ``read(payloads, split)`` turns the verified payloads of ``files[split]`` into
    (images, labels, classes).
    """

    dirname: str
    base_url: str
    files: dict[str, tuple[RemoteFile, ...]]
    read: Callable[[list[bytes], str], tuple]


def _read_idx(classes: tuple[str, ...]):
    def read(payloads: list[bytes], split: str):
        images = formats.idx_images(payloads[0], f"{split} images")
        labels = formats.idx_labels(payloads[1], f"{split} labels")
        return images, labels, classes

    return read


def _mnist_like(dirname: str, base_url: str, sums: dict[str, str], classes) -> NamedDataset:
    def pair(prefix: str):
        return tuple(
            _idx(f"{prefix}-{kind}.gz", sums[f"{prefix}-{kind}"]) for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
        )

    return NamedDataset(dirname, base_url, {"train": pair("train"), "test": pair("t10k")}, _read_idx(classes))


def _cifar(
    dirname: str,
    base_url: str,
    archive: RemoteFile,
    members: dict[str, list[str]],
    label_key: str,
    meta: str,
    names_key: str,
) -> NamedDataset:
    def read(payloads: list[bytes], split: str):
        return formats.cifar_archive(payloads[0], members[split], label_key, meta, names_key)

    return NamedDataset(dirname, base_url, {s: (archive,) for s in SPLITS}, read)


DATASETS: dict[str, NamedDataset] = {
    "fashion_mnist": _mnist_like(
        "fashion-mnist",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        FASHION_CLASSES,
    ),
    "mnist": _mnist_like(
        "mnist",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        tuple(str(d) for d in range(10)),
    ),
    "cifar10": _cifar(
        "cifar-10",
        "https://www.cs.toronto.edu/~kriz/",
        RemoteFile(
            "cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", gunzip=False
        ),
        {
            "train": [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)],
            "test": ["cifar-10-batches-py/test_batch"],
        },
        "labels",
        "cifar-10-batches-py/batches.meta",
        "label_names",
    ),
    "cifar100": _cifar(
        "cifar-100",
        "https://www.cs.toronto.edu/~kriz/",
        RemoteFile(
            "cifar-100-python.tar.gz", "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7", gunzip=False
        ),
        {"train": ["cifar-100-python/train"], "test": ["cifar-100-python/test"]},
        "fine_labels",
        "cifar-100-python/meta",
        "fine_label_names",
    ),
}


def list_datasets() -> list[str]:
    """Names accepted by ``load``, sorted."""
    return sorted([embedded.NAME, *DATASETS])


def is_local(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``load(name, ...)`` finds every file of both splits on disk (no download needed).

    Looks where ``load`` looks (``root``, ``$JAXCNN_DATA``, ``~/.cache/jaxcnn``,
    ``/usr/share/datasets``); checksums are verified by ``load``, not here.
    """
    check_dataset_name(name)
    if name == embedded.NAME:
        return True
    spec = DATASETS[name]
    dirs = search_dirs(spec.dirname, root)
    files = {f.name for split in SPLITS for f in spec.files[split]}
    return all(any((folder / file).is_file() for folder in dirs) for file in files)


def check_dataset_name(name: str) -> None:
    """Raise ``ValueError`` naming the closest known datasets when ``name`` is not one of them."""
    if name not in list_datasets():
        close = difflib.get_close_matches(name, list_datasets(), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(list_datasets())}")


def load(
    name: str,
    split: str = "train",
    *,
    root: str | os.PathLike | None = None,
    mirror: str | None = None,
    checksums: dict[str, str] | None = None,
) -> Dataset:
    """Load a named dataset split as a ``Dataset`` (uint8 NHWC images, int32 labels).

    ``fashion_mnist_small`` ships inside the package. The others are looked for in
    ``root``, ``$JAXCNN_DATA``, ``~/.cache/jaxcnn`` and ``/usr/share/datasets``
    (each followed by the dataset's folder, e.g. ``fashion-mnist``) and otherwise
    downloaded into the first of these, verified against the pinned sha256.

    Args:
      name: one of ``list_datasets()``.
      split: "train" or "test".
      root: a data folder searched first and used for downloads.
      mirror: base URL to download from instead of the canonical one (also
        ``$JAXCNN_DATA_MIRROR``).
      checksums: file name -> sha256 of its payload, overriding the pinned sums;
        for private mirrors serving re-made archives, and for tests.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    check_dataset_name(name)
    if name == embedded.NAME:
        return embedded.load(split)
    spec = DATASETS[name]
    dirs = search_dirs(spec.dirname, root)
    base_url = mirror or os.environ.get("JAXCNN_DATA_MIRROR") or spec.base_url
    checksums = checksums or {}
    found = [fetch(f, dirs, base_url, checksums.get(f.name)) for f in spec.files[split]]
    images, labels, classes = spec.read([payload for _, payload in found], split)
    first = spec.files[split][0]
    return Dataset(images, labels, classes, source=str(found[0][0]), sha256=checksums.get(first.name, first.sha256))
