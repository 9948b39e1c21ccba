"""Which files of an image folder train and which validate: the two layouts ``--data PATH`` reads.

- ``PATH/train/<class>/...`` with ``PATH/val/<class>/...`` (or ``PATH/test/...``): torchvision's
  and ImageNet's layout; both must hold the same class folders.
- ``PATH/<class>/...``: a held-out fraction of the files validates. A file is held out when the
  sha256 of its path relative to ``PATH`` (POSIX separators), read as a number in [0, 1), falls
  below the fraction: the split depends on nothing but the file's name, so it is the same on
  every machine, in every run and in whatever order the files are listed, and adding files
  never moves others between the splits.

The decoded-once and streaming pipelines and prediction take their files from here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path, PurePath

import numpy as np

from .folder import scan

TRAIN_DIR = "train"
VAL_DIRS = ("val", "test")  # the first that exists validates


@dataclasses.dataclass(frozen=True, eq=False)
class FolderSplit:
    """The classes of an image folder and its training and validation files.

    Attributes:
      root: the folder given (absolute).
      layout: ``"train/val"`` (``root/train`` + ``root/val`` or ``root/test``) or ``"held-out"``
        (``root/<class>``, ``val_fraction`` of the files validate).
      classes: the sorted class folder names; label k means ``classes[k]``.
      train_files, val_files: image paths in sorted order.
      train_labels, val_labels: int32 [len(train_files)], [len(val_files)].
      val_fraction: the held-out fraction (None in the ``train/val`` layout).
    """

    root: Path
    layout: str
    classes: tuple[str, ...]
    train_files: tuple[Path, ...]
    train_labels: np.ndarray
    val_files: tuple[Path, ...]
    val_labels: np.ndarray
    val_fraction: float | None

    def describe(self) -> dict:
        """A JSON-ready description: root, layout, val_fraction, classes, and per part the file
        count and ``files_digest`` of its files (``train_digest``, ``val_digest``): what tells a
        resume that files were added, removed or renamed since."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "val_fraction": self.val_fraction,
            "classes": list(self.classes),
            "train_files": len(self.train_files),
            "val_files": len(self.val_files),
            "train_digest": files_digest(self.root, self.train_files),
            "val_digest": files_digest(self.root, self.val_files),
        }


def folder_changes(saved: dict, now: dict) -> list[str]:
    """How the parts of two ``describe()`` results differ, one phrase per part that changed
    (``"training files 48 -> 49"``); [] when they hold the same files. A description saved
    before digests were recorded is compared by its counts."""
    changes = []
    for part, name in (("train", "training"), ("val", "validation")):
        count, digest = f"{part}_files", f"{part}_digest"
        if saved.get(count) != now[count]:
            changes.append(f"{name} files {saved.get(count)} -> {now[count]}")
        elif saved.get(digest, now[digest]) != now[digest]:
            changes.append(f"{name} files added, removed or renamed ({now[count]} as before)")
    return changes


def files_digest(root: Path, files: tuple[Path, ...]) -> str:
    """sha256 (hex) of the sorted paths of ``files`` relative to ``root`` (POSIX separators, one
    per line): cheap to recompute, and it changes when a file is added, removed or renamed (the
    class folder is part of the path, so a move between classes changes it too)."""
    lines = sorted(PurePath(path).relative_to(root).as_posix() for path in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def split_folder(path: str | Path, val_fraction: float = 0.1) -> FolderSplit:
    """The training and validation files of ``path`` in either layout (see the module).

    Args:
      path: the folder.
      val_fraction: the share of the files held out in the ``PATH/<class>`` layout, in (0, 1);
        unused when ``path/train`` exists.

    Raises:
      FileNotFoundError: ``path`` is not a folder.
      ValueError: ``train/`` without ``val/`` or ``test/``; train and val with other classes; a
        held-out split with no file in one of its parts; a class folder without images.
    """
    check_val_fraction(val_fraction)
    root = Path(path).expanduser().absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; expected {root}/<class>/<image files>")
    if (root / TRAIN_DIR).is_dir():
        return _train_val(root)
    return _held_out(root, val_fraction)


def scanned_folders(path: str | Path) -> list[Path]:
    """The folders whose files ``split_folder(path)`` reads as images: ``PATH/train`` and its
    validation folder, or ``PATH`` itself in the held-out layout (absolute paths)."""
    root = Path(path).expanduser().absolute()
    if (root / TRAIN_DIR).is_dir():
        return [root / TRAIN_DIR, *[root / name for name in VAL_DIRS if (root / name).is_dir()][:1]]
    return [root]


def check_val_fraction(val_fraction: float) -> None:
    """Raise ``ValueError`` unless ``val_fraction`` is a number in (0, 1)."""
    ok = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
    if not (ok and math.isfinite(val_fraction) and 0 < val_fraction < 1):
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")


def held_out_share(relative: PurePath | str) -> float:
    """The number in [0, 1) that decides whether a file is held out: the first 8 bytes of the
    sha256 of its relative POSIX path (UTF-8), big-endian, divided by 2**64."""
    digest = hashlib.sha256(PurePath(relative).as_posix().encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _train_val(root: Path) -> FolderSplit:
    val_dir = next((root / name for name in VAL_DIRS if (root / name).is_dir()), None)
    if val_dir is None:
        raise ValueError(
            f"{root} has {TRAIN_DIR}/ but no {' or '.join(d + '/' for d in VAL_DIRS)}: add {root}/val/<class>/... "
            f"with validation images, or move the class folders up into {root} to hold out --val-fraction of them"
        )
    classes, train_files, train_labels = scan(root / TRAIN_DIR)
    val_classes, val_files, val_labels = scan(val_dir)
    if classes != val_classes:
        only_train = sorted(set(classes) - set(val_classes)) or ["none"]
        only_val = sorted(set(val_classes) - set(classes)) or ["none"]
        raise ValueError(
            f"{root / TRAIN_DIR} and {val_dir} hold different class folders (only in {TRAIN_DIR}/: "
            f"{', '.join(only_train)}; only in {val_dir.name}/: {', '.join(only_val)}); give both the same classes"
        )
    return FolderSplit(root, "train/val", classes, tuple(train_files), train_labels, tuple(val_files), val_labels, None)


def _held_out(root: Path, val_fraction: float) -> FolderSplit:
    classes, files, labels = scan(root)
    held = np.array([held_out_share(f.relative_to(root)) < val_fraction for f in files], bool)
    for part, mask in (("validation", held), ("training", ~held)):
        if not mask.any():
            raise ValueError(
                f"none of the {len(files)} images of {root} fell in the {part} part of a {val_fraction:g} "
                "held-out split; add images or change --val-fraction"
            )
    pick = lambda mask: tuple(f for f, m in zip(files, mask, strict=True) if m)  # noqa: E731
    return FolderSplit(root, "held-out", classes, pick(~held), labels[~held], pick(held), labels[held], val_fraction)
