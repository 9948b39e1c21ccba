"""The "ResNet strikes back" components against timm's own code (with torch and timm installed):
timm's RandAugment (every operation of both sets at a grid of levels, both signs, both
resamplings: timm's pixels; the draws: its distributions), its random-interpolation crops and
bicubic evaluation resize, its batch MixUp/CutMix (mirror pairing), its LAMB and its cosine
schedule with an overlapping warm-up; without them, what timm's definitions promise."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from jaxcnn.data.autoaugment import (
    TIMM_OPS,
    apply_timm_op,
    auto_augment,
    is_policy,
    sample_timm_ops,
    timm_args,
    timm_rand,
)
from jaxcnn.data.mix import MixParams, apply_mix, mix_batch
from jaxcnn.data.transforms import eval_transform, train_transform
from jaxcnn.training.optim import optimizer, schedule
from tests.data.samples import chi_square_p, ks_limit, two_sample_ks
from tests.data.test_data_autoaugment import colour_photo

LEVELS = (0.0, 0.7, 2.5, 5.0, 6.0, 7.3, 10.0)
FILL = (124, 116, 104)  # ImageNet's mean as timm's transforms factory rounds it
BILINEAR, BICUBIC = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC


def timm_module(name: str):
    pytest.importorskip("torch")
    return pytest.importorskip(name)


def test_timm_strings_parse_as_timms_rand_augment_transform_reads_them():
    assert timm_rand("rand-m6-mstd0.5-inc1") == timm_rand("rand-inc1-mstd0.5-m6")
    spec = timm_rand("rand-m7-n3-mstd101-mmax8-p0.7")
    assert (spec.magnitude, spec.num_ops, spec.std, spec.level_max, spec.prob) == (7, 3, float("inf"), 8, 0.7)
    assert not spec.increasing and timm_rand("rand") == timm_rand("rand-m10-n2-p0.5")
    for bad in ("rand-q3", "rand-mx", "randaugment", "rand-n0", "rand-m5-p1.5"):
        assert timm_rand(bad) is None and not is_policy(bad), bad


def test_the_increasing_set_grows_stronger_with_the_level():
    """inc1's operations: a higher level distorts more (timm's reason for the set)."""
    for name in ("PosterizeIncreasing", "SolarizeIncreasing"):
        assert timm_args(name, 10.0) < timm_args(name, 5.0) < timm_args(name, 0.0), name
    assert timm_args("ColorIncreasing", 0.0) == (1.0,) and timm_args("ColorIncreasing", 10.0, True) == (0.1,)
    image = Image.fromarray(colour_photo())
    x = np.asarray(image)
    assert np.array_equal(np.asarray(apply_timm_op(image, "SolarizeIncreasing", (128,))), np.where(x < 128, x, 255 - x))
    moved = np.asarray(apply_timm_op(image, "TranslateYRel", timm_args("TranslateYRel", 10.0), BILINEAR, FILL))
    assert np.array_equal(moved[:22], x[18:]) and (moved[22:] == FILL).all()  # 45% of the height, 40


def test_every_operation_gives_timms_pixels(monkeypatch):
    """timm's NAME_TO_OP / LEVEL_TO_ARG, its sign coin fixed, against apply_timm_op(timm_args)."""
    timm_aa = timm_module("timm.data.auto_augment")
    import random

    hparams = {"translate_const": 100, "img_mean": FILL}
    images = [Image.fromarray(colour_photo()), Image.fromarray(colour_photo()[..., 1])]
    checked, names = collections.Counter(), sorted(set(TIMM_OPS[False]) | set(TIMM_OPS[True]))
    for name in names:
        for level in LEVELS:
            for negate in (False, True):
                monkeypatch.setattr(random, "random", lambda negate=negate: 0.9 if negate else 0.1)
                level_fn = timm_aa.LEVEL_TO_ARG[name]
                args = level_fn(level, hparams) if level_fn else ()
                assert timm_args(name, level, negate) == args, (name, level, negate)
                for resample in (BILINEAR, BICUBIC):
                    for image in images:
                        fill = FILL if image.mode == "RGB" else FILL[0]
                        if "Posterize" in name and args == (0,):  # Pillow now refuses 0 bits; it used to black out
                            theirs = Image.new(image.mode, image.size)
                        else:
                            theirs = timm_aa.NAME_TO_OP[name](image, *args, fillcolor=fill, resample=resample)
                        ours = apply_timm_op(image, name, args, resample, FILL)
                        assert np.array_equal(np.asarray(ours), np.asarray(theirs)), (name, level, negate, image.mode)
                        checked[name] += 1
    assert len(names) == 21 and sum(checked.values()) == 21 * len(LEVELS) * 2 * 2 * 2


