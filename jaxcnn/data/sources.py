"""What ``--data`` names (a registered dataset or an image folder), and the one door through which a
run gets it (``load_splits``; ``load_test_split`` for an evaluation): a folder is fed decoded once
into a cached memory-mapped array, or streamed from its files every epoch.

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
from .folder import decode_files, folder_channels
from .layout import FolderSplit, folder_changes, split_folder
from .named import list_datasets, load

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
    streamed: dict | None = None,
):
    """The ``"train"`` or ``"val"`` files of ``split`` as a dataset fed the ``decode`` way.

    ``"once"``: a ``Dataset`` of uint8 [N, image_size, image_size, channels] decoded with the
    evaluation transform (Resize + CenterCrop, see ``eval_transform``), cached memory-mapped in
    ``cache_dir``. ``"stream"``: a ``jaxcnn.data.streaming.StreamingFolder`` that decodes the files
    every epoch (the training transform for ``"train"``, the evaluation transform for ``"val"``),
    with ``streamed``'s settings, named as ``TrainConfig`` names them: ``train_crop_size`` (the
    training crop's side instead of ``image_size``), ``val_resize_size`` (the shorter side before
    the evaluation crop), ``train_interpolation`` and ``val_interpolation`` (how each resamples),
    ``auto_augment``, ``ra_magnitude`` and ``fill`` (see ``StreamingFolder``; decoded once, the
    training loop augments on the host: ``jaxcnn.data.autoaugment.host_augmented_batches``);
    ``"once"`` refuses the four streamed-only settings (``ValueError`` naming them).
    """
    streamed = {k: v for k, v in (streamed or {}).items() if v is not None}
    streamed = {k: v for k, v in streamed.items() if not (k.endswith("_interpolation") and v == "bilinear")}
    streamed_only = {"train_crop_size", "val_resize_size", "train_interpolation", "val_interpolation"}
    if decode != "stream" and streamed.keys() & streamed_only:
        named = ", ".join(sorted(streamed.keys() & streamed_only))
        raise ValueError(f"{named}: only a folder streamed from its files has these; pass --decode stream")
    files, labels = (split.train_files, split.train_labels) if part == "train" else (split.val_files, split.val_labels)
    if decode == "stream":
        from .streaming import StreamingFolder

        train = part == "train"
        settings = {"image_size": image_size, "workers": workers, "skip_bad": skip_bad, "seed": seed}
        if train:
            settings["image_size"] = streamed.get("train_crop_size", image_size)
            settings.update({k: streamed[k] for k in ("auto_augment", "ra_magnitude", "fill") if k in streamed})
            settings["interpolation"] = streamed.get("train_interpolation", "bilinear")
        else:
            settings["resize"] = streamed.get("val_resize_size")
            settings["interpolation"] = streamed.get("val_interpolation", "bilinear")
        return StreamingFolder(list(files), labels, split.classes, train=train, **settings)
    settings = {"image_size": image_size, "channels": channels, "skip_bad": skip_bad, "workers": workers}
    return decode_files(split.root, files, labels, split.classes, cache_dir=cache_dir, part=part, **settings)


def load_splits(
    data: str,
    *,
    image_size: int,
    val_fraction: float = 0.1,
    decode: str = "auto",
    workers: int | None = None,
    skip_bad: bool = False,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    saved: dict | None = None,
    accept_change: bool = False,
    streamed: dict | None = None,
) -> tuple:
    """``(train, test, description)`` of what ``--data`` names: the one door through which a run
    gets its data.

    A registered dataset gives its train and test splits (searched in ``data_root`` first) and
    description None. An image folder (``split_folder``'s layouts) gives its training and
    validation parts at side ``image_size``, fed the ``decode`` way (``folder_part``; decoded-once
    caches in ``folder_cache_dir(data_root)``), and the description a run folder keeps
    (``describe_folder``). ``saved``, the description a resumed run saved, pins the decode mode and
    channels that ``auto`` chose then, and the folder must still hold the files it describes
    (``check_same_files``; ``accept_change`` records a change instead of refusing it).
    ``streamed``: a streamed folder's transform settings (``folder_part``).

    Raises:
      ValueError: ``data`` is neither a dataset nor a folder; the folder's files changed.
    """
    check_data(data)
    if not is_folder_data(data):
        return (*(load(data, split, root=data_root) for split in ("train", "test")), None)
    split = split_folder(data, val_fraction)
    files = check_same_files(saved, split.describe(), accept_change) if saved else split.describe()
    count = len(split.train_files) + len(split.val_files)
    decode = saved["decode"] if saved else resolve_decode(decode, count, image_size)
    settings = _feeding(skip_bad, workers, seed, data_root)
    if saved:
        channels = saved["channels"]
    else:
        channels = folder_channels([*split.train_files, *split.val_files], workers) if decode == "once" else 3
    train, test = (
        folder_part(split, part, decode=decode, image_size=image_size, channels=channels, streamed=streamed, **settings)
        for part in ("train", "val")
    )
    evaluation = getattr(test, "resize", image_size), getattr(test, "interpolation", "bilinear")
    return train, test, describe_folder(files, decode, image_size, channels, *evaluation)


def load_test_split(
    data: str,
    folder: dict | None,
    *,
    image_size: int,
    channels: int,
    classes: tuple[str, ...] = (),
    val_fraction: float = 0.1,
    workers: int | None = None,
    skip_bad: bool = False,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
) -> object:
    """What a run is evaluated on: the test split of the dataset ``data``, or the validation part
    of the image folder ``data`` read as the run read its own folder (``folder``, the description
    it saved; None for a run on a named dataset: decoded once at ``image_size``), with ``channels``.

    Raises:
      ValueError: the folder's classes are not ``classes`` (the run's).
    """
    if not is_folder_data(data):
        check_data(data)
        return load(data, "test", root=data_root)
    folder = folder or {"decode": "once", "image_size": image_size, "val_fraction": None}
    split = split_folder(data, folder["val_fraction"] or val_fraction)
    if classes and split.classes != tuple(classes):
        raise ValueError(
            f"{split.root} has the classes {', '.join(split.classes)}; the run was trained on "
            f"{', '.join(classes)}; evaluate it on a folder with the same class folders"
        )
    settings = _feeding(skip_bad, workers, seed, data_root)
    return folder_part(
        split, "val", decode=folder["decode"], image_size=folder["image_size"], channels=channels, **settings
    )


def _feeding(skip_bad: bool, workers: int | None, seed: int, data_root) -> dict:
    """``folder_part``'s settings shared by a run's training and evaluation parts."""
    return {"skip_bad": skip_bad, "workers": workers, "seed": seed, "cache_dir": folder_cache_dir(data_root)}


def describe_folder(
    files: dict, decode: str, image_size: int, channels: int, resize: int, interpolation: str = "bilinear"
) -> dict:
    """What a run folder's ``config.json`` keeps of an image folder: ``files``
    (``FolderSplit.describe()``) plus the decode mode, the image size, the channels and the
    evaluation transform (``eval_transform``'s shorter side ``resize`` before the centre crop: the
    image size when decoded once, a streaming folder's ``resize`` when streamed; its
    ``interpolation`` where it is not bilinear)."""
    transform = {"resize": resize, "crop": image_size}
    if interpolation != "bilinear":
        transform["interpolation"] = interpolation
    return {**files, "decode": decode, "image_size": image_size, "channels": channels, "eval": transform}


def check_same_files(saved: dict, now: dict, accept: bool) -> dict:
    """``now`` (``FolderSplit.describe()``) when a resumed run's folder holds the files ``saved``
    describes; with ``accept``, ``now`` with the change recorded in its ``changes`` list.

    Raises:
      ValueError: the files changed (one line: which part, the counts) and ``accept`` is False.
    """
    changes = folder_changes(saved, now)
    if not changes:
        return {**now, "changes": saved["changes"]} if saved.get("changes") else now
    if not accept:
        raise ValueError(
            f"the image folder {now['root']} changed since the run started ({'; '.join(changes)}): resuming would "
            "not continue the same run; restore the files, or pass --accept-data-change to train on the folder "
            "as it is now (recorded in config.json)"
        )
    keys = ("train_files", "train_digest", "val_files", "val_digest")
    change = {"before": {k: saved.get(k) for k in keys}, "after": {k: now[k] for k in keys}}
    return {**now, "changes": [*saved.get("changes", []), change]}
