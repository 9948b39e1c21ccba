"""Whose a run folder is. A new run starts only in a folder that holds nothing but what it
writes itself, and a resume continues only the run that the folder's ``config.json`` describes:
nobody's files are overwritten, and no run continues another."""

from __future__ import annotations

from pathlib import Path

from .config import TrainConfig, read_config, read_run_file
from .guard import LOCK_NAME

CONFIG = "config.json"
# What a new run may find in its folder and still call its own: its lock, the config.json that
# an earlier start of the very same run wrote, and the (step-less) checkpoints folder.
OWN = frozenset({LOCK_NAME, CONFIG, "checkpoints", f".{CONFIG}.tmp"})
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
