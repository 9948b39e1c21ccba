"""Reading checkpoints: .safetensors (through the safetensors package, checked against files
written byte by byte from the format's specification), .npz, and the errors for files we cannot read."""

import json
import struct
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxcnn.convert import from_torchvision, load_torchvision, read_safetensors, read_state_dict


def write_safetensors(path, tensors, metadata=None):
    """Write ``{name: (dtype name, shape, raw little-endian bytes)}`` as the safetensors spec
    says: u64 header size, JSON header (space-padded to 8 bytes), then the data."""
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_reader_decodes_each_dtype_from_the_specified_bytes(tmp_path):
    path = tmp_path / "w.safetensors"
    write_safetensors(
        path,
        {
            "f32": ("F32", (2, 2), struct.pack("<4f", 1.5, -2.0, 3.25, 0.0)),
            "bf16": ("BF16", (3,), bytes([0xC0, 0x3F, 0x00, 0xC0, 0x20, 0x3E])),  # 1.5, -2.0, 0.15625
            "f16": ("F16", (1,), bytes([0x00, 0x38])),  # 0.5
            "i64": ("I64", (), struct.pack("<q", -7)),
        },
        metadata={"format": "pt"},
    )
    tensors = read_safetensors(path)
    assert sorted(tensors) == ["bf16", "f16", "f32", "i64"]
    np.testing.assert_array_equal(tensors["f32"], [[1.5, -2.0], [3.25, 0.0]])
    assert tensors["bf16"].dtype == np.float32
    np.testing.assert_array_equal(tensors["bf16"], [1.5, -2.0, 0.15625])
    assert tensors["f16"].dtype == np.float16 and tensors["f16"][0] == 0.5
    assert tensors["i64"].shape == () and tensors["i64"] == -7


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x00", "header too small"),
        (struct.pack("<Q", 1000) + b"{}", "invalid header length"),
        (struct.pack("<Q", 4) + b"{no}", "invalid JSON in header"),
    ],
)
def test_malformed_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"bad.safetensors is not a readable safetensors file: .*{message}"):
        read_safetensors(path)


def test_inconsistent_tensors_are_refused(tmp_path):
    path = tmp_path / "bad.safetensors"
    write_safetensors(path, {"w": ("F32", (3,), struct.pack("<2f", 1, 2))})
    with pytest.raises(ValueError, match=r"not a readable safetensors file: .*invalid shape, data type, or offset"):
        read_safetensors(path)
    write_safetensors(path, {"w": ("F8_E4M3", (1,), b"\x00")})
    with pytest.raises(ValueError, match="has dtype F8_E4M3; supported: BF16, F64"):
        read_safetensors(path)


@pytest.fixture(scope="module")
def resnet18_state_dict(torchvision_fixture):
    return torchvision_fixture("resnet18").state_dict()


def assert_same_variables(ours, reference):
    assert jax.tree.structure(ours) == jax.tree.structure(reference)
    jax.tree.map(np.testing.assert_array_equal, ours, reference)


def test_npz_and_safetensors_files_load_like_the_state_dict(tmp_path, resnet18_state_dict):
    np.savez(tmp_path / "r.npz", **resnet18_state_dict)
    write_safetensors(
        tmp_path / "r.safetensors",
        {
            key: (
                {"float32": "F32", "int64": "I64"}[str(value.dtype)],
                value.shape,
                value.astype(value.dtype.newbyteorder("<")).tobytes(),
            )
            for key, value in resnet18_state_dict.items()
        },
    )
    reference = from_torchvision("resnet18", resnet18_state_dict)
    for name in ("r.npz", "r.safetensors"):
        assert_same_variables(load_torchvision("resnet18", tmp_path / name), reference)


def test_safetensors_without_the_package_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    write_safetensors(path, {"w": ("F32", (1,), struct.pack("<f", 1.0))})
    monkeypatch.setitem(sys.modules, "safetensors", None)  # makes `import safetensors` fail
    with pytest.raises(ImportError, match=r'needs the safetensors package: pip install "jaxcnn\[safetensors\]"'):
        read_state_dict(path)


def test_torch_checkpoints_are_read_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    state_dict = read_state_dict(Path(__file__).parents[1] / "fixtures" / "torch_files" / "zip.pth")
    assert state_dict["bf16"].dtype == np.float32 and state_dict["conv.weight"].shape == (2, 3, 3, 3)


def test_unknown_or_missing_files_are_refused(tmp_path):
    (tmp_path / "w.h5").write_bytes(b"\x00")
    with pytest.raises(
        ValueError, match=r"expected a \.pth/\.pt/\.th \(torch\), \.safetensors or \.npz file; got suffix '\.h5'"
    ):
        read_state_dict(tmp_path / "w.h5")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_torchvision("resnet18", tmp_path / "absent.safetensors")
