"""The cache of published weight files: where it is, and getting a file into it verified.

A file is downloaded into the cache folder, ``$JAXCNN_WEIGHTS`` (default
``$XDG_CACHE_HOME/jaxcnn/weights``, else ``~/.cache/jaxcnn/weights``), through a ``.part`` file
that is renamed only once its sha256 starts with the published hash; an interrupted download
resumes where the server allows ranges, and one process at a time downloads a file (a ``.lock``
file beside it). ``$JAXCNN_WEIGHTS_MIRROR`` replaces the publishers' addresses by one base URL
serving the same file names. Plain Python: ``jaxcnn weights`` lists the cache without jax.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
from pathlib import Path

from jaxcnn.data.download import copy_url
from jaxcnn.models.registry import PublishedWeights

CACHE_ENV = "JAXCNN_WEIGHTS"
MIRROR_ENV = "JAXCNN_WEIGHTS_MIRROR"
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where published weights are kept: ``$JAXCNN_WEIGHTS``, else ``$XDG_CACHE_HOME/jaxcnn/weights``,
    else ``~/.cache/jaxcnn/weights``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "jaxcnn" / "weights"


def download_url(weights: PublishedWeights) -> str:
    """The publisher's URL, or ``$JAXCNN_WEIGHTS_MIRROR`` + the file name where a mirror is set."""
    mirror = os.environ.get(MIRROR_ENV)
    return mirror.rstrip("/") + "/" + weights.file if mirror else weights.url


class WeightsUnavailableError(OSError):
    """Published weights are not in the cache and cannot be downloaded (no network, no mirror)."""


def is_cached(weights: PublishedWeights) -> bool:
    """Whether the file of ``weights`` is in the cache folder."""
    return (cache_dir() / weights.file).is_file()


def weights_file(weights: PublishedWeights) -> Path:
    """The cached file of ``weights``, downloaded and verified first if it is not there.

    Raises:
      WeightsUnavailableError: not cached and the download failed; one line naming the URL and
        the path to copy the file to.
      ValueError: the downloaded bytes do not have the published sha256 (nothing is cached).
    """
    path = cache_dir() / weights.file
    if path.is_file():
        return path
    url = download_url(weights)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            if not path.is_file():  # another process may have finished it meanwhile
                _download(url, path, weights)
    except (OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err.strerror or err
        raise WeightsUnavailableError(
            f"{weights.name} is not cached and cannot be downloaded from {url} ({reason}): copy {weights.file} "
            f"to {path}, or set {MIRROR_ENV} to a server that has it"
        ) from None
    return path


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path``'s ``.lock`` file: one download at a time per file."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _download(url: str, path: Path, weights: PublishedWeights) -> None:
    """``url`` into ``path.part`` (resuming what an earlier try left there), verified, then renamed."""
    part = path.with_name(path.name + ".part")
    try:
        with open(part, "ab") as out:
            written, total = copy_url(url, out, weights.file, start=out.tell())
            out.flush()
            os.fsync(out.fileno())
    finally:
        if part.exists() and part.stat().st_size == 0:  # nothing came: nothing to resume
            part.unlink()
    if total is not None and written != total:
        raise ConnectionError(f"the connection closed after {written} of {total} bytes; run again to resume")
    digest = sha256_of(part)
    if not digest.startswith(weights.sha256):
        part.unlink()
        raise ValueError(
            f"the download of {url} has sha256 {digest}, but {weights.name} is published with sha256 "
            f"{weights.sha256}...: not cached; if {MIRROR_ENV} is set, its server does not serve the publisher's file"
        )
    os.replace(part, path)


def sha256_of(path: Path) -> str:
    """The sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
