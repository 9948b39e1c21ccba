"""The shipped fashion_mnist_small: checksum, size, balance, licence, and the official images."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

import jaxcnn.data
from jaxcnn.data import channel_stats, embedded, load

PACKAGE = Path(jaxcnn.data.__file__).parent
DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def splits():
    return load("fashion_mnist_small", "train"), load("fashion_mnist_small", "test")


def test_shipped_file_matches_its_recorded_sha256_and_size_limit():
    data = (PACKAGE / embedded.DATA_FILE).read_bytes()
    record = embedded.record()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert len(data) == record["bytes"] <= 12_000_000


def test_licence_notice_ships_beside_the_data():
    notice = (PACKAGE / "FASHION_MNIST_LICENSE.txt").read_text()
    assert "MIT" in notice and "Zalando SE" in notice and "fashion_mnist_small" in notice


def test_sizes_and_class_balance(splits):
    train, test = splits
    assert train.images.shape == (20000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert np.bincount(train.labels, minlength=10).tolist() == [2000] * 10
    assert np.bincount(test.labels, minlength=10).tolist() == [1000] * 10  # official test set
    assert train.classes[0] == "T-shirt/top" and train.num_classes == 10
    assert train.sha256 == embedded.record()["sha256"]


def test_recorded_indices_are_distinct_official_positions():
    indices = embedded.record()["indices"]
    train = np.array(indices["train"])
    assert len(np.unique(train)) == 20000 and train.min() >= 0 and train.max() < 60000
    assert np.all(np.diff(train) > 0)
    assert indices["test"] == list(range(10000))


def test_subset_statistics_are_close_to_the_published_full_set(splits):
    mean, std = channel_stats(splits[0])
    # Fashion-MNIST training set: mean 0.2860, std 0.3530; a balanced random 1/3 subset
    # of 20,000 images moves them by far less than 0.005.
    np.testing.assert_allclose([mean[0], std[0]], [0.2860, 0.3530], atol=5e-3)


def official(name: str) -> np.ndarray:
    payload = gzip.decompress((DEBIAN / name).read_bytes())
    offset = 16 if "images" in name else 8
    return np.frombuffer(payload, np.uint8, offset=offset)


@pytest.mark.skipif(
    not DEBIAN.is_dir(),
    reason="needs the official idx files from Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist",
)
def test_images_equal_the_official_files_at_the_recorded_indices(splits):
    indices = embedded.record()["indices"]
    for ds, prefix, split in zip(splits, ("train", "t10k"), ("train", "test")):
        images = official(f"{prefix}-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1)
        labels = official(f"{prefix}-labels-idx1-ubyte.gz")
        np.testing.assert_array_equal(ds.images, images[indices[split]])
        np.testing.assert_array_equal(ds.labels, labels[indices[split]])
