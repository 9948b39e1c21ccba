"""TrivialAugmentWide, RandAugment and AutoAugment (``jaxcnn.data.autoaugment``) against
torchvision's: every operation at every magnitude gives torchvision's PIL-backend pixels on real
images (Fashion-MNIST photographs, greyscale and three as the channels of one colour image), the
magnitude tables are torchvision's, and the draws follow its distributions (with torch); without
torch, what the operations' definitions promise."""

import collections

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import embedded
from jaxcnn.data.autoaugment import POLICIES, apply_op, augmentation_space, auto_augment, sample_ops
from tests.data.samples import chi_square_p

PHOTOS = embedded.load("train").images[:6]  # uint8 [6, 28, 28, 1]


def colour_photo() -> np.ndarray:
    """Three Fashion-MNIST photographs as the R, G, B of one image, resized to 48 wide x 40 high
    (not square, so that a swapped width and height shows)."""
    rgb = np.concatenate([PHOTOS[0], PHOTOS[1], PHOTOS[2]], axis=-1)
    return np.asarray(Image.fromarray(rgb).resize((48, 40), Image.Resampling.BILINEAR))


def test_invert_solarize_and_posterize_follow_their_definitions():
    x = colour_photo()
    image = Image.fromarray(x)
    assert np.array_equal(np.asarray(apply_op(image, "Invert", 0.0)), 255 - x)
    assert np.array_equal(np.asarray(apply_op(image, "Solarize", 128.0)), np.where(x < 128, x, 255 - x))
    assert np.array_equal(np.asarray(apply_op(image, "Posterize", 3.0)), x & 0b11100000)
    assert np.array_equal(np.asarray(apply_op(image, "TranslateX", 5.0))[:, 5:], x[:, :-5])


def test_a_policy_keeps_the_shape_and_is_fixed_by_its_generator():
    for policy in POLICIES:
        grey = [auto_augment(PHOTOS[3], policy, np.random.default_rng([7, k])) for k in range(20)]
        assert all(g.shape == (28, 28, 1) and g.dtype == np.uint8 for g in grey)
        again = [auto_augment(PHOTOS[3], policy, np.random.default_rng([7, k])) for k in range(20)]
        assert all(np.array_equal(a, b) for a, b in zip(grey, again))
        assert sum(not np.array_equal(g, PHOTOS[3]) for g in grey) >= 5, policy


def test_an_unknown_policy_or_operation_is_refused():
    with pytest.raises(ValueError, match="one of ta_wide, ra"):
        sample_ops("trivial", np.random.default_rng(0), 8, 8)
    with pytest.raises(ValueError, match="unknown augmentation operation 'Blur'"):
        apply_op(Image.fromarray(colour_photo()), "Blur", 1.0)


def torchvision_policy(policy: str, magnitude: int = 9):
    autoaugment = pytest.importorskip("torchvision.transforms.autoaugment")
    from torchvision.transforms import InterpolationMode

    bilinear = InterpolationMode.BILINEAR
    if policy == "ta_wide":
        return autoaugment.TrivialAugmentWide(interpolation=bilinear)
    if policy == "ra":
        return autoaugment.RandAugment(interpolation=bilinear, magnitude=magnitude)
    return autoaugment.AutoAugment(autoaugment.AutoAugmentPolicy(policy), interpolation=bilinear)


@pytest.mark.parametrize("policy", POLICIES)
def test_magnitude_tables_are_torchvisions(policy):
    transform = torchvision_policy(policy)
    bins = {"ta_wide": 31, "ra": 31}.get(policy, 10)
    theirs = (
        transform._augmentation_space(bins) if policy == "ta_wide" else transform._augmentation_space(bins, (40, 48))
    )
    ours = augmentation_space(policy, 40, 48, bins)
    assert list(ours) == list(theirs)
    for name, (magnitudes, signed) in theirs.items():
        assert ours[name][1] == signed, name
        if magnitudes.ndim == 0:
            assert ours[name][0] is None, name
        else:
            # torch.linspace's last bit depends on the CPU's vector width
            np.testing.assert_array_max_ulp(ours[name][0], magnitudes.numpy().astype(ours[name][0].dtype), 1)


