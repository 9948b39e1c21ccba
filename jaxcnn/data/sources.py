"""What ``--data`` names (a registered dataset or an image folder) and how a folder is fed: decoded
once into a cached memory-mapped array, or streamed from its files every epoch.

``decode="auto"`` decodes once when the decoded images, N x S x S x C bytes for all N files of
both splits at side S (C = 3 for the estimate), fit in ``DECODE_ONCE_SHARE`` of the memory
available now (Linux's MemAvailable; the physical memory elsewhere), and streams otherwise: a
cache larger than that would be read back from disk every epoch, and a dataset that large wants
the fresh random crops that streaming draws.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from .download import CACHE_DIR
from .folder import decode_files
from .layout import FolderSplit
from .registry import list_datasets

DECODE_MODES = ("auto", "once", "stream")
DECODE_ONCE_SHARE = 0.25
FOLDER_CACHE = "folders"  # below the data root: the decoded-once caches of image folders


def is_folder_data(data: str) -> bool:
    """Whether ``data`` names an image folder: not a registered dataset name (names win: write
    ``./mnist`` for a folder called mnist) and an existing folder."""
    return data not in list_datasets() and Path(data).expanduser().is_dir()


def check_data(data: str) -> None:
    """Raise ``ValueError`` (one line naming both possibilities) unless ``data`` is a registered
    dataset or an existing folder."""
    if data in list_datasets() or is_folder_data(data):
        return
    close = difflib.get_close_matches(data, list_datasets(), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"{data!r} is neither a known dataset nor an existing folder.{hint} Known datasets: "
        f"{', '.join(list_datasets())}; or give a folder of images (PATH/<class>/... or PATH/train/ + PATH/val/)"
    )


def folder_cache_dir(data_root: str | os.PathLike | None = None) -> Path:
    """Where decoded-once folders are cached: ``folders/`` in ``data_root``, else in
    ``$JAXCNN_DATA``, else in ``~/.cache/jaxcnn``."""
    base = data_root or os.environ.get("JAXCNN_DATA") or CACHE_DIR.expanduser()
    return Path(base).expanduser() / FOLDER_CACHE


def available_memory() -> int:
    """Bytes of memory available now: Linux's MemAvailable, else the physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def resolve_decode(mode: str, examples: int, image_size: int, memory: int | None = None) -> str:
    """``"once"`` or ``"stream"``: ``mode`` itself unless it is ``"auto"``, which decodes once when
    ``examples`` x ``image_size``^2 x 3 bytes fit in ``DECODE_ONCE_SHARE`` of ``memory`` (default:
    ``available_memory()``)."""
    if mode not in DECODE_MODES:
        raise ValueError(f"decode must be one of {', '.join(DECODE_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    memory = available_memory() if memory is None else memory
    return "once" if examples * image_size * image_size * 3 <= DECODE_ONCE_SHARE * memory else "stream"


def folder_part(
    split: FolderSplit,
    part: str,
    *,
    decode: str,
    image_size: int,
    channels: int,
    skip_bad: bool = False,
    workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
):
    """The ``"train"`` or ``"val"`` files of ``split`` as a dataset fed the ``decode`` way.

    ``"once"``: a ``Dataset`` of uint8 [N, image_size, image_size, channels] decoded with the
    evaluation transform (Resize + CenterCrop, see ``eval_transform``), cached memory-mapped in
    ``cache_dir``. ``"stream"``: a ``jaxcnn.data.streaming.StreamingFolder`` that decodes the files
    every epoch (the training transform for ``"train"``, the evaluation transform for ``"val"``).
    """
    files, labels = (split.train_files, split.train_labels) if part == "train" else (split.val_files, split.val_labels)
    if decode == "stream":
        from .streaming import StreamingFolder

        train = part == "train"
        settings = {"image_size": image_size, "workers": workers, "skip_bad": skip_bad, "seed": seed}
        return StreamingFolder(list(files), labels, split.classes, train=train, **settings)
    settings = {"image_size": image_size, "channels": channels, "skip_bad": skip_bad, "workers": workers}
    return decode_files(split.root, files, labels, split.classes, cache_dir=cache_dir, part=part, **settings)
