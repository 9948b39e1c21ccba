"""Images decoded right or refused with the file named; hidden files ignored; emptied classes and wrong
downloads said out loud."""

import gzip
import warnings

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import image_folder, load


def grey(mode_array, path):
    Image.fromarray(mode_array).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """a/: an 8-bit grey 128 PNG (the reference), b/: an 8-bit grey 128 PNG."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        grey(np.full((8, 8), 128, np.uint8), tmp_path / name / "grey8.png")
    return tmp_path


MID_GREY = {  # the same mid-grey as 16-bit, 32-bit integer and float images
    "I;16 png": (np.full((8, 8), 32768, np.uint16), "png"),
    "I;16 tiff": (np.full((8, 8), 32768, np.uint16), "tif"),
    "I tiff": (np.full((8, 8), 32768, np.int32), "tif"),
    "F tiff": (np.full((8, 8), 0.5, np.float32), "tif"),
}


@pytest.mark.parametrize("kind", MID_GREY)
def test_16_bit_and_float_images_scale_to_0_255(kind, folder):
    array, suffix = MID_GREY[kind]
    grey(array, folder / "a" / f"mid.{suffix}")
    reference, image = image_folder(folder, image_size=8).images[[0, 1]]  # a/grey8.png, a/mid.*
    assert (reference == 128).all()  # what Pillow makes of 8-bit grey 128
    assert (image == 128).all(), f"{kind} decoded as {image[0, 0]}"  # 32768/65535 and 0.5 of 255, rounded


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((8, 8), 2.5, np.float32), r"mode F image with values in \[2.5, 2.5\]"),
        (np.full((8, 8), np.nan, np.float32), r"mode F image with values in \[nan, nan\]"),
        (np.full((8, 8), -7, np.int32), r"mode I image with values in \[-7, -7\]"),
    ],
)
def test_images_outside_their_modes_range_are_refused_naming_file_and_mode(array, message, folder):
    grey(array, folder / "b" / "odd.tif")
    with pytest.raises(ValueError, match=rf"cannot decode image .*odd.tif: {message}.*convert it to 8-bit"):
        image_folder(folder, image_size=8)


def test_hidden_and_appledouble_files_are_ignored(folder):
    (folder / "a" / "._grey8.png").write_bytes(b"\x00\x05\x16\x07" + bytes(80))  # macOS resource fork
    (folder / "b" / ".DS_Store").write_bytes(bytes(64))
    (folder / "b" / ".thumbs").mkdir()
    grey(np.zeros((8, 8), np.uint8), folder / "b" / ".thumbs" / "small.png")
    (folder / ".cache").mkdir()
    grey(np.zeros((8, 8), np.uint8), folder / ".cache" / "x.png")
    ds = image_folder(folder, image_size=8)
    assert ds.classes == ("a", "b") and ds.labels.tolist() == [0, 1] and (ds.images == 128).all()


def test_skip_bad_names_the_classes_it_leaves_empty(folder):
    (folder / "b" / "grey8.png").write_bytes(b"not a png")
    (folder / "c").mkdir()
    (folder / "c" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning) as record:
        ds = image_folder(folder, image_size=8, skip_bad=True)
    assert [str(w.message).split(",")[0] for w in record] == [
        "skipped 2 of 3 images that could not be decoded",
        "skip_bad left 2 of 3 classes without any image: b",
    ] and str(record[1].message).startswith("skip_bad left 2 of 3 classes without any image: b, c;")
    assert ds.classes == ("a", "b", "c") and ds.labels.tolist() == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when no class is left empty
        (folder / "b" / "grey8.png").unlink()
        grey(np.full((8, 8), 1, np.uint8), folder / "b" / "ok.png")
        (folder / "c" / "x.jpg").unlink()
        grey(np.full((8, 8), 1, np.uint8), folder / "c" / "ok.png")
        assert len(image_folder(folder, image_size=8, skip_bad=True)) == 3


def test_a_wrong_download_from_the_mirror_names_the_url(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (mirror / name).write_bytes(gzip.compress(b"not mnist"))
    monkeypatch.setenv("JAXCNN_DATA_MIRROR", mirror.as_uri())
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JAXCNN_DATA", raising=False)
    url = f"{mirror.as_uri()}/train-images-idx3-ubyte.gz"
    with pytest.raises(
        ValueError, match=rf"^the download of {url} has the wrong sha256: expected .*, got .*JAXCNN_DATA_MIRROR"
    ):
        load("mnist", "train", root=tmp_path / "data")
    assert [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == []  # nothing unverified kept
