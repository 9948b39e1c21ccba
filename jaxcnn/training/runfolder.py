"""A run folder's ``config.json`` and whose the folder is. ``fit`` writes the run's settings, its
data's description and its parallelism there, and readers read them back. A new run starts only
in a folder that holds nothing but what it writes itself, and a resume continues only the run that
the folder's ``config.json`` describes: nobody's files are overwritten, and no run continues
another."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax

from .config import TrainConfig, read_config, read_run_file
from .guard import LOCK_NAME, atomic_write
from .parallel import Parallel
from .setup import DataInfo

CONFIG = "config.json"
# What a new run may find in its folder and still call its own: its lock, the config.json that
# an earlier start of the very same run wrote, and the (step-less) checkpoints folder.
OWN = frozenset({LOCK_NAME, CONFIG, "checkpoints", f".{CONFIG}.tmp"})
LATER_FIELDS = frozenset({"classes", "folder"})  # DataInfo fields that older run folders lack
SHOWN = 5  # names listed in an error before "and N more"


def check_run_folder(config: TrainConfig, *, main_process: bool = True) -> None:
    """Refuse to train ``config`` into a folder that is not its own.

    A resume needs the folder's ``config.json`` and settings that do not change the run (see
    ``TrainConfig.differences``). A new run (checked on process 0, which holds the lock) needs a
    folder that is missing, empty, or holds only what an earlier start of the same run left.

    Raises:
      FileNotFoundError: a resume of a folder without ``config.json``.
      ValueError: a resume with settings that differ from the saved ones.
      FileExistsError: a new run into a folder with other files; names them.
    """
    out = Path(config.out)
    if config.resume:
        config.check_resumable_from(read_config(out), saved_mode(out))
    elif main_process and out.is_dir():
        foreign = [_describe(out, name, config) for name in sorted(entry.name for entry in out.iterdir())]
        foreign = [text for text in foreign if text]
        if foreign:
            shown = ", ".join(foreign[:SHOWN]) + (f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else "")
            raise FileExistsError(
                f"{out} holds files that are not this run's: {shown}; they are left as they are: "
                "move them away or choose another --out (or pass --resume to continue the run of its config.json)"
            )


def write_config(config: TrainConfig, info: DataInfo, parallel: Parallel) -> None:
    """Write ``config.json`` into ``config.out``: the settings, the data's description and the
    parallelism of the run (atomically: a failure leaves no partial file)."""
    payload = {
        "config": config.to_json(),
        "data": dataclasses.asdict(info),
        "parallel": {"mode": parallel.mode, "devices": parallel.devices, "processes": jax.process_count()},
    }
    then = "rerun with --resume" if config.resume else "rerun"  # no config.json: nothing to resume yet
    atomic_write({Path(config.out) / CONFIG: (json.dumps(payload, indent=2) + "\n").encode()}, then=then)


def read_data_info(out: str | Path) -> DataInfo:
    """The ``DataInfo`` saved in ``out/config.json`` (runs saved before ``classes`` and ``folder``
    were recorded read as without them)."""
    saved = read_run_file(out, "data")
    fields = {f.name for f in dataclasses.fields(DataInfo)}
    if not set(saved) <= fields or not fields - LATER_FIELDS <= set(saved):
        wrong = ", ".join(sorted((fields - LATER_FIELDS - set(saved)) | (set(saved) - fields)))
        raise ValueError(f"{Path(out) / CONFIG}: its 'data' section lacks or adds the fields {wrong}")
    for name in ("num_classes", "in_channels", "image_size", "train_examples"):
        if not isinstance(saved[name], int) or isinstance(saved[name], bool) or saved[name] < 1:
            raise ValueError(
                f"{Path(out) / CONFIG}: field 'data.{name}' expected a positive integer, got {saved[name]!r}"
            )
    return DataInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def saved_mode(out: str | Path) -> str | None:
    """The parallel mode the run in ``out`` ran with (from its config.json), if recorded."""
    try:
        mode = read_run_file(out, "parallel").get("mode")
    except ValueError:
        return None
    return mode if isinstance(mode, str) else None


def _describe(out: Path, name: str, config: TrainConfig) -> str | None:
    """None when ``out/name`` may belong to this new run, else how it is named in the refusal."""
    if name not in OWN:
        return name
    if name != CONFIG:
        return None
    try:
        differ = config.differences(read_config(out), saved_mode(out))
    except ValueError:
        return f"{CONFIG} (not a jaxcnn run's)"
    return f"{CONFIG} (another run's: {', '.join(differ)})" if differ else None