@pytest.mark.parametrize("policy", ["rand-m6-mstd0.5-inc1", "rand-m9-n3-mstd101-p0.8"])
def test_the_draws_follow_timms_distributions(policy):
    """3,000 images: chi-square tests (0.1% level) of the operations drawn, how many apply per
    image and the resampling; a KS test of the rotation's signed angle (the level's noise, clip
    and sign)."""
    timm_aa = timm_module("timm.data.auto_augment")
    import random

    random.seed(0)
    np.random.seed(0)
    transform = timm_aa.rand_augment_transform(policy, {"translate_const": 100, "img_mean": FILL})
    theirs = []

    def recorder(name):  # the operation's arguments, and the resampling timm's geometric operations draw
        return lambda img, *args, **kw: theirs.append((name, args, timm_aa._interpolation(dict(kw)))) or img

    for op in transform.ops:
        op.aug_fn = recorder(op.name)
    image, n = Image.fromarray(colour_photo()), 3000
    for _ in range(n):
        theirs.append("image")
        transform(image)
    ours = ["image"]
    for k in range(n):
        ours += [*sample_timm_ops(timm_rand(policy), np.random.default_rng([5, k])), "image"]
    for count in (op_counts, per_image_counts, resample_counts):
        assert chi_square_p(count(theirs), count(ours)) > 1e-3, count.__name__
    angles = [np.array([d[1][0] for d in draws if d != "image" and d[0] == "Rotate"]) for draws in (theirs, ours)]
    assert two_sample_ks(*angles) < ks_limit(min(map(len, angles)))


def op_counts(draws):
    return collections.Counter(d[0] for d in draws if d != "image")


def resample_counts(draws):
    return collections.Counter(int(d[2]) for d in draws if d != "image" and d[0] in ("Rotate", "ShearX", "ShearY"))


def per_image_counts(draws):
    runs, run = collections.Counter(), 0
    for draw in draws:
        if draw == "image":
            runs[run] += 1
            run = 0
        else:
            run += 1
    return runs


def test_a_timm_policy_augments_decoded_images_and_is_fixed_by_its_generator():
    x = colour_photo()
    out = [auto_augment(x, "rand-m9-mstd0.5-inc1", np.random.default_rng([1, k]), fill=FILL) for k in range(40)]
    again = [auto_augment(x, "rand-m9-mstd0.5-inc1", np.random.default_rng([1, k]), fill=FILL) for k in range(40)]
    assert all(a.shape == x.shape and np.array_equal(a, b) for a, b in zip(out, again))
    assert sum(not np.array_equal(a, x) for a in out) >= 20  # 3/4 of the images get an operation


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(colour_photo()).resize((300, 250), BILINEAR).save(path)
    return path


def test_random_interpolation_crops_are_timms_bilinear_or_bicubic_crop_with_equal_chances(photo_file):
    """timm's RandomResizedCropAndInterpolation("random"): the crop resized by either, each half the time."""
    functional = timm_module("torchvision.transforms.functional")
    from torchvision.transforms import InterpolationMode

    from jaxcnn.data.transforms import random_resized_crop_params

    image, picks = Image.open(photo_file).convert("RGB"), collections.Counter()
    for k in range(60):
        out = train_transform(photo_file, 32, np.random.default_rng([k]), interpolation="random")
        rng = np.random.default_rng([k])
        top, left, height, width = random_resized_crop_params(*image.size, rng)
        flip = rng.random() < 0.5
        mode = (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)[rng.integers(2)]
        theirs = functional.resized_crop(image, top, left, height, width, [32, 32], mode)
        theirs = np.asarray(functional.hflip(theirs) if flip else theirs)
        assert np.array_equal(out, theirs), k
        picks[mode] += 1
    assert min(picks.values()) >= 15  # each of the two about half the time (binomial: P < 1e-4 below 15)


