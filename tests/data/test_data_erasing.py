"""Random erasing (torchvision's ``RandomErasing`` after ``Normalize``): the box sampler against
torchvision's own (two-sample tests, with torch), the erased pixels against torchvision's ``erase``
and, without torch, the properties the sampler promises."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.data import augment
from jaxcnn.data.augment import erasing_box
from tests.data.samples import ks_limit, two_sample_ks

MEAN, STD = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.3])


def images(n: int = 64, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def boxes(n: int, size: int = 32) -> np.ndarray:
    """``n`` draws of ``erasing_box`` for a ``size`` x ``size`` image: rows (found, top, left, h, w)."""
    keys = jax.random.split(jax.random.key(1), n)
    return np.stack(jax.vmap(lambda k: jnp.stack(erasing_box(k, size, size)))(keys)).astype(np.int64)


def test_each_box_fits_inside_and_its_area_and_aspect_are_in_range():
    found, top, left, h, w = boxes(4000).T
    assert found.mean() > 0.9  # the first of 10 draws fits most of the time
    h, w, top, left = h[found == 1], w[found == 1], top[found == 1], left[found == 1]
    assert np.all((h >= 1) & (h < 32) & (w >= 1) & (w < 32))
    assert np.all((top >= 0) & (top + h <= 32) & (left >= 0) & (left + w <= 32))
    area = h * w / 32**2  # rounding the sides moves area and ratio a little past their ranges
    assert 0.01 < area.min() and area.max() < 0.4 and 0.2 < (h / w).min() and (h / w).max() < 4.5


def test_erasing_zeroes_its_box_of_the_normalised_image_with_the_given_probability():
    x, index, key = images(), jnp.arange(64), jax.random.key(3)
    plain = np.asarray(augment(x, index, key, mean=MEAN, std=STD, pad=2, flip=True))
    erased = np.asarray(augment(x, index, key, mean=MEAN, std=STD, pad=2, flip=True, erase=0.5))
    changed = np.any(erased != plain, axis=(1, 2, 3))
    assert 16 <= changed.sum() <= 48  # binomial(64, ~0.5): outside this with probability < 1e-4
    for before, after in zip(plain[changed], erased[changed]):
        rows, cols = np.nonzero(np.all(after != before, axis=-1))
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        assert np.all(after[box] == 0) and np.array_equal(np.where(after == 0, before, after), before)
    always = np.asarray(augment(x, index, key, mean=MEAN, std=STD, pad=2, flip=True, erase=1.0))
    assert np.any(always != plain, axis=(1, 2, 3)).mean() > 0.9


def test_the_sampler_draws_torchvisions_boxes_and_erases_its_pixels():
    torch = pytest.importorskip("torch")
    v2 = pytest.importorskip("torchvision.transforms.v2")
    n, image = 4000, torch.zeros(3, 32, 32)
    transform = v2.RandomErasing(p=1.0)
    make_params = getattr(transform, "make_params", None) or transform._get_params
    torch.manual_seed(0)
    theirs = []
    for _ in range(n):
        p = make_params([image])
        theirs.append((p["v"] is not None, p["i"], p["j"], p["h"], p["w"]))
    theirs, ours = np.array(theirs, np.int64), boxes(n)
    assert abs(theirs[:, 0].mean() - ours[:, 0].mean()) < 0.03
    limit = ks_limit(n)
    for column, name in zip(range(1, 5), ("top", "left", "height", "width")):
        a, b = theirs[theirs[:, 0] == 1, column], ours[ours[:, 0] == 1, column]
        assert two_sample_ks(a, b) < limit, name
    # jaxcnn's erased image is torchvision's erase of the same box (found as the changed pixels)
    x, index, key = images(8), jnp.arange(8), jax.random.key(5)
    plain = np.asarray(augment(x, index, key, mean=MEAN, std=STD, pad=0, flip=False))
    erased = np.asarray(augment(x, index, key, mean=MEAN, std=STD, pad=0, flip=False, erase=1.0))
    for before, after in zip(plain, erased):
        rows, cols = np.nonzero(np.any(after != before, axis=-1))
        if rows.size == 0:
            continue  # no draw fitted
        top, left, h, w = rows.min(), cols.min(), rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min()
        chw = torch.from_numpy(before.transpose(2, 0, 1).copy())
        expected = v2.functional.erase(chw, int(top), int(left), int(h), int(w), torch.zeros(1))
        np.testing.assert_array_equal(after, expected.numpy().transpose(1, 2, 0))
