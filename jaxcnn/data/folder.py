"""``image_folder``: a Dataset from one subfolder of images per class (torchvision's layout).

Decoding runs in a thread pool: Pillow releases the GIL while it decodes and
resizes, so threads use all cores without pickling images between processes,
and no dependency beyond Pillow is needed (grain would also install here, but
brings array_record, protobuf and others for a job a thread pool does). With
``cache_dir`` the images are decoded once into a memory-mapped file, so a folder
larger than memory still yields an ordinary ``Dataset`` whose ``images`` is a
read-only ``np.memmap`` that the pipeline reads batch by batch.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from jaxcnn.validate import BOOL, POSITIVE_INT

from .dataset import Dataset
from .transforms import DECODE_ERRORS, cannot_decode, eval_transform, is_greyscale, open_image

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_CHUNK = 256


def image_folder(
    path: str | os.PathLike,
    *,
    image_size: int = 224,
    skip_bad: bool = False,
    workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    channels: int | None = 3,
) -> Dataset:
    """Load ``path/<class>/**/<image>`` as a Dataset; classes are the sorted subfolder names.

    Hidden files and folders (``.DS_Store``, macOS's ``._*`` AppleDouble files) are ignored;
    symbolic links to folders are followed (each folder is read once, so a link back up the tree
    ends there). Each image is decoded with Pillow as RGB (16-bit, 32-bit integer and float images
    scaled to 0..255, see ``to_rgb``), resized so its shorter side is
    ``image_size`` (bilinear) and centre-cropped to ``image_size`` square, as
    torchvision's ``Resize(image_size)`` + ``CenterCrop(image_size)`` do.

    Args:
      path: the root folder.
      image_size: output side in pixels; keep it divisible by 32 for five halvings.
      skip_bad: skip files that fail to decode (with one warning that counts
        them, and one naming the classes left without images) instead of raising.
      workers: decoding threads (default: the CPU count).
      cache_dir: decode once into a memory-mapped file in this folder and reuse
        it while the files and ``image_size`` stay the same; damaged cache files are rebuilt,
        and processes building the same cache at once do not disturb each other.
      channels: 3 (RGB), 1 (greyscale, see ``to_grey``) or None: 1 when every file is a
        one-band image (``folder_channels``), else 3.

    Returns:
      a Dataset with images uint8 [N, image_size, image_size, channels], labels int32 [N].
    """
    _check_arguments(image_size, skip_bad, workers, channels)
    root = Path(path)
    classes, files, labels = scan(root)
    settings = {"image_size": image_size, "channels": channels, "skip_bad": skip_bad, "workers": workers}
    return decode_files(root, files, labels, classes, cache_dir=cache_dir, **settings)


def decode_files(
    root: Path,
    files: list[Path] | tuple[Path, ...],
    labels: np.ndarray,
    classes: tuple[str, ...],
    *,
    image_size: int,
    channels: int | None = 3,
    skip_bad: bool = False,
    workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    part: str | None = None,
) -> Dataset:
    """Decode ``files`` (below ``root``) once, as ``image_folder`` does, into a Dataset.

    Args:
      root: the folder the files are below (names the cache and the Dataset's source).
      files, labels, classes: the images, their int32 labels [N] and the class names.
      image_size, channels, skip_bad, workers, cache_dir: as in ``image_folder``.
      part: a name that tells apart caches of several file lists of one ``root`` ("train", "val").

    Returns:
      a Dataset with images uint8 [N', image_size, image_size, channels], labels int32 [N'] (N' < N
      only when ``skip_bad`` skipped files).
    """
    _check_arguments(image_size, skip_bad, workers, channels)
    files = list(files)
    if channels is None:
        channels = folder_channels(files, workers)
    decoder = Decoder(image_size, channels, skip_bad, workers)
    if cache_dir is None:
        images = np.empty((len(files), image_size, image_size, channels), np.uint8)
        kept = _decode_into(images, files, decoder)
        images = images[: len(kept)]
    else:
        images, kept = _cached(root, Path(cache_dir), files, decoder, part)
    _warn_empty_classes(classes, labels[kept], skip_bad)
    return Dataset(images, labels[kept], classes, source=str(root))


def folder_channels(files: list[Path], workers: int | None = None) -> int:
    """1 when every file holds a one-band image (modes 1, L, I;16*, I, F, read from the headers
    alone), else 3. An unreadable header counts as colour (decoding then reports the file)."""

    def grey(path):
        try:
            return is_greyscale(path)
        except DECODE_ERRORS:
            return False

    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        return 1 if files and all(pool.map(grey, files)) else 3


def _check_arguments(image_size, skip_bad, workers, channels) -> None:
    POSITIVE_INT.require("image_size", image_size)
    BOOL.require("skip_bad", skip_bad)
    POSITIVE_INT.or_none().require("workers", workers)
    if channels not in (1, 3, None):
        raise ValueError(f"channels must be 1, 3 or None (decided by the files), got {channels!r}")


def _warn_empty_classes(classes: tuple[str, ...], labels: np.ndarray, skip_bad: bool) -> None:
    """Warn about the classes whose every image ``skip_bad`` skipped (their labels stay reserved)."""
    empty = [name for i, name in enumerate(classes) if not np.any(labels == i)]
    if empty and skip_bad:
        warnings.warn(
            f"skip_bad left {len(empty)} of {len(classes)} classes without any image: {', '.join(empty)}; "
            "their labels stay reserved, fix their files or remove the folders",
            stacklevel=3,
        )


def scan(root: Path) -> tuple[tuple[str, ...], list[Path], np.ndarray]:
    """(class names, image files, int32 labels [N]) of an image folder, in sorted order."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; expected {root}/<class>/<image files>")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{root} has no class subfolders; put the images of each class in {root}/<class name>/")
    files, labels = [], []
    for label, folder in enumerate(class_dirs):
        found = image_files(folder)
        if not found:
            raise ValueError(
                f"class folder {folder} has no images (looked for "
                f"{', '.join(EXTENSIONS)}); add images or remove the folder"
            )
        files += found
        labels += [label] * len(found)
    return tuple(d.name for d in class_dirs), files, np.asarray(labels, np.int32)


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files below ``folder`` (by extension, hidden names skipped, links to folders
    followed), sorted."""
    folder = Path(folder)
    return sorted(p for p in _walk(folder) if _is_image_file(p, folder))


def _walk(folder: Path) -> list[Path]:
    """Every file below ``folder``, following symbolic links to folders (as torchvision's
    ``ImageFolder`` does), each folder once: a link to a folder already read is not read again."""
    seen, files = set(), []
    for top, dirs, names in os.walk(folder, followlinks=True):
        info = os.stat(top)
        if (info.st_dev, info.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        files += [Path(top) / name for name in names]
    return files


def _is_image_file(path: Path, folder: Path) -> bool:
    """A file with an image extension and no hidden part below ``folder`` (``.DS_Store``, macOS's
    AppleDouble ``._name.jpg`` files, ``.git/``...)."""
    hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
    return not hidden and path.suffix.lower() in EXTENSIONS and path.is_file()


def decode(path: Path, image_size: int, channels: int = 3) -> np.ndarray:
    """One image as uint8 [image_size, image_size, channels]: ``open_image`` then ``eval_transform``
    (shorter side resized to ``image_size``, centre crop)."""
    return eval_transform(open_image(path, channels), image_size)


@dataclasses.dataclass(frozen=True)
class Decoder:
    """How files are decoded once: output side and channels, whether bad files are skipped, and
    the decoding threads."""

    image_size: int
    channels: int
    skip_bad: bool
    workers: int | None

    def attempt(self, path: Path):
        """The decoded image at ``path``, or with ``skip_bad`` the error that decoding it raised."""
        try:
            return decode(path, self.image_size, self.channels)
        except DECODE_ERRORS as err:
            if not self.skip_bad:
                raise cannot_decode(path, err) from err
            return err

    def shape(self, count: int) -> tuple[int, int, int, int]:
        """The array shape of ``count`` decoded images."""
        return (count, self.image_size, self.image_size, self.channels)


def _decode_into(out: np.ndarray, files: list[Path], decoder: Decoder) -> np.ndarray:
    """Decode ``files`` in parallel into the first rows of ``out``, in order; return the
    indices of the files kept (all of them unless ``skip_bad`` skipped some)."""
    kept, bad = [], []
    with concurrent.futures.ThreadPoolExecutor(decoder.workers or os.cpu_count()) as pool:
        for start in range(0, len(files), _CHUNK):
            chunk = files[start : start + _CHUNK]
            for i, result in enumerate(pool.map(decoder.attempt, chunk), start):
                if isinstance(result, Exception):
                    bad.append((files[i], result))
                else:
                    out[len(kept)] = result
                    kept.append(i)
    if bad:
        warnings.warn(
            f"skipped {len(bad)} of {len(files)} images that could not be decoded, "
            f"the first: {bad[0][0]} ({bad[0][1]})",
            stacklevel=4,
        )
    return np.asarray(kept, np.int64)


def _cached(
    root: Path, cache_dir: Path, files: list[Path], decoder: Decoder, part: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Memory-mapped images [N, S, S, 3] and kept indices, decoding only when stale or damaged.

    Each file is written under a name of its own and renamed into place when complete, the .json
    last, naming the fingerprint of the image files and the shape of the array: a cache
    interrupted mid-write, or damaged later, is never taken for a complete one, and two processes
    building it at once each rename a complete file.
    """
    stats = [(str(f.relative_to(root)), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    settings = [decoder.image_size, decoder.skip_bad] + ([decoder.channels] if decoder.channels != 3 else [])
    fingerprint = hashlib.sha256(json.dumps([*settings, stats]).encode()).hexdigest()
    place = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    stem = f"{root.name}-{place}-{decoder.image_size}px" + (f"-{decoder.channels}ch" if decoder.channels != 3 else "")
    stem += f"-{part}" if part else ""
    array_path, meta_path = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"
    shape = decoder.shape(len(files))
    cached = _read_cache(array_path, meta_path, fingerprint, shape)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    kept = _write_atomically(array_path, lambda temporary: _decode_to_file(temporary, files, decoder))
    meta = {"fingerprint": fingerprint, "shape": list(shape), "kept": kept}
    _write_atomically(meta_path, lambda temporary: temporary.write_text(json.dumps(meta)))
    return _read_cache(array_path, meta_path, fingerprint, shape)


def _read_cache(array_path: Path, meta_path: Path, fingerprint: str, shape: tuple) -> tuple | None:
    """(images, kept) of a complete cache for ``fingerprint``, or None when it is missing, stale or damaged."""
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(array_path, mmap_mode="r")
        kept = np.asarray(meta["kept"], np.int64)
    except (OSError, ValueError, TypeError, KeyError, EOFError):
        return None
    if meta.get("fingerprint") != fingerprint or images.shape != shape or meta.get("shape") != list(shape):
        return None
    # Skipped files leave unused rows at the end; slicing keeps it a memory map.
    return images[: len(kept)], kept


def _write_atomically(path: Path, write):
    """``write(part)`` into a temporary file of this call's own beside ``path``, renamed to ``path``
    when it returns; returns what ``write`` returned."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    part = Path(name)
    try:
        result = write(part)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return result


def _decode_to_file(path: Path, files: list[Path], decoder: Decoder) -> list[int]:
    """Decode ``files`` into the .npy ``path``; return the kept indices."""
    out = np.lib.format.open_memmap(path, "w+", np.uint8, decoder.shape(len(files)))
    kept = _decode_into(out, files, decoder)
    out.flush()
    del out
    return kept.tolist()