def test_the_bicubic_evaluation_resize_is_timms_crop_pct_transform(photo_file):
    """timm's transforms_imagenet_eval(img_size=224, crop_pct=0.95, interpolation="bicubic")."""
    factory = timm_module("timm.data.transforms_factory")
    image = Image.open(photo_file).convert("RGB").resize((500, 375), BILINEAR)
    transform = factory.transforms_imagenet_eval(img_size=224, crop_pct=0.95, interpolation="bicubic")
    resize_and_crop = transform.transforms[:2]  # before ToTensor and Normalize
    theirs = image
    for step in resize_and_crop:
        theirs = step(theirs)
    assert np.array_equal(eval_transform(image, 224, 235, "bicubic"), np.asarray(theirs))
    assert not np.array_equal(eval_transform(image, 224, 235, "bilinear"), np.asarray(theirs))


@pytest.mark.parametrize("use_cutmix", [False, True])
def test_mirror_pairing_is_timms_batch_mixup_and_cutmix(use_cutmix):
    """timm's Mixup(mode="batch") for the same lam (and box): images and soft targets."""
    torch = timm_module("torch")
    mixup = timm_module("timm.data.mixup")
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(6, 3, 20, 24)).astype(np.float32), rng.integers(0, 5, 6)
    settings = {"switch_prob": float(use_cutmix), "label_smoothing": 0.0, "num_classes": 5}
    mixer = mixup.Mixup(mixup_alpha=0.1, cutmix_alpha=1.0, **settings)
    np.random.seed(3)
    x, targets = mixer(torch.from_numpy(images.copy()), torch.from_numpy(labels))
    np.random.seed(3)
    lam, cutmix = mixer._params_per_batch()
    box = np.zeros(4, np.int32)
    if cutmix:
        (yl, yh, xl, xh), lam = mixup.cutmix_bbox_and_lam(images.shape, lam, correct_lam=True)
        box = np.array([xl, yl, xh, yh], np.int32)
    assert bool(cutmix) == use_cutmix
    params = MixParams(jnp.asarray(cutmix), jnp.float32(lam), jnp.asarray(box))
    ours, soft = apply_mix(jnp.asarray(images.transpose(0, 2, 3, 1)), jnp.asarray(labels), 5, params, "flip")
    np.testing.assert_allclose(np.asarray(ours).transpose(0, 3, 1, 2), x.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(soft), targets.numpy(), rtol=1e-6, atol=1e-7)


def test_mix_rounding_is_timms_fast_collate_mixup():
    """timm's FastCollateMixup (its prefetching path) blends uint8 images and rounds: the same
    batch normalised, then mixed with ``pixel_stats``, equals its output normalised, but for the
    few pixels whose blend lies within float error of half a level (lam in float32 here)."""
    timm_module("torch")
    mixup = timm_module("timm.data.mixup")
    from jaxcnn.data.augment import normalize

    rng = np.random.default_rng(2)
    images, labels = rng.integers(0, 256, (6, 20, 24, 3), np.uint8), rng.integers(0, 5, 6)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    mixer = mixup.FastCollateMixup(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0, num_classes=5)
    np.random.seed(4)
    output, targets = mixer([(image.transpose(2, 0, 1).copy(), int(label)) for image, label in zip(images, labels)])
    np.random.seed(4)
    lam, _ = mixer._params_per_batch()
    params = MixParams(jnp.asarray(False), jnp.float32(lam), jnp.zeros(4, jnp.int32))
    normalised = normalize(jnp.asarray(images), mean, std)
    ours, soft = apply_mix(normalised, jnp.asarray(labels), 5, params, "flip", (mean, std))
    expected = np.asarray(normalize(jnp.asarray(output.numpy().transpose(0, 2, 3, 1)), mean, std))
    levels = np.rint(np.abs(np.asarray(ours) - expected) * std * 255)
    assert levels.max() <= 1 and np.count_nonzero(levels) <= 0.001 * levels.size
    np.testing.assert_allclose(np.asarray(soft), targets.numpy(), rtol=1e-6, atol=1e-7)
    unrounded, _ = apply_mix(normalised, jnp.asarray(labels), 5, params, "flip")
    assert np.abs(np.asarray(unrounded) - expected).max() > 1e-3


