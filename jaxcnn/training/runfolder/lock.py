"""What keeps a run folder safe: one run per folder (a lock), and file-system failures told in one line.

``run_lock(out)`` holds an exclusive ``fcntl.flock`` on ``out/.lock`` for a run's life, with the
holder's PID written in the file. The kernel drops the lock when its process ends, however it
ends (SIGKILL included), so a lock left by a dead run is free and is taken over with a note.
The lock file is created exclusively and never opened through a symbolic link, so a planted
link cannot make a run truncate a file elsewhere.

``writing(path)`` turns the operating system's failures while writing into one-line errors that
name the file and say what to do: disk full (``DiskFullError``), permission denied, a file
where a folder should be.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


_NO_SPACE = "No space left on device"


class RunLockedError(RuntimeError):
    """Another live process is training into the same folder."""


class LockFileError(FileExistsError):
    """Something other than a lock file (a link, a folder) stands where a run's lock file goes."""


class DiskFullError(OSError):
    """The disk filled up while a run wrote a file; what was saved before is intact."""


@contextlib.contextmanager
def run_lock(out: str | os.PathLike, *, hold: bool = True) -> Iterator[None]:
    """Create the run folder ``out`` and hold its lock while the block runs (``hold=False``: do
    neither, for the processes other than 0 of a multi-process run).

    A block that fails leaves no trace of a folder it created while nothing but the lock and
    empty folders were written into it (a refused batch size, a bad image, unusable weights to
    start from, a signal at start-up): the same command corrected finds ``out`` as it was.

    Raises:
      RunLockedError: another live process holds the lock; the message names its PID.
      NotADirectoryError, PermissionError, DiskFullError: ``out`` cannot be created or written.
    """
    if not hold:
        yield
        return
    path = Path(out) / LOCK_NAME
    created = not os.path.lexists(out)
    with writing(path):
        Path(out).mkdir(parents=True, exist_ok=True)
        fd = _open_lock_file(path)
    try:
        _acquire(fd, out)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    except BaseException:
        if created and _holds_no_file(Path(out), ignore=path):
            with contextlib.suppress(OSError):
                path.unlink()  # still held: no other run can have taken it since
                shutil.rmtree(out)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an empty file: released cleanly
        os.close(fd)  # closing releases the flock


def _holds_no_file(folder: Path, ignore: Path) -> bool:
    """Whether ``folder`` holds nothing but ``ignore`` and empty folders."""
    return all(entry.is_dir() or entry == ignore for entry in folder.rglob("*"))


def _open_lock_file(path: Path) -> int:
    """A descriptor of the regular file ``path``: created exclusively, or the existing one opened
    without following a symbolic link; anything else in its place raises ``LockFileError``."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.EISDIR):
            raise
        fd = None
    if fd is not None and stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    if fd is not None:
        os.close(fd)
    kind = "a symbolic link" if path.is_symlink() else "a folder" if path.is_dir() else "not a regular file"
    raise LockFileError(
        f"{path} is {kind}, not the lock file jaxcnn writes there; it is left as it is: "
        "move it away or choose another --out"
    )


def _acquire(fd: int, out: str | os.PathLike) -> None:
    """Lock ``fd`` without waiting and write our PID into it; note a lock taken over from a dead run."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd) or "unknown"
        raise RunLockedError(
            f"{out} is in use by another run (PID {holder}); wait for it to end or choose another --out"
        ) from None
    previous = _read_pid(fd)
    if previous and previous != str(os.getpid()):
        print(
            f"note: taking over {Path(out) / LOCK_NAME} of PID {previous}, which ended without releasing it",
            file=sys.stderr,
        )
    with writing(Path(out) / LOCK_NAME):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _read_pid(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors="replace").strip()


@contextlib.contextmanager
def writing(path: str | os.PathLike, *, then: str = "rerun with --resume") -> Iterator[None]:
    """Re-raise a failure to write ``path`` as a one-line error that names it and says what to do.

    ``ENOSPC`` (also when a library reports it only in its message, as tensorstore does) becomes
    ``DiskFullError`` ("free space and ``then``"); ``EACCES``/``EPERM``/``EROFS`` a
    ``PermissionError``; ``ENOTDIR``/``EEXIST`` (a file where a folder should be) a
    ``NotADirectoryError``.
    """
    try:
        yield
    except (DiskFullError, RunLockedError, LockFileError):
        raise
    except OSError as err:
        raise _translated(err, path, then) from err
    except Exception as err:
        if _NO_SPACE not in str(err):
            raise
        raise _no_space(path, then) from err


def atomic_write(files: dict[Path, bytes], *, then: str = "rerun with --resume") -> None:
    """Write each ``{path: data}`` to a temporary file beside its path, then rename them all into
    place: a crash, a full disk or any failure leaves every earlier file whole and no temporary file.

    Raises:
      DiskFullError: the folder lacks the space for the new files (checked before anything is
        written, and on ENOSPC); one line naming the files and the space needed and free.
      PermissionError, NotADirectoryError: as ``writing``.
    """
    temporary = {path: path.with_name(f".{path.name}.tmp") for path in files}
    names = " and ".join(str(path) for path in files)
    needed, folder = sum(map(len, files.values())), next(iter(files)).parent
    try:
        with writing(names, then=then):
            if needed > shutil.disk_usage(folder).free:
                raise _no_space(names, then, f" (it needs {_size(needed)}; {_free(folder)} free)")
            for path, data in files.items():
                temporary[path].write_bytes(data)
            for path, tmp in temporary.items():
                os.replace(tmp, path)
    finally:
        for tmp in temporary.values():
            with contextlib.suppress(OSError):
                tmp.unlink()


def _free(folder: Path) -> str:
    try:
        return _size(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown"


def _translated(err: OSError, path: str | os.PathLike, then: str) -> OSError:
    if err.errno == errno.ENOSPC:
        return _no_space(path, then)
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return _error(
            PermissionError,
            err.errno,
            f"cannot write {path}: {err.strerror.lower()}; make it writable or choose another --out",
        )
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return _error(
            NotADirectoryError,
            err.errno,
            f"cannot write {path}: {_file_in_the_way(Path(path))} is a file, not a folder; choose another --out",
        )
    return err


def _no_space(path: str | os.PathLike, then: str, space: str = "") -> DiskFullError:
    """The one-line full-disk error; ``space`` says how much was needed and free."""
    return _error(DiskFullError, errno.ENOSPC, f"no space left on device writing {path}{space}: free space and {then}")


def _size(count: int) -> str:
    """Bytes as a short figure: ``'812 kB'``, ``'98.1 MB'``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def _error(cls: type[OSError], code: int, message: str) -> OSError:
    """``cls(message)`` with ``errno`` set; its str() is the message alone (no "[Errno N]")."""
    err = cls(message)
    err.errno = code
    return err


def _file_in_the_way(path: Path) -> Path:
    """The first of ``path``'s ancestors (or itself) that exists and is not a folder."""
    for candidate in reversed([path, *path.parents]):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return path
