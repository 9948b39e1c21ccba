"""On-device augmentation: crops and flips checked against numpy, keyed per example."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.data import augment, normalize

MEAN, STD = np.float32(0.5), np.float32(0.25)
# One compilation per shape keeps these tests fast; the statistics are constants.
aug = jax.jit(functools.partial(augment, mean=MEAN, std=STD), static_argnames=("pad", "flip", "out_size"))


def distinct_images(n, side=6, channels=1):
    """n copies of an image whose pixels 1..side*side*C are all different (none is 0)."""
    image = np.arange(1, side * side * channels + 1, dtype=np.uint8).reshape(side, side, channels)
    return np.broadcast_to(image, (n, side, side, channels)).copy()


def candidates(image, pad):
    """Every crop of the zero-padded image, unflipped then flipped: [(2p+1)^2 * 2, H, W, C]."""
    side = image.shape[0]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    crops = [padded[y : y + side, x : x + side] for y in range(2 * pad + 1) for x in range(2 * pad + 1)]
    return np.stack(crops + [c[:, ::-1] for c in crops])


def to_pixels(x):
    """Undo normalisation: back to the uint8 pixel values."""
    return np.rint((np.asarray(x) * STD + MEAN) * 255).astype(np.int64)


def test_normalize_hand_computed_with_centre_padding():
    images = np.full((1, 28, 28, 1), 255, np.uint8)
    out = normalize(images, MEAN, STD, out_size=32)
    assert out.shape == (1, 32, 32, 1) and out.dtype == jnp.float32
    np.testing.assert_allclose(out[0, 2:30, 2:30], (1 - 0.5) / 0.25)  # = 2
    np.testing.assert_allclose(out[0, :2], (0 - 0.5) / 0.25)  # = -2, the zero border
    np.testing.assert_allclose(out[0, :, 30:], -2.0)


def test_normalize_gives_zero_mean_unit_std_per_channel():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    pixels = images.reshape(-1, 3) / 255.0
    out = np.asarray(normalize(images, pixels.mean(0), pixels.std(0))).reshape(-1, 3)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-5)


def test_without_padding_or_flip_augment_is_normalize():
    images = distinct_images(3)
    out = aug(images, np.arange(3), jax.random.key(0), pad=0, flip=False)
    np.testing.assert_allclose(out, normalize(images, MEAN, STD), rtol=1e-6)


def test_every_output_is_a_padded_crop_or_its_mirror():
    images = np.random.default_rng(1).integers(1, 256, (20, 6, 6, 2), dtype=np.uint8)
    out = to_pixels(aug(images, np.arange(20), jax.random.key(1), pad=2))
    for image, result in zip(images, out):
        allowed = candidates(image, 2)
        assert (allowed == result).all(axis=(1, 2, 3)).any()


def test_offsets_and_flips_are_uniform():
    # 2,500 examples, pad 2: 25 offsets (chi-square, 24 degrees of freedom,
    # critical value 51.18 at p = 0.001) and a flip rate of 1/2 (std 0.01).
    n, pad = 2500, 2
    images = distinct_images(n)
    out = to_pixels(aug(images, np.arange(n), jax.random.key(7), pad=pad))
    allowed = candidates(images[0], pad).reshape(50, -1)
    which = np.array([np.flatnonzero((allowed == o.reshape(-1)).all(axis=1))[0] for o in out])
    offsets = np.bincount(which % 25, minlength=25)
    chi2 = ((offsets - n / 25) ** 2 / (n / 25)).sum()
    assert chi2 < 51.18, offsets
    assert abs((which >= 25).mean() - 0.5) < 0.04


def test_result_depends_on_the_example_index_not_the_batch():
    images = np.random.default_rng(2).integers(0, 256, (8, 6, 6, 1), dtype=np.uint8)
    index = np.arange(100, 108, dtype=np.int32)
    key = jax.random.key(3)
    whole = np.asarray(aug(images, index, key))
    halves = np.concatenate([aug(images[:4], index[:4], key), aug(images[4:], index[4:], key)])
    np.testing.assert_array_equal(whole, halves)
    np.testing.assert_array_equal(whole[::-1], aug(images[::-1], index[::-1], key))


def test_augment_pads_to_out_size_then_crops():
    images = np.random.default_rng(3).integers(1, 256, (20, 6, 6, 1), dtype=np.uint8)
    out = to_pixels(aug(images, np.arange(20), jax.random.key(4), pad=2, out_size=8))
    assert out.shape == (20, 8, 8, 1)
    for image, result in zip(images, out):
        allowed = candidates(np.pad(image, ((1, 1), (1, 1), (0, 0))), 2)
        assert (allowed == result).all(axis=(1, 2, 3)).any()


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(images=np.zeros((2, 6, 6, 1), np.float32)), TypeError, "uint8"),
        (dict(images=np.zeros((6, 6, 1), np.uint8)), ValueError, "B, H, W, C"),
        (dict(mean=np.zeros(3)), ValueError, r"shape \[1\]"),
        (dict(std=0.0), ValueError, "std must be positive"),
        (dict(index=np.arange(3)), ValueError, r"index must have shape \[B\] = \[2\]"),
        (dict(index=np.zeros(2, np.float32)), TypeError, "integer"),
        (dict(out_size=4), ValueError, "out_size must be an int >= the image side 6"),
        (dict(pad=-1), ValueError, "pad must be an integer >= 0, got -1"),
    ],
)
def test_bad_input_is_rejected(kwargs, error, words):
    args = dict(images=np.zeros((2, 6, 6, 1), np.uint8), index=np.arange(2), key=jax.random.key(0), mean=MEAN, std=STD)
    args.update(kwargs)
    images, index, key = args.pop("images"), args.pop("index"), args.pop("key")
    with pytest.raises(error, match=words):
        augment(images, index, key, **args)


def test_traced_statistics_are_rejected():
    images = np.zeros((2, 6, 6, 1), np.uint8)
    with pytest.raises(TypeError, match="host value"):
        jax.jit(lambda m: normalize(images, m, STD))(jnp.float32(0.5))
