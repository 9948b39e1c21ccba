"""The data of a run: a registered dataset, or an image folder (``--data PATH``) decoded once or
streamed, with the description of the folder that ``config.json`` keeps so that ``evaluate`` (and
prediction) read new files the way the run read its own."""

from __future__ import annotations

from pathlib import Path

from jaxcnn.data import load
from jaxcnn.data.folder import folder_channels
from jaxcnn.data.layout import FolderSplit, folder_changes, split_folder
from jaxcnn.data.sources import check_data, folder_cache_dir, folder_part, is_folder_data, resolve_decode
from jaxcnn.models import model_info

from .config import TrainConfig
from .runfolder import read_data_info
from .setup import DataInfo


def load_inputs(config: TrainConfig, saved: dict | None = None) -> tuple:
    """(train, test, folder) of ``config.data``: the named dataset's train and test splits with
    folder None, or a folder's training and validation parts and its description (``describe``).

    A folder's images are brought to ``config.image_size``, by default the model's natural input
    size (``model_info(config.model).input_size``). ``saved``, the description a resumed run
    saved, pins the decode mode and channels that ``auto`` chose then, and its files must be the
    folder's files now (see ``check_same_files``).
    """
    check_data(config.data)
    if not is_folder_data(config.data):
        return (*(load(config.data, split, root=config.data_root) for split in ("train", "test")), None)
    split = split_folder(config.data, config.val_fraction)
    now = split.describe()
    if saved:
        now = check_same_files(saved, now, config.accept_data_change)
    size = config.image_size or model_info(config.model).input_size
    files = len(split.train_files) + len(split.val_files)
    decode = saved["decode"] if saved else resolve_decode(config.decode, files, size)
    channels = saved["channels"] if saved else _channels(split, decode, config.workers)
    train, test = (_part(config, split, part, decode, size, channels) for part in ("train", "val"))
    return train, test, describe(now, decode, size, channels, getattr(test, "resize", size))


def check_same_files(saved: dict, now: dict, accept: bool) -> dict:
    """``now`` (``FolderSplit.describe()``) when a resumed run's folder holds the files ``saved``
    describes; with ``accept``, ``now`` with the change recorded in its ``changes`` list.

    Raises:
      ValueError: the files changed (one line: which part, the counts) and ``accept`` is False.
    """
    changes = folder_changes(saved, now)
    if not changes:
        return {**now, "changes": saved.get("changes", [])} if saved.get("changes") else now
    if not accept:
        raise ValueError(
            f"the image folder {now['root']} changed since the run started ({'; '.join(changes)}): resuming would "
            "not continue the same run; restore the files, or pass --accept-data-change to train on the folder "
            "as it is now (recorded in config.json)"
        )
    keys = ("train_files", "train_digest", "val_files", "val_digest")
    change = {"before": {k: saved.get(k) for k in keys}, "after": {k: now[k] for k in keys}}
    return {**now, "changes": [*saved.get("changes", []), change]}


def folder_test(config: TrainConfig, info: DataInfo, data: str | None = None):
    """The validation part of ``data`` (default: the folder the run trained on), read as the run
    read its own: same image size, channels and evaluation transform. Its classes must be the
    run's.

    Raises:
      ValueError: other classes than the run's.
    """
    folder = info.folder or {"decode": "once", "image_size": info.image_size, "val_fraction": None}
    split = split_folder(data or folder["root"], folder["val_fraction"] or config.val_fraction)
    if info.classes and split.classes != tuple(info.classes):
        raise ValueError(
            f"{split.root} has the classes {', '.join(split.classes)}; the run was trained on "
            f"{', '.join(info.classes)}; evaluate it on a folder with the same class folders"
        )
    return _part(config, split, "val", folder["decode"], folder["image_size"], info.in_channels)


def describe(files: dict, decode: str, image_size: int, channels: int, resize: int) -> dict:
    """What ``config.json`` keeps of a folder run: ``files`` (``FolderSplit.describe()``) plus the
    decode mode, the image size, the channels and the evaluation transform (``eval_transform``'s
    shorter side ``resize`` before the centre crop: the image size when decoded once, a streaming
    folder's ``resize`` when streamed)."""
    transform = {"resize": resize, "crop": image_size}
    return {**files, "decode": decode, "image_size": image_size, "channels": channels, "eval": transform}


def _channels(split: FolderSplit, decode: str, workers: int | None) -> int:
    """1 for a decoded-once folder of one-band images only, else 3 (streaming reads RGB)."""
    return folder_channels([*split.train_files, *split.val_files], workers) if decode == "once" else 3


def _part(config: TrainConfig, split: FolderSplit, part: str, decode: str, size: int, channels: int):
    cache = folder_cache_dir(config.data_root)
    settings = {"skip_bad": config.skip_bad, "workers": config.workers, "seed": config.seed}
    return folder_part(split, part, decode=decode, image_size=size, channels=channels, cache_dir=cache, **settings)


def saved_folder(out: str | Path) -> dict | None:
    """The folder description saved in ``out/config.json`` (None for other runs)."""
    return read_data_info(out).folder


def test_data(config: TrainConfig, info: DataInfo, data: str | None = None):
    """What ``evaluate`` evaluates on: ``data``'s test split or validation part, by default the
    run's own (a folder's validation part read as the run read it, see ``folder_test``)."""
    if data is None and info.folder is None:
        return load(config.data, "test", root=config.data_root)
    if data is None or is_folder_data(data):
        return folder_test(config, info, data)
    check_data(data)
    return load(data, "test", root=config.data_root)
