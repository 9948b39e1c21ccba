"""Normalisation by given statistics (``--mean``, ``--std``: ImageNet's published values, as
torchvision's recipes normalise) instead of those measured on the training images, or by the
training images' mean image (``--pixel-mean``, He et al.'s CIFAR input)."""

import numpy as np
import pytest

from jaxcnn.data import channel_stats
from jaxcnn.training import TrainConfig
from jaxcnn.training.config import ConfigError
from jaxcnn.training.parts import build_model, describe_data, transforms
from tests.training.runs import tiny_config


def described(train, **overrides):
    config = tiny_config("unused", **overrides)
    return config, describe_data(train, config, build_model(config, train.num_classes, train.image_shape[-1]))


def test_given_statistics_normalise_the_images_instead_of_the_measured_ones(tiny_data):
    train, _ = tiny_data
    _, measured = described(train)
    np.testing.assert_allclose(measured.mean, channel_stats(train)[0], rtol=1e-6)
    config, info = described(train, mean=(0.3,), std=(0.2,))
    assert (info.mean, info.std) == ((0.3,), (0.2,))
    _, normalize = transforms(config, info)
    images = train.images[:4]
    out = np.asarray(normalize(images))
    lo = (info.image_size - images.shape[1]) // 2  # centre-padded to the model's input size
    inside = out[:, lo : lo + images.shape[1], lo : lo + images.shape[2]]
    np.testing.assert_allclose(inside, (images / 255.0 - 0.3) / 0.2, rtol=1e-5, atol=1e-5)


def test_statistics_of_another_number_of_channels_are_refused_naming_the_count(tiny_data):
    train, _ = tiny_data
    with pytest.raises(ConfigError, match=r"mean: expected 1 values, one per channel of the images"):
        described(train, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"mean": (0.5,)}, r"std: expected as many values as mean=\(0.5,\), got None"),
        ({"mean": (0.5, 0.4), "std": (0.2,)}, r"std: expected as many values as mean=\(0.5, 0.4\)"),
        ({"mean": (1.5,), "std": (0.2,)}, r"mean: expected numbers in \[0, 1\]"),
        ({"mean": (0.5,), "std": (0.0,)}, "std: expected numbers > 0"),
    ],
)
def test_mean_and_std_come_together_and_in_range(fields, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**fields)


def test_a_config_file_gives_them_as_lists():
    assert TrainConfig.from_json({"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}).mean == (
        0.485,
        0.456,
        0.406,
    )


def test_the_pixel_mean_leaves_the_training_images_averaging_zero_at_every_pixel(tiny_data):
    train, _ = tiny_data
    config, info = described(train, pixel_mean=True)
    side = info.image_size
    assert np.shape(info.mean) == (side, side, 1) and info.std == (1.0,)
    _, normalize = transforms(config, info)
    out = np.concatenate([np.asarray(normalize(train.images[i : i + 64])) for i in range(0, len(train), 64)])
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-6)  # padding included: its mean is 0 - 0
    lo = (side - train.images.shape[1]) // 2
    np.testing.assert_allclose(
        np.asarray(info.mean)[lo : lo + 28, lo : lo + 28, 0], train.images[..., 0].mean(0) / 255.0, rtol=1e-5
    )


def test_the_pixel_mean_is_refused_with_given_statistics():
    with pytest.raises(ConfigError, match="pixel_mean: subtracts the training images' mean image; leave out mean"):
        TrainConfig(pixel_mean=True, mean=(0.5,), std=(0.2,))