def test_every_operation_at_every_magnitude_gives_torchvisions_pixels():
    """Each of torchvision's magnitudes (TrivialAugmentWide's and RandAugment's 31 bins, both signs)."""
    autoaugment = pytest.importorskip("torchvision.transforms.autoaugment")
    from torchvision.transforms import InterpolationMode

    images = [Image.fromarray(colour_photo()), Image.fromarray(PHOTOS[4][..., 0])]
    spaces = [
        torchvision_policy("ta_wide")._augmentation_space(31),
        torchvision_policy("ra")._augmentation_space(31, (40, 48)),
    ]
    checked = collections.Counter()
    for space in spaces:
        for name, (magnitudes, signed) in space.items():
            values = [0.0] if magnitudes.ndim == 0 else [float(m) for m in magnitudes]
            values += [-v for v in values if signed and v]
            for image in images:
                for value in values:
                    ours = np.asarray(apply_op(image, name, value))
                    theirs = autoaugment._apply_op(image, name, value, InterpolationMode.BILINEAR, None)
                    assert np.array_equal(ours, np.asarray(theirs)), (name, value, image.mode)
                    checked[name] += 1
    assert len(checked) == 14 and sum(checked.values()) > 1000


@pytest.mark.parametrize("policy", POLICIES)
def test_the_draws_follow_torchvisions_distributions(policy, monkeypatch):
    """Chi-square two-sample test of (operation, magnitude) draws over 3,000 images, at the 0.1% level."""
    autoaugment = pytest.importorskip("torchvision.transforms.autoaugment")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    n, image = 3000, Image.fromarray(colour_photo())
    drawn = []
    monkeypatch.setattr(autoaugment, "_apply_op", lambda img, name, value, **kw: drawn.append((name, value)) or img)
    transform = torchvision_policy(policy, magnitude=12)
    for _ in range(n):
        drawn.append("image")
        transform(image)
    ours = ["image"]
    for k in range(n):
        ours += [*sample_ops(policy, np.random.default_rng([3, k]), 40, 48, magnitude=12), "image"]
    for theirs, mine in zip(counts(drawn), counts(ours)):
        assert chi_square_p(theirs, mine) > 1e-3


def counts(draws: list) -> tuple[collections.Counter, collections.Counter]:
    """How often each (operation, rounded magnitude) is drawn, and how often an image gets 0, 1 or 2
    operations."""
    ops, per_image, run = collections.Counter(), collections.Counter(), 0
    for draw in draws:
        if draw == "image":
            per_image[run] += 1
            run = 0
        else:
            ops[(draw[0], round(draw[1], 4))] += 1
            run += 1
    return ops, per_image


def test_host_augmented_batches_are_torchvisions_crop_flip_and_policy_for_the_same_draws():
    """``RandomCrop(padding)`` + ``RandomHorizontalFlip`` + the policy, each of torchvision's functional
    operations given the draws ``host_augmented_batches`` made from ``default_rng([seed, index])``."""
    autoaugment = pytest.importorskip("torchvision.transforms.autoaugment")
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    from jaxcnn.data.autoaugment import host_augmented_batches

    photo = colour_photo()[:32, :32]
    batch = {"image": np.stack([photo] * 8), "index": np.arange(100, 108, dtype=np.int32)}
    for policy in ("ta_wide", "imagenet"):
        (ours,) = host_augmented_batches(iter([batch]), policy, seed=5, pad=4, flip=True)
        for image, index in zip(ours["image"], batch["index"]):
            rng = np.random.default_rng([5, int(index)])
            top, left = rng.integers(0, 9, size=2)
            expected = F.crop(F.pad(Image.fromarray(photo), 4), int(top), int(left), 32, 32)
            expected = F.hflip(expected) if rng.random() < 0.5 else expected
            for name, value in sample_ops(policy, rng, 32, 32):
                expected = autoaugment._apply_op(expected, name, value, InterpolationMode.BILINEAR, None)
            assert np.array_equal(image, np.asarray(expected))
