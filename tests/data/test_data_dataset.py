"""Dataset validation and channel statistics."""

import numpy as np
import pytest

from jaxcnn.data import Dataset, channel_stats


def make(n=4, classes=("a", "b", "c"), **overrides):
    args = dict(
        images=np.zeros((n, 5, 5, 1), np.uint8),
        labels=np.arange(n, dtype=np.int32) % max(len(classes), 1),
        classes=classes,
        source="memory",
    )
    args.update(overrides)
    return Dataset(**args)


def test_valid_dataset_reports_size_and_classes():
    ds = make(n=6)
    assert len(ds) == 6
    assert ds.num_classes == 3
    assert ds.sha256 is None


@pytest.mark.parametrize(
    "overrides, error, words",
    [
        (dict(images=np.zeros((4, 5, 5, 1), np.float32)), TypeError, "uint8"),
        (dict(images=[[0]]), TypeError, "numpy array"),
        (dict(images=np.zeros((4, 5, 5), np.uint8)), ValueError, "rank 4"),
        (dict(labels=np.zeros(4, np.int64)), TypeError, "int32"),
        (dict(labels=np.zeros((4, 1), np.int32)), ValueError, "rank 1"),
        (dict(labels=np.zeros(3, np.int32)), ValueError, "4 images, 3 labels"),
        (dict(labels=np.array([0, 1, 3, 2], np.int32)), ValueError, "labels[2] = 3"),
        (dict(labels=np.array([0, -1, 1, 2], np.int32)), ValueError, "outside 0..2"),
        (dict(classes=["a", "b", "c"]), TypeError, "tuple of str"),
        (dict(classes=()), ValueError, "classes is empty"),
        (dict(source=3), TypeError, "source"),
        (dict(sha256="abc"), ValueError, "64 lowercase hex"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(overrides, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        make(**overrides)


def test_empty_dataset_is_rejected():
    with pytest.raises(ValueError, match="no examples"):
        make(n=0)


def test_channel_stats_hand_computed():
    # channel 0: half the pixels 0, half 255 -> mean 0.5, std 0.5;
    # channel 1: all 51 -> mean 0.2, std 0; channel 2: 0 and 102 -> mean 0.2, std 0.2.
    images = np.zeros((2, 3, 3, 3), np.uint8)
    images[1, ..., 0] = 255
    images[..., 1] = 51
    images[1, ..., 2] = 102
    ds = make(n=2, images=images)
    mean, std = channel_stats(ds)
    np.testing.assert_allclose(mean, [0.5, 0.2, 0.2], atol=1e-7)
    np.testing.assert_allclose(std, [0.5, 0.0, 0.2], atol=1e-7)
    assert mean.dtype == std.dtype == np.float32


def test_channel_stats_equal_numpy_in_chunks():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 6, 7, 3), dtype=np.uint8)
    mean, std = channel_stats(make(n=37, images=images), chunk=5)
    pixels = images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, pixels.std(axis=0), rtol=1e-6)