def test_each_group_is_mixed_within_itself_with_its_own_ratio():
    """A GPU's batch mixes only its own images (torchvision's and timm's collate run per GPU)."""
    groups, size = 4, 5
    values = np.arange(groups * size, dtype=np.float32)  # image k is k everywhere
    images, labels = jnp.asarray(np.broadcast_to(values[:, None, None, None], (20, 2, 2, 1))), jnp.zeros(20, int)
    mixed, _ = mix_batch(images, labels, jax.random.key(0), 3, mixup_alpha=1.0, pairing="flip", group_size=size)
    mixed, lams = np.asarray(mixed[:, 0, 0, 0]), []
    for g in range(groups):
        own = values[g * size : (g + 1) * size]
        lam = (own[-1] - mixed[g * size]) / (own[-1] - own[0])  # the first image is mixed with the group's last
        np.testing.assert_allclose(mixed[g * size : (g + 1) * size], lam * own + (1 - lam) * own[::-1], rtol=1e-5)
        lams.append(round(float(lam), 5))
    assert len(set(lams)) == groups
    with pytest.raises(ValueError, match="groups of 3 images do not divide a batch of 20"):
        mix_batch(images, labels, jax.random.key(0), 3, mixup_alpha=1.0, group_size=3)


def lamb_problem():
    """A kernel (decays), a batch norm's scale and offset and a dense bias (none decay), and five
    gradients, the first two large enough for the global clip at 1.0."""
    rng = np.random.default_rng(1)
    params = {
        "conv": {"kernel": rng.normal(size=(3, 3, 2, 4))},
        "bn": {"scale": 1 + 0.1 * rng.normal(size=4), "bias": 0.1 * rng.normal(size=4)},
        "head": {"bias": 0.1 * rng.normal(size=3)},
    }
    grads = [
        jax.tree.map(lambda p, s=scale: s * rng.normal(size=p.shape), params) for scale in (3.0, 1.0, 0.1, 0.1, 0.05)
    ]
    return jax.tree.map(lambda a: a.astype(np.float32), params), [jax.tree.map(np.float32, g) for g in grads]


def test_lamb_timm_is_timms_lamb_with_its_weight_decay_groups():
    torch = timm_module("torch")
    lamb = timm_module("timm.optim.lamb")
    params, grads = lamb_problem()
    leaves, treedef = jax.tree.flatten(params)
    tensors = [torch.tensor(leaf, requires_grad=True) for leaf in leaves]
    decayed = [len(leaf.shape) > 1 for leaf in leaves]  # timm's param_groups_weight_decay
    theirs = lamb.Lamb(
        [
            {"params": [t for t, d in zip(tensors, decayed) if d], "weight_decay": 0.02},
            {"params": [t for t, d in zip(tensors, decayed) if not d], "weight_decay": 0.0},
        ],
        lr=8e-3,
    )
    for grad in grads:
        for tensor, g in zip(tensors, jax.tree.leaves(grad)):
            tensor.grad = torch.tensor(g)
        theirs.step()
    expected = jax.tree.unflatten(treedef, [t.detach().numpy() for t in tensors])
    groups = {"weight_decay": 0.02, "norm_weight_decay": 0.0, "bias_weight_decay": 0.0}
    moved = lambda after: jax.tree.map(lambda a, b: np.asarray(a) - b, after, params)  # noqa: E731
    ours = run_optimizer(optimizer("lamb_timm", 8e-3, **groups), params, grads)
    # float32 parameters: compared by how far five steps moved them (about 0.04)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-8), moved(ours), moved(expected))
    plain = run_optimizer(optimizer("lamb", 8e-3, **groups), params, grads)  # trust ratio everywhere, no clip
    assert not np.allclose(moved(plain)["bn"]["scale"], moved(expected)["bn"]["scale"], rtol=1e-2)


def run_optimizer(tx, params, grads):
    state = tx.init(params)
    for grad in grads:
        updates, state = tx.update(grad, state, params)
        params = optax.apply_updates(params, updates)
    return jax.tree.map(np.asarray, params)


def test_an_overlapping_warm_up_is_timms_cosine_scheduler():
    """timm's CosineLRScheduler(t_initial=100, lr_min=1e-6, warmup_t=5, warmup_lr_init=1e-4),
    stepped per epoch, against schedule(warmup_prefix=False) of 10 steps an epoch."""
    torch = timm_module("torch")
    scheduler_module = timm_module("timm.scheduler.cosine_lr")
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=8e-3)
    theirs = scheduler_module.CosineLRScheduler(sgd, t_initial=100, lr_min=1e-6, warmup_t=5, warmup_lr_init=1e-4)
    ours = schedule(
        "cosine", 8e-3, 1000, 50, start_factor=1e-4 / 8e-3, steps_per_epoch=10, min_lr=1e-6, warmup_prefix=False
    )
    for epoch in range(100):
        expected = theirs._get_lr(epoch)[0]
        for step in (epoch * 10, epoch * 10 + 9):
            assert float(ours(step)) == pytest.approx(expected, rel=2e-5, abs=1e-9), (epoch, step)
