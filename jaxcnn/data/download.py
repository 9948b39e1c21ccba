"""Finding dataset files on disk, downloading them, and verifying them by sha256.

A file is identified by the sha256 of its *payload*: the decompressed bytes for a
gzip-compressed idx file, the file's own bytes otherwise. Pinning the payload
lets a re-compressed copy of the same data pass (Debian's dataset-fashion-mnist
re-gzips the official files: other .gz bytes, identical idx bytes).

Downloads go to a temporary file in the destination folder, are verified, made
durable (fsync) and only then renamed into place with ``os.replace``, so a file
with the final name is always complete and verified.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

from tqdm import tqdm

CACHE_DIR = Path("~/.cache/jaxcnn")
DEBIAN_DIR = Path("/usr/share/datasets")
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as published.

    Attributes:
      name: file name, as on the server and on disk.
      sha256: sha256 of the payload (see the module docstring).
      gunzip: True when the payload is the gzip-decompressed file.
    """

    name: str
    sha256: str
    gunzip: bool


def search_dirs(dirname: str, root: str | os.PathLike | None) -> list[Path]:
    """Folders searched for a dataset's files, first match wins.

    ``root/dirname``, ``$JAXCNN_DATA/dirname``, ``~/.cache/jaxcnn/dirname`` and
    Debian's ``/usr/share/datasets/dirname``. The first is where downloads go.
    """
    bases = [root, os.environ.get("JAXCNN_DATA"), CACHE_DIR.expanduser(), DEBIAN_DIR]
    return [Path(base) / dirname for base in bases if base]


def read_verified(path: Path, file: RemoteFile, sha256: str | None = None) -> bytes:
    """The payload of ``path`` after checking its sha256 (``sha256`` overrides the pinned one).

    Raises:
      ValueError: the payload's sha256 differs, or the gzip stream is corrupt or truncated; names ``path``.
    """
    try:
        return verified(path.read_bytes(), file, sha256)
    except ValueError as err:
        raise ValueError(f"{path} {err}; delete it so it can be downloaded again") from err


def verified(data: bytes, file: RemoteFile, sha256: str | None = None) -> bytes:
    """The payload of ``data`` (a copy of ``file``) after checking its sha256.

    Raises:
      ValueError: "is not a complete gzip file (...)" or "has the wrong sha256: expected ..., got ...";
        the caller names the file or URL the bytes came from.
    """
    expected = sha256 or file.sha256
    try:
        payload = gzip.decompress(data) if file.gunzip else data
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"is not a complete gzip file ({err})") from err
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise ValueError(f"has the wrong sha256: expected {expected}, got {actual}")
    return payload


def fetch(file: RemoteFile, dirs: list[Path], base_url: str, sha256: str | None = None) -> tuple[Path, bytes]:
    """Find ``file`` in ``dirs`` or download it into ``dirs[0]``; return (path, verified payload).

    Raises:
      FileNotFoundError: not on disk and the download failed; says where to put it.
      ValueError: a copy on disk or the download does not match its sha256.
    """
    for folder in dirs:
        path = folder / file.name
        if path.is_file():
            return path, read_verified(path, file, sha256)
    url = base_url.rstrip("/") + "/" + file.name
    dest = dirs[0] / file.name
    part = _part_file(dest)
    try:
        payload = _download(url, part, dest, file, sha256)
    except (OSError, http.client.HTTPException) as err:
        places = "\n  ".join(str(d) for d in dirs)
        raise FileNotFoundError(
            f"{file.name} is not on disk and could not be downloaded from {url} ({err}).\n"
            f"Put the official {file.name} into one of:\n  {places}\n"
            "or point JAXCNN_DATA_MIRROR (or mirror=) at a server that has it."
        ) from err
    return dest, payload


def _part_file(dest: Path) -> tuple[int, Path]:
    """An open temporary file (descriptor, path) beside ``dest`` for its download.

    Raises:
      PermissionError (or the OSError met): the folder cannot be written; names it and says
        where else downloads can go, so a read-only folder is not blamed on the download.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise type(err)(
            f"cannot save downloads in {dest.parent} ({err.strerror or err}): make it writable, or point "
            "JAXCNN_DATA (or root=) at a writable folder, or put the official "
            f"{dest.name} there yourself"
        ) from err
    return fd, Path(name)


def _download(url: str, part: tuple[int, Path], dest: Path, file: RemoteFile, sha256: str | None) -> bytes:
    """Download ``url`` into the temporary file ``part``, verify it and rename it to ``dest``."""
    fd, tmp = part
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url(url, out, file.name)
            out.flush()
            os.fsync(out.fileno())
        try:
            payload = verified(tmp.read_bytes(), file, sha256)
        except ValueError as err:  # name the URL: the temporary file is deleted below
            raise ValueError(
                f"the download of {url} {err}; the server (JAXCNN_DATA_MIRROR or mirror=, if set) does not "
                f"serve the official {file.name}: fix it or unset it, then try again"
            ) from err
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return payload


def _copy_url(url: str, out, label: str) -> None:
    written, total = copy_url(url, out, label)
    if total is not None and written != total:
        raise ValueError(f"download of {url} stopped after {written} of {total} bytes; try again")


def copy_url(url: str, out, label: str, start: int = 0, timeout: float = 60) -> tuple[int, int | None]:
    """Write the bytes of ``url`` to the binary file ``out`` with a progress bar labelled ``label``;
    from byte ``start`` on when the server honours the range (else ``out`` is truncated and the
    whole file fetched). Returns ``(bytes out holds, the file's size or None where the server
    does not say)``: fewer when the connection closed early, so that a later call can resume.

    Raises:
      OSError, http.client.HTTPException: no connection, or an HTTP error status.
    """
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if start and response.status != 206:  # the server sends the whole file again
            out.seek(0)
            out.truncate()
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length else None
        written = start
        with tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=label, disable=None) as bar:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError):
                pass
    return written, total
