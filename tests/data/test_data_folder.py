"""image_folder: layout, resize + centre crop by hand, bad files, memory-mapped cache."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import folder, image_folder

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def bands(width, height, horizontal=True):
    """Quarter / half / quarter bands of red, green, blue along the longer side."""
    pixels = np.zeros((height, width, 3), np.uint8)
    long = width if horizontal else height
    a, b = long // 4, 3 * long // 4
    for colour, lo, hi in ((RED, 0, a), (GREEN, a, b), (BLUE, b, long)):
        if horizontal:
            pixels[:, lo:hi] = colour
        else:
            pixels[lo:hi] = colour
    return Image.fromarray(pixels)


@pytest.fixture
def tree(tmp_path):
    """cat/: a wide PNG, a grey JPEG in a subfolder; dog/: a tall PNG, an RGBA PNG, a text file."""
    (tmp_path / "cat" / "more").mkdir(parents=True)
    (tmp_path / "dog").mkdir()
    bands(80, 40).save(tmp_path / "cat" / "wide.png")
    Image.new("L", (30, 50), 77).save(tmp_path / "cat" / "more" / "grey.JPG", quality=100)
    bands(40, 80, horizontal=False).save(tmp_path / "dog" / "a_tall.png")
    Image.new("RGBA", (20, 20), (10, 20, 30, 128)).save(tmp_path / "dog" / "b_rgba.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    return tmp_path


def test_classes_labels_and_shapes(tree):
    ds = image_folder(tree, image_size=16)
    assert ds.classes == ("cat", "dog")
    assert ds.labels.tolist() == [0, 0, 1, 1]  # cat/more/grey.JPG, cat/wide.png, dog/a, dog/b
    assert ds.images.shape == (4, 16, 16, 3) and ds.images.dtype == np.uint8
    assert ds.source == str(tree) and ds.sha256 is None


def test_shorter_side_resize_then_centre_crop(tree):
    grey, wide, tall, rgba = image_folder(tree, image_size=16).images
    # 80x40 -> 32x16, centre crop keeps columns 8..24 of 32 = the green middle half
    # (its outermost column may blend with red/blue under bilinear filtering).
    assert (wide[:, 1:15] == GREEN).all()
    assert (tall[1:15, :] == GREEN).all()
    assert (grey == 77).all()  # JPEG quality 100 of a flat grey: exact
    assert (rgba == (10, 20, 30)).all()  # alpha dropped, colour kept


def test_parallel_and_serial_decoding_agree(tree):
    np.testing.assert_array_equal(
        image_folder(tree, image_size=16, workers=1).images, image_folder(tree, image_size=16, workers=4).images
    )


def write_bad_files(tree):
    (tree / "dog" / "c_garbage.jpg").write_bytes(b"this is not a jpeg")
    good = (tree / "cat" / "wide.png").read_bytes()
    (tree / "dog" / "d_truncated.png").write_bytes(good[: len(good) // 2])


def test_bad_file_is_named(tree):
    write_bad_files(tree)
    with pytest.raises(ValueError, match="cannot decode image .*c_garbage.jpg.*skip_bad=True"):
        image_folder(tree, image_size=16)
    (tree / "dog" / "c_garbage.jpg").unlink()
    with pytest.raises(ValueError, match="cannot decode image .*d_truncated.png"):
        image_folder(tree, image_size=16)


def test_skip_bad_warns_with_a_count(tree):
    write_bad_files(tree)
    with pytest.warns(UserWarning, match="skipped 2 of 6 images"):
        ds = image_folder(tree, image_size=16, skip_bad=True)
    assert len(ds) == 4 and ds.labels.tolist() == [0, 0, 1, 1]


def test_cache_is_a_memory_map_reused_until_a_file_changes(tree, tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    fresh = image_folder(tree, image_size=16)
    cached = image_folder(tree, image_size=16, cache_dir=cache)
    assert isinstance(cached.images, np.memmap)
    np.testing.assert_array_equal(cached.images, fresh.images)

    def no_decoding(*args):
        raise AssertionError("decoded although the cache is current")

    monkeypatch.setattr(folder, "decode", no_decoding)
    np.testing.assert_array_equal(image_folder(tree, image_size=16, cache_dir=cache).images, fresh.images)
    stat = (tree / "cat" / "wide.png").stat()
    os.utime(tree / "cat" / "wide.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded although"):
        image_folder(tree, image_size=16, cache_dir=cache)


def test_cache_with_skipped_files(tree, tmp_path_factory):
    write_bad_files(tree)
    with pytest.warns(UserWarning, match="skipped 2"):
        ds = image_folder(tree, image_size=16, skip_bad=True, cache_dir=tmp_path_factory.mktemp("c"))
    assert isinstance(ds.images, np.memmap) and ds.images.shape == (4, 16, 16, 3)
    assert (ds.images[1][:, 1:15] == GREEN).all()


def test_failed_cache_build_leaves_nothing_behind(tree, tmp_path_factory):
    write_bad_files(tree)
    cache = tmp_path_factory.mktemp("cache")
    with pytest.raises(ValueError, match="cannot decode image"):
        image_folder(tree, image_size=16, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="has no class subfolders"):
        image_folder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="class folder .*empty_class has no images"):
        image_folder(tmp_path)
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        image_folder(tmp_path, image_size=0)
