"""A real, size-limited or read-only file system for the fault tests: a tmpfs mounted on a folder."""

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """``folder`` (created) with a tmpfs mounted on it (``options``: mount's ``-o``, e.g. ``size=2m``),
    unmounted at the end; the test is skipped where mounting is not permitted (it needs root)."""
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"mounting a tmpfs is not permitted here ({err}); it needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)
