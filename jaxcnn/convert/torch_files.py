"""Reading PyTorch's ``torch.save`` files without PyTorch, and without running their code.

A ``.pth``/``.pt``/``.th`` file is a pickle whose tensors point into raw storages: in a zip
archive (``torch.save`` since PyTorch 1.6) or, in the legacy format (torchvision's and most
published weights of 2017-2019), in a stream of pickles followed by the storages' bytes. Plain
``pickle`` would import and call whatever the file names; here an unpickler admits only the
names a state_dict needs (``OrderedDict`` and torch's tensor rebuilders and storage types), as
``torch.load(weights_only=True)`` does, and rebuilds each tensor as a numpy array, checking that
its view stays inside its storage.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from typing import Any, BinaryIO

import ml_dtypes
import numpy as np

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER


class UnsafeFileError(ValueError):
    """The file names a Python object that a state_dict of tensors does not need."""


def _rebuild_tensor(storage, offset, size, stride, *_unused) -> np.ndarray:
    """torch._utils._rebuild_tensor(_v2): the view ``(offset, size, stride)`` of ``storage``, copied."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or min(size, default=1) < 0 or min(stride, default=0) < 0 or offset < 0:
        raise ValueError(f"a tensor with size {size}, stride {stride} and offset {offset} is malformed")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise ValueError(f"a tensor of size {size} reads past the end of its storage of {storage.size} values")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, tuple(s * item for s in stride), writeable=False)
    return np.array(view)


def _rebuild_parameter(data, requires_grad, backward_hooks, *_unused) -> np.ndarray:
    return data


class _Storage:
    """A storage named in the pickle: its dtype and the key of its bytes."""

    def __init__(self, dtype, key: str, numel: int):
        self.dtype, self.key, self.numel = dtype, key, numel


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): name for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Admits only ``_ALLOWED``; ``storages(key, dtype, numel)`` gives each storage's array."""

    def __init__(self, file: BinaryIO, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafeFileError(
                f"it names {module}.{name}, which a state_dict of tensors does not need (never imported here: "
                "that could run code)"
            )
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid) -> np.ndarray:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and pid[1] in STORAGE_DTYPES):
            raise UnsafeFileError(f"it holds a persistent object {pid!r:.80}, not a tensor storage")
        _, kind, key, _location, numel, *view = pid
        storage = self.storages(str(key), np.dtype(STORAGE_DTYPES[kind]), int(numel))
        if view and view[0] is not None:  # legacy views into a larger storage: (view key, offset, size)
            _, view_offset, view_size = view[0]
            storage = storage[view_offset : view_offset + view_size]
        return storage


def _read_zip(path: str | os.PathLike) -> Any:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError("it is a zip archive without torch.save's data.pkl")
        prefix = pickles[0][: -len("data.pkl")]

        def storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            raw = archive.read(f"{prefix}data/{key}")
            return np.frombuffer(raw, dtype, count=len(raw) // dtype.itemsize)

        return _Unpickler(io.BytesIO(archive.read(pickles[0])), storage).load()


def _read_legacy(file: BinaryIO) -> Any:
    """The format of ``torch.save(..., _use_new_zipfile_serialization=False)``: magic number,
    protocol, system info, the object, the storage keys, then each storage's bytes in key order."""
    header = [_Unpickler(file, None).load() for _ in range(3)]
    if header[0] != LEGACY_MAGIC:
        raise ValueError("it is neither a zip archive nor a legacy torch.save file")
    if not header[2].get("little_endian", True):
        raise ValueError("it was saved on a big-endian machine")
    wanted: dict[str, tuple[np.dtype, int]] = {}

    def storage(key: str, dtype: np.dtype, numel: int) -> _Storage:
        wanted[key] = (dtype, numel)
        return _Storage(dtype, key, numel)

    placeholders = _LegacyUnpickler(file, storage).load()
    keys = _Unpickler(file, None).load()
    arrays = {}
    for key in keys:
        dtype, _ = wanted[key]
        numel = int(np.frombuffer(file.read(8), "<i8")[0])
        raw = file.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise ValueError(f"it ends inside storage {key} ({len(raw)} of {numel * dtype.itemsize} bytes)")
        arrays[key] = np.frombuffer(raw, dtype)
    return _resolve(placeholders, arrays)


class _LegacyUnpickler(_Unpickler):
    """The legacy object pickle comes before its storages' bytes: tensors are rebuilt once those are read."""

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name)
        if found is _rebuild_tensor or found is _rebuild_parameter:
            return lambda *args: _Deferred(found, args)
        return found

    def persistent_load(self, pid) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and pid[1] in STORAGE_DTYPES):
            raise UnsafeFileError(f"it holds a persistent object {pid!r:.80}, not a tensor storage")
        _, kind, key, _location, numel, view = pid
        return (self.storages(str(key), np.dtype(STORAGE_DTYPES[kind]), int(numel)), view)


class _Deferred:
    def __init__(self, rebuild, args):
        self.rebuild, self.args = rebuild, args


def _resolve(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, _Deferred):
        return value.rebuild(*(_resolve(arg, arrays) for arg in value.args))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], _Storage):
        storage, view = arrays[value[0].key], value[1]
        return storage if view is None else storage[view[1] : view[1] + view[2]]
    if isinstance(value, dict):
        resolved = type(value)((key, _resolve(item, arrays)) for key, item in value.items())
        return resolved
    if isinstance(value, list | tuple):
        return type(value)(_resolve(item, arrays) for item in value)
    return value


def load_torch_file(path: str | os.PathLike) -> Any:
    """The object ``torch.save`` wrote to ``path``, its tensors as numpy arrays (bfloat16 through
    ``ml_dtypes``); only containers, numbers, strings and tensors are admitted.

    Raises:
      ValueError: the file is damaged, truncated, or names any other Python object
        (``UnsafeFileError``, a ``ValueError``); the message names ``path`` and the reason.
    """
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with open(path, "rb") as file:
            return _read_legacy(file)
    except UnsafeFileError as err:
        raise UnsafeFileError(f"{path} is not a plain PyTorch weight file: {err}") from None
    except (
        ValueError,
        KeyError,
        EOFError,
        TypeError,
        AttributeError,
        IndexError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as err:
        raise ValueError(f"{path} is not a PyTorch weight file jaxcnn can read: {err or type(err).__name__}") from None
