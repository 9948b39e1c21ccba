"""PyTorch's files read without PyTorch: what torch itself reads back, and nothing executed."""

import hashlib
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

from jaxcnn.convert import from_torchvision, load_torch_file, read_state_dict
from jaxcnn.convert.torch_files import UnsafeFileError
from jaxcnn.models import create_model, get_weights

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
TORCH_FILES = FIXTURES / "torch_files"
RELEASE = FIXTURES / "published" / "resnet20-12fca82f.th"


@pytest.mark.parametrize("name", ["zip.pth", "legacy.pth"])
def test_both_formats_give_what_torch_load_gives(name):
    """expected.npz is torch.load(weights_only=True)'s reading (tools/make_torch_file_fixtures.py)."""
    loaded = load_torch_file(TORCH_FILES / name)
    with np.load(TORCH_FILES / "expected.npz") as expected:
        assert list(loaded) == list(expected.files)
        for key in expected.files:
            got = np.asarray(loaded[key], np.float32) if key == "bf16" else loaded[key]
            assert got.dtype == expected[key].dtype and got.shape == expected[key].shape, key
            np.testing.assert_array_equal(got, expected[key], err_msg=key)


def test_the_published_cifar_release_reads_into_resnet20():
    """The real file of akamaster/pytorch_resnet_cifar10: its sha256 starts with the 8 hex digits its
    publisher put in its name, and its 97 tensors fit the option-A ResNet-20 exactly."""
    assert hashlib.sha256(RELEASE.read_bytes()).hexdigest().startswith(RELEASE.stem.split("-")[1])
    assert hashlib.sha256(RELEASE.read_bytes()).hexdigest() == get_weights("resnet20:CIFAR10_V1").sha256
    checkpoint = load_torch_file(RELEASE)
    state_dict = read_state_dict(RELEASE)  # the training checkpoint's 'state_dict' entry
    assert set(checkpoint) == {"state_dict", "best_prec1"} and len(state_dict) == 97
    renamed = {k.removeprefix("module.").replace("linear.", "fc."): v for k, v in state_dict.items()}
    variables = from_torchvision(create_model("resnet20"), renamed)
    assert np.asarray(variables["params"]["fc"]["kernel"]).shape == (64, 10)


def test_a_file_naming_other_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    for path, write in (
        (tmp_path / "evil.pth", lambda p: p.write_bytes(pickle.dumps({"w": Payload()}, protocol=2))),
        (tmp_path / "evil_zip.pth", lambda p: _zip(p, pickle.dumps({"w": Payload()}, protocol=2))),
    ):
        write(path)
        with pytest.raises(
            UnsafeFileError, match=rf"{path.name} is not a plain PyTorch weight file: it names posix.mkdir"
        ):
            load_torch_file(path)
    assert not marker.exists()


def _zip(path, data_pkl: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)


@pytest.mark.parametrize("cut", [10, 1000, 2000])
def test_a_truncated_legacy_file_is_named_and_refused(tmp_path, cut):
    path = tmp_path / "short.th"
    path.write_bytes((TORCH_FILES / "legacy.pth").read_bytes()[:cut])
    with pytest.raises(ValueError, match=r"short\.th is not a PyTorch weight file jaxcnn can read"):
        load_torch_file(path)


def test_a_tensor_view_past_its_storage_is_refused(tmp_path):
    """A view whose size and stride read beyond its storage (as_strided would read foreign memory)."""
    archive = zipfile.ZipFile(TORCH_FILES / "zip.pth")
    prefix = next(n for n in archive.namelist() if n.endswith("data.pkl"))[: -len("data.pkl")]
    data = archive.read(prefix + "data.pkl")
    # conv.weight is (2, 3, 3, 3) with strides (27, 9, 3, 1): claim (200, 3, 3, 3) instead
    data = data.replace(b"K\x02K\x03K\x03K\x03", b"K\xc8K\x03K\x03K\x03", 1)
    path = tmp_path / "view.pth"
    with zipfile.ZipFile(path, "w") as out:
        for name in archive.namelist():
            out.writestr(name, data if name == prefix + "data.pkl" else archive.read(name))
    with pytest.raises(ValueError, match=r"view\.pth .*reads past the end of its storage"):
        load_torch_file(path)
