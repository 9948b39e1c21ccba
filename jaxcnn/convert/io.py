"""Reading torchvision checkpoints from disk: ``.pth``/``.pt`` (needs torch), ``.safetensors``
(needs the ``safetensors`` package) and ``.npz``."""

from __future__ import annotations

import os
import zipfile
from typing import Any

import flax.linen as nn
import ml_dtypes
import numpy as np

from jaxcnn.convert.mapping import as_numpy, from_torchvision

TORCH_SUFFIXES = (".pth", ".pt")
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
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"reading {path} needs PyTorch (`pip install torch`); or convert it once where torch is "
            "installed: numpy.savez('weights.npz', **{k: v.numpy() for k, v in torch.load(path).items()})."
        ) from None
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch's own message advises weights_only=False, which can run code
        raise ValueError(
            f"{path} is not a PyTorch weight file jaxcnn can read: damaged, not written by torch.save, or holding "
            "objects other than tensors (never unpickled here: that could run code)"
        ) from None
    if not isinstance(state_dict, dict) or not all(hasattr(v, "detach") for v in state_dict.values()):
        raise ValueError(
            f"{path} holds a {type(state_dict).__name__}, not a state_dict of tensors; if it is a training checkpoint, "
            "pass its state_dict (often checkpoint['model'] or checkpoint['state_dict']) to from_torchvision."
        )
    return {key: as_numpy(value, key) for key, value in state_dict.items()}


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state_dict from ``.pth``/``.pt`` (needs torch), ``.safetensors`` or ``.npz``, as numpy arrays."""
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
        f"cannot read {path}: expected a .pth/.pt (torch), .safetensors or .npz file; got suffix {suffix!r}."
    )


def load_torchvision(model: str | nn.Module, path: str | os.PathLike, *, drop_aux: bool = False) -> dict:
    """``from_torchvision(model, read_state_dict(path), drop_aux=drop_aux)``: variables from a
    torchvision checkpoint file (``.pth``/``.pt`` with torch installed, ``.safetensors``, ``.npz``)."""
    return from_torchvision(model, read_state_dict(path), drop_aux=drop_aux)
