"""Reading torchvision checkpoints from disk: ``.pth``/``.pt``/``.th`` (read without torch, running no
code from the file), ``.safetensors`` (needs the ``safetensors`` package) and ``.npz``."""

from __future__ import annotations

import os
import zipfile
from typing import Any

import flax.linen as nn
import ml_dtypes
import numpy as np

from jaxcnn.convert.mapping import from_torchvision
from jaxcnn.convert.torch_files import load_torch_file

TORCH_SUFFIXES = (".pth", ".pt", ".th")
# safetensors dtypes numpy holds (BF16 through ml_dtypes, widened to float32 on reading)
SAFETENSORS_DTYPES = ("BF16", "F64", "F32", "F16", "I64", "I32", "I16", "I8", "U8", "BOOL")


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as numpy arrays, BF16 widened to float32 (exactly,
    through ``ml_dtypes``). Reading is done by the ``safetensors`` package; a malformed file
    raises ``ValueError`` with its reason, an unsupported dtype ``ValueError`` naming the tensor."""
    try:
        import safetensors
    except ImportError:
        raise ImportError(
            f'reading {path} needs the safetensors package: pip install "jaxcnn[safetensors]" '
            "(or pip install safetensors)"
        ) from None
    try:
        with safetensors.safe_open(path, framework="np") as file:
            return {name: _safetensors_array(path, name, file) for name in file.keys()}
    except safetensors.SafetensorError as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from None


def _safetensors_array(path: Any, name: str, file: Any) -> np.ndarray:
    dtype = file.get_slice(name).get_dtype()
    if dtype not in SAFETENSORS_DTYPES:
        raise ValueError(f"{path}: tensor {name!r} has dtype {dtype}; supported: {', '.join(SAFETENSORS_DTYPES)}.")
    array = file.get_tensor(name)
    return array.astype(np.float32) if array.dtype == ml_dtypes.bfloat16 else array


def _read_torch(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state_dict from a ``torch.save`` file, read by ``torch_files`` (no torch, no code run); a
    training checkpoint's ``'state_dict'`` entry is taken."""
    saved = load_torch_file(path)
    if isinstance(saved, dict) and isinstance(saved.get("state_dict"), dict):
        saved = saved["state_dict"]
    if not isinstance(saved, dict) or not all(isinstance(v, np.ndarray) for v in saved.values()):
        raise ValueError(
            f"{path} holds a {type(saved).__name__}, not a state_dict of tensors; if it is a training checkpoint, "
            "pass its state_dict (often checkpoint['model']) to from_torchvision."
        )
    widen = lambda value: value.astype(np.float32) if value.dtype == ml_dtypes.bfloat16 else value  # noqa: E731
    return {key: widen(value) for key, value in saved.items()}


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state_dict from ``.pth``/``.pt``/``.th``, ``.safetensors`` or ``.npz``, as numpy arrays
    (bfloat16 widened to float32)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if suffix in TORCH_SUFFIXES:
        return _read_torch(path)
    if suffix == ".safetensors":
        return read_safetensors(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile):  # numpy's advice: allow_pickle=True
            raise ValueError(
                f"{path} is not a NumPy .npz weight archive jaxcnn can read: damaged, not written by numpy.savez, "
                "or holding object arrays (never unpickled here: that could run code)"
            ) from None
    raise ValueError(
        f"cannot read {path}: expected a .pth/.pt/.th (torch), .safetensors or .npz file; got suffix {suffix!r}."
    )


def load_torchvision(model: str | nn.Module, path: str | os.PathLike, *, drop_aux: bool = False) -> dict:
    """``from_torchvision(model, read_state_dict(path), drop_aux=drop_aux)``: variables from a
    torchvision checkpoint file (``.pth``/``.pt``/``.th``, ``.safetensors``, ``.npz``)."""
    return from_torchvision(model, read_state_dict(path), drop_aux=drop_aux)
