"""StreamingFolder and the training transform: crops distributed as torchvision's, pixels as
torchvision's, the same batches whatever the worker count, start point or process slice, and
bad files named or skipped."""

import math
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import StreamingFolder, eval_batches, train_batches
from jaxcnn.data.folder import scan
from jaxcnn.data.transforms import CROP_RATIO, CROP_SCALE, eval_transform, open_rgb, random_resized_crop_params
from jaxcnn.data.transforms import train_transform as host_train_transform

DRAWS = 10_000
KS_CRITICAL = 1.95  # Kolmogorov's c(alpha) at alpha = 0.001


def draws(width, height, seed=0):
    """(area fraction, aspect ratio, top, left) of DRAWS crops of a ``width`` x ``height`` image."""
    rng = np.random.default_rng(seed)
    top, left, h, w = np.array([random_resized_crop_params(width, height, rng) for _ in range(DRAWS)]).T
    return w * h / (width * height), w / h, top, left


def ks_two_sample(a, b) -> float:
    """The largest distance between the empirical CDFs of ``a`` and ``b``."""
    grid = np.concatenate([a, b])
    cdf = lambda x: np.searchsorted(np.sort(x), grid, side="right") / len(x)  # noqa: E731
    return float(np.abs(cdf(a) - cdf(b)).max())


def ks_one_sample(sample, grid, cdf) -> float:
    """The largest distance between the empirical CDF of ``sample`` and ``cdf`` tabulated on ``grid``."""
    x = np.sort(sample)
    model = np.interp(x, grid, cdf)
    n = len(x)
    return float(max((np.arange(1, n + 1) / n - model).max(), (model - np.arange(n) / n).max()))


def tabulated_cdf(grid, density):
    """The CDF on ``grid`` of an unnormalised ``density`` there (trapezoids)."""
    steps = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
    return steps / steps[-1]


def test_crop_areas_and_ratios_follow_the_documented_distribution():
    # A huge square image: rounding is negligible and a draw fits when s * r <= 1 and s / r <= 1,
    # for s uniform in CROP_SCALE and u = log r uniform in log CROP_RATIO (symmetric, +-a).
    area, ratio, _, _ = draws(10_000, 10_000)
    a = math.log(CROP_RATIO[1])
    assert CROP_RATIO[0] == pytest.approx(1 / CROP_RATIO[1])
    assert area.min() >= CROP_SCALE[0] * 0.999 and area.max() <= 1.0
    assert ratio.min() >= CROP_RATIO[0] * 0.999 and ratio.max() <= CROP_RATIO[1] * 1.001
    s = np.linspace(*CROP_SCALE, 4001)
    s_density = np.clip(-np.log(s) / a, 0, 1)  # the share of u for which s fits
    u = np.linspace(-a, a, 4001)
    u_density = np.exp(-np.abs(u)) - CROP_SCALE[0]  # the share of s for which u fits
    assert ks_one_sample(area, s, tabulated_cdf(s, s_density)) < KS_CRITICAL / math.sqrt(DRAWS)
    assert ks_one_sample(np.log(ratio), u, tabulated_cdf(u, u_density)) < KS_CRITICAL / math.sqrt(DRAWS)


@pytest.mark.parametrize("size", [(500, 375), (90, 300)])  # ImageNet's typical shape; a tall one (fallbacks)
def test_crop_parameters_match_torchvision_get_params(size):
    torch = pytest.importorskip("torch", reason="torch is optional: compares with torchvision's get_params")
    from torchvision import transforms

    width, height = size
    torch.manual_seed(0)
    image = torch.empty(3, height, width)
    theirs = np.array(
        [transforms.RandomResizedCrop.get_params(image, CROP_SCALE, CROP_RATIO) for _ in range(DRAWS)], float
    ).T
    top, left, h, w = theirs
    ours = draws(width, height, seed=1)
    critical = KS_CRITICAL * math.sqrt(2 / DRAWS)
    for name, mine, torchvision in zip(
        ("area", "ratio", "top", "left"), ours, (w * h / (width * height), w / h, top, left), strict=True
    ):
        assert ks_two_sample(mine, torchvision) < critical, name
    assert ours[0].min() >= CROP_SCALE[0] * 0.97 and ours[0].max() <= 1.0


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three classes of seeded noise-and-shapes images: 40x48 PNGs, 64x50 JPEGs."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for n in range(24):
        folder = root / f"class{n % 3}"
        folder.mkdir(exist_ok=True)
        pixels = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        if n % 2:
            image = Image.fromarray(pixels).resize((48, 40), Image.Resampling.BICUBIC)
            image.save(folder / f"{n:02d}.png")
        else:
            Image.fromarray(pixels).resize((64, 50), Image.Resampling.BICUBIC).save(folder / f"{n:02d}.jpg", quality=95)
    return root


