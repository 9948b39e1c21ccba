"""Images decoded right or refused with the file named; hidden files ignored; emptied classes and wrong
downloads said out loud."""

import concurrent.futures
import gzip
import importlib
import os
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import image_folder, load
from tests.reliability.tmpfs import tmpfs

folder_module = importlib.import_module("jaxcnn.data.folder")


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


def test_folders_linked_into_a_class_are_followed_once(folder, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    for i in range(3):
        grey(np.full((8, 8), 10 * i, np.uint8), elsewhere / f"{i}.png")
    os.symlink(elsewhere, folder / "b" / "more")
    os.symlink(elsewhere, folder / "b" / "again")  # the same folder twice: read once
    os.symlink(folder / "b", elsewhere / "loop")  # a link back up the tree ends there
    ds = image_folder(folder, image_size=8)
    assert ds.labels.tolist() == [0, 1, 1, 1, 1]
    assert sorted(int(image[0, 0, 0]) for image in ds.images[1:]) == [0, 10, 20, 128]


def test_32_bit_integer_images_scale_from_the_range_their_values_need(folder):
    for name, value in (("eight", 128), ("sixteen", 32768), ("thirty-two", 2**30)):
        grey(np.full((8, 8), value, np.int32), folder / "a" / f"{name}.tif")
    images = image_folder(folder, image_size=8).images  # a/eight, a/grey8, a/sixteen, a/thirty-two
    assert [int(image[0, 0, 0]) for image in images[:4]] == [128, 128, 128, 128]  # round(2**30 * 255 / (2**31 - 1))


def test_a_damaged_image_cache_is_rebuilt(folder, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    expected = image_folder(folder, image_size=8).images
    image_folder(folder, image_size=8, cache_dir=cache)
    for suffix in (".npy", ".json"):
        (path,) = cache.glob(f"*{suffix}")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        np.testing.assert_array_equal(image_folder(folder, image_size=8, cache_dir=cache).images, expected)


def test_two_builders_of_one_image_cache_at_once_both_succeed(folder, tmp_path_factory, monkeypatch):
    cache, both_decoding = tmp_path_factory.mktemp("cache"), threading.Barrier(2, timeout=30)
    original = folder_module._decode_into

    def decode_together(*args, **kwargs):  # both builders are writing their array files at once
        both_decoding.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(folder_module, "_decode_into", decode_together)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda _: image_folder(folder, image_size=8, cache_dir=cache).images, range(2)))
    assert all((images == 128).all() and images.shape == (2, 8, 8, 3) for images in built)
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npy"]  # no temporary file left


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only tmpfs (root only; skipped elsewhere)."""
    with tmpfs(tmp_path / "read-only", "ro,size=1m") as folder:
        yield folder


def test_a_read_only_jaxcnn_data_is_named_not_blamed_on_the_download(read_only_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXCNN_DATA", str(read_only_folder))
    monkeypatch.setenv("JAXCNN_DATA_MIRROR", (tmp_path / "mirror").as_uri())
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(OSError, match=rf"^cannot save downloads in {read_only_folder}/mnist .*JAXCNN_DATA") as err:
        load("mnist", "train")
    assert "could not be downloaded" not in str(err.value)
