"""split_folder: the held-out split is sha256 of the relative path (checked against coreutils and
hashlib's hex digest), disjoint, near its fraction, and independent of listing order and of other
files; the train/ + val/ (or test/) layout and its errors."""

import hashlib
import os

import pytest

from jaxcnn.data import folder as folder_module
from jaxcnn.data import held_out_share, split_folder

CLASSES = ("cat", "dog", "owl")


def touch_images(root, names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")  # scanning only lists files; nothing is decoded


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """3 classes x 700 (empty) .png files."""
    root = tmp_path_factory.mktemp("flat")
    touch_images(root, [f"{c}/{i:04d}.png" for c in CLASSES for i in range(700)])
    return root


def hex_share(relative: str) -> float:
    return int(hashlib.sha256(relative.encode()).hexdigest()[:16], 16) / 16**16


def test_share_is_the_sha256_of_the_relative_posix_path():
    # printf 'cat/0001.png' | sha256sum -> d8ef4d6dd16bb3e6...; 0xd8ef4d6dd16bb3e6 / 2**64
    assert held_out_share("cat/0001.png") == pytest.approx(0.8474014657125923, abs=1e-15)


def test_held_out_files_are_those_whose_hash_falls_below_the_fraction(flat):
    split = split_folder(flat, 0.1)
    held = {f.relative_to(flat).as_posix() for f in split.val_files}
    trained = {f.relative_to(flat).as_posix() for f in split.train_files}
    expected = {f"{c}/{i:04d}.png" for c in CLASSES for i in range(700) if hex_share(f"{c}/{i:04d}.png") < 0.1}
    assert held == expected and not held & trained and len(held | trained) == 2100
    assert abs(len(held) / 2100 - 0.1) < 0.02  # binomial sd 0.0065
    assert [split.classes[k] for k in split.val_labels] == [f.parent.name for f in split.val_files]
    assert split.layout == "held-out" and split.val_fraction == 0.1


def test_the_split_ignores_listing_order_and_other_files(flat, tmp_path, monkeypatch):
    before = split_folder(flat, 0.1)
    walk = os.walk

    def reversed_walk(top, **kwargs):
        for folder, dirs, names in walk(top, **kwargs):
            dirs.reverse()
            yield folder, dirs, names[::-1]

    monkeypatch.setattr(folder_module.os, "walk", reversed_walk)
    assert split_folder(flat, 0.1).val_files == before.val_files
    grown = tmp_path / "grown"
    touch_images(grown, [f.relative_to(flat).as_posix() for f in (*before.train_files, *before.val_files)])
    touch_images(grown, [f"dog/new{i}.png" for i in range(50)])
    after = split_folder(grown, 0.1)
    old = {f.relative_to(grown).as_posix() for f in after.val_files if "new" not in f.name}
    assert old == {f.relative_to(flat).as_posix() for f in before.val_files}


def test_train_and_val_layout_accepts_test_for_val(tmp_path):
    touch_images(tmp_path, ["train/a/1.png", "train/b/2.jpg", "test/a/3.png", "test/b/4.png", "test/b/5.png"])
    split = split_folder(tmp_path)
    assert split.layout == "train/val" and split.classes == ("a", "b") and split.val_fraction is None
    assert split.train_labels.tolist() == [0, 1] and split.val_labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), "0.1", True])
def test_bad_fractions_are_refused(fraction, tmp_path):
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\)"):
        split_folder(tmp_path, fraction)


def test_a_split_with_an_empty_part_says_so(tmp_path):
    touch_images(tmp_path, ["a/1.png"])  # 'a/1.png' hashes to 0.52: it trains at 0.1
    with pytest.raises(ValueError, match=r"none of the 1 images of .* fell in the validation part"):
        split_folder(tmp_path, 0.1)