def streaming(root, **kwargs):
    classes, files, labels = scan(root)
    return StreamingFolder(files, labels, classes, **{"image_size": 16, "seed": 3, **kwargs})


def test_the_training_transform_gives_torchvisions_pixels(photos):
    pytest.importorskip("torch", reason="torch is optional: compares with torchvision's resized_crop")
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    for path in sorted(photos.rglob("*.png"))[:6]:
        for seed in range(4):
            rng = np.random.default_rng(seed)
            with Image.open(path) as image:
                top, left, h, w = random_resized_crop_params(*image.size, rng)
                flip = rng.random() < 0.5
                expected = F.resized_crop(open_rgb(path), top, left, h, w, [16, 16], InterpolationMode.BILINEAR)
            expected = np.asarray(F.hflip(expected) if flip else expected)
            np.testing.assert_array_equal(host_train_transform(path, 16, np.random.default_rng(seed)), expected)


def test_a_reduced_jpeg_decode_stays_close_to_the_full_decode(tmp_path):
    y, x = np.mgrid[0:512, 0:640]
    smooth = np.stack([x * 255 // 640, y * 255 // 512, (x + y) * 255 // 1152], -1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "big.jpg", quality=95)
    rng = np.random.default_rng(7)
    top, left, h, w = random_resized_crop_params(640, 512, rng)
    flip = rng.random() < 0.5
    assert min(h, w) >= 64  # at size 32 the decoder may scale by 1/2 or more
    full = open_rgb(tmp_path / "big.jpg").crop((left, top, left + w, top + h)).resize((32, 32), Image.BILINEAR)
    full = np.asarray(full.transpose(Image.FLIP_LEFT_RIGHT) if flip else full, np.float64)
    with Image.open(tmp_path / "big.jpg") as image:
        image.draft("RGB", (320, 256))
        assert image.size == (320, 256)  # Pillow can decode this file at half size
    reduced = host_train_transform(tmp_path / "big.jpg", 32, np.random.default_rng(7)).astype(np.float64)
    assert np.abs(reduced - full).mean() < 2.0


def test_the_same_seed_epoch_and_example_give_the_same_pixels_with_1_and_2_workers(photos):
    one, two = streaming(photos, workers=1), streaming(photos, workers=2)
    for epoch in (0, 1):
        for a, b in zip(train_batches(one, 8, seed=5, epoch=epoch), train_batches(two, 8, seed=5, epoch=epoch)):
            np.testing.assert_array_equal(a["image"], b["image"])
            np.testing.assert_array_equal(a["label"], b["label"])
    batch = next(train_batches(two, 8, seed=5, epoch=1))
    order = np.random.default_rng([5, 1]).permutation(len(two))[:8]  # epoch_order's documented seeding
    np.testing.assert_array_equal(batch["label"], one.labels[order])
    for row, example in enumerate(order):
        path = one.files[example]
        expected = host_train_transform(path, 16, np.random.default_rng([3, 1, example]))
        np.testing.assert_array_equal(batch["image"][row], expected)
    other_epoch = next(train_batches(two, 8, seed=5, epoch=2))["image"]
    assert not np.array_equal(other_epoch, batch["image"])


def test_a_mid_epoch_start_reads_the_batches_a_full_epoch_reads(photos):
    ds = streaming(photos, workers=2)
    full = list(train_batches(ds, 4, seed=1, epoch=3))
    tail = list(train_batches(ds, 4, seed=1, epoch=3, start_batch=4))
    assert len(tail) == len(full) - 4
    for a, b in zip(full[4:], tail):
        for key in ("image", "label", "index"):
            np.testing.assert_array_equal(a[key], b[key])


def test_two_processes_read_disjoint_halves_whose_union_is_the_global_batch(photos):
    ds = streaming(photos, workers=2)
    whole = list(train_batches(ds, 8, seed=2, epoch=1))
    halves = [list(train_batches(ds, 8, seed=2, epoch=1, process_index=p, process_count=2)) for p in (0, 1)]
    decoded = []
    for batch, first, second in zip(whole, *halves, strict=True):
        assert set(first["index"]).isdisjoint(second["index"])
        for key in ("image", "label", "index"):
            np.testing.assert_array_equal(np.concatenate([first[key], second[key]]), batch[key])
        decoded.append(len(first["image"]))
    assert decoded == [4] * 3  # each process decoded only its 4 rows of every batch
    evaluation = streaming(photos, train=False, workers=2)
    whole_eval = list(eval_batches(evaluation, 10))
    eval_halves = [list(eval_batches(evaluation, 10, process_index=p, process_count=2)) for p in (0, 1)]
    for batch, first, second in zip(whole_eval, *eval_halves, strict=True):
        for key in ("image", "label", "index", "mask"):
            np.testing.assert_array_equal(np.concatenate([first[key], second[key]]), batch[key])


def test_evaluation_batches_hold_the_evaluation_transform_and_a_masked_tail(photos):
    ds = streaming(photos, train=False, resize=20)
    batches = list(eval_batches(ds, 10))
    assert [b["mask"].sum() for b in batches] == [10, 10, 4]
    assert not batches[-1]["image"][4:].any()
    for row, example in enumerate(range(20, 24)):
        expected = eval_transform(open_rgb(ds.files[example]), 16, 20)
        np.testing.assert_array_equal(batches[-1]["image"][row], expected)


@pytest.fixture
def with_bad_file(photos, tmp_path):
    """``photos`` plus class1/00_bad.jpg, a JPEG cut after its first 200 bytes (example 8)."""
    import shutil

    root = shutil.copytree(photos, tmp_path / "photos")
    good = (root / "class0" / "00.jpg").read_bytes()
    (root / "class1" / "00_bad.jpg").write_bytes(good[:200])
    return root


def test_a_bad_file_is_one_error_naming_it(with_bad_file):
    ds = streaming(with_bad_file, workers=2)
    bad = with_bad_file / "class1" / "00_bad.jpg"
    with pytest.raises(ValueError) as err:
        for _ in train_batches(ds, 25, seed=0, epoch=0):
            pass
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"cannot decode image {bad}: ")


def test_skip_bad_counts_the_file_and_replaces_or_masks_it(with_bad_file):
    ds = streaming(with_bad_file, workers=2, skip_bad=True)
    bad = ds.files.index(with_bad_file / "class1" / "00_bad.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (batch,) = train_batches(ds, 25, seed=0, epoch=0)
    assert len(caught) == 1 and "skipped 1 of 25 files" in str(caught[0].message)
    assert str(ds.files[bad]) in str(caught[0].message)
    row = int(np.flatnonzero(np.random.default_rng([0, 0]).permutation(25) == bad)[0])
    substitute = bad + 1  # the next file of the list, with its label and its own crop
    assert batch["label"][row] == ds.labels[substitute]
    np.testing.assert_array_equal(batch["image"][row], ds.decode(substitute, 0))
    evaluation = streaming(with_bad_file, train=False, skip_bad=True)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        masks = np.concatenate([b["mask"] for b in eval_batches(evaluation, 10)])
    assert np.flatnonzero(~masks[:25]).tolist() == [bad]


def test_closing_a_reader_mid_epoch_leaves_no_worker_thread(photos):
    batches = train_batches(streaming(photos, workers=2), 4, seed=0, epoch=0)
    next(batches)
    assert any(t.name.startswith("jaxcnn-stream") for t in threading.enumerate())
    batches.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("jaxcnn-stream")]


def test_bad_arguments_are_refused_with_what_was_expected(photos):
    classes, files, labels = scan(photos)
    with pytest.raises(ValueError, match="resize must be an integer >= image_size 16, got 8"):
        StreamingFolder(files, labels, classes, image_size=16, resize=8)
    with pytest.raises(ValueError, match="one label per file"):
        StreamingFolder(files[:-1], labels, classes)
    with pytest.raises(ValueError, match="workers must be None or a positive integer, got 0"):
        StreamingFolder(files, labels, classes, workers=0)
    with pytest.raises(ValueError, match="interpolation must be one of bilinear, bicubic, got 'random'"):
        StreamingFolder(files, labels, classes, train=False, interpolation="random")  # evaluation draws nothing
    with pytest.raises(ValueError, match="auto_augment must be one of ta_wide, .* or timm's rand-m<M>"):
        StreamingFolder(files, labels, classes, auto_augment="rand-x")


def test_statistics_of_all_images_equal_those_of_the_decoded_once_folder(photos):
    from jaxcnn.data import channel_stats, image_folder

    streamed = streaming(photos, resize=16, stats_sample=1000).channel_stats()
    decoded_once = channel_stats(image_folder(photos, image_size=16))
    for ours, theirs in zip(streamed, decoded_once, strict=True):
        np.testing.assert_array_equal(ours, theirs)
