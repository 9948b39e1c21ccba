"""MixUp and CutMix (``jaxcnn.data.mix``) against torchvision's ``transforms.v2.MixUp`` and
``CutMix``: the same draw gives torchvision's images and soft labels, and the draws follow
torchvision's distributions (two-sample tests); without torch, the properties each promises."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.data.mix import MixParams, apply_mix, mix_batch, sample_mix
from jaxcnn.training.step import cross_entropy
from tests.data.samples import ks_limit, two_sample_ks

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(6, 12, 10, 3)).astype(np.float32)
LABELS = np.array([0, 3, 1, 4, 4, 2])


def test_mixup_blends_each_image_and_label_with_the_previous_ones():
    params = MixParams(jnp.asarray(False), jnp.float32(0.3), jnp.zeros(4, jnp.int32))
    images, targets = apply_mix(IMAGES, LABELS, 5, params)
    previous = np.roll(IMAGES, 1, axis=0)
    np.testing.assert_allclose(images, 0.3 * IMAGES + 0.7 * previous, rtol=1e-6, atol=1e-6)
    expected = 0.3 * np.eye(5)[LABELS] + 0.7 * np.eye(5)[np.roll(LABELS, 1)]
    np.testing.assert_allclose(targets, expected, rtol=1e-6)


def test_cutmix_pastes_the_previous_image_inside_its_box_and_weighs_labels_by_area():
    box = jnp.array([2, 3, 7, 9], jnp.int32)  # x1, y1, x2, y2: 5 x 6 of 10 x 12 pixels
    params = MixParams(jnp.asarray(True), jnp.float32(1 - 30 / 120), box)
    images, targets = apply_mix(IMAGES, LABELS, 5, params)
    expected = IMAGES.copy()
    expected[:, 3:9, 2:7] = np.roll(IMAGES, 1, axis=0)[:, 3:9, 2:7]
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(targets[np.arange(6), LABELS], 0.75 + 0.25 * (np.roll(LABELS, 1) == LABELS), rtol=1e-6)


def test_soft_targets_give_the_cross_entropy_of_their_distribution():
    logits = RNG.normal(size=(6, 5)).astype(np.float32)
    _, targets = apply_mix(IMAGES, LABELS, 5, MixParams(jnp.asarray(False), jnp.float32(0.6), jnp.zeros(4, jnp.int32)))
    logp = jax.nn.log_softmax(logits)
    np.testing.assert_allclose(cross_entropy(logits, targets), -(np.asarray(targets) * logp).sum(-1), rtol=1e-5)


def test_both_on_choose_one_per_batch_with_equal_chances():
    keys = jax.random.split(jax.random.key(0), 2000)
    cutmix = jax.vmap(lambda k: sample_mix(k, 32, 32, mixup_alpha=0.2, cutmix_alpha=1.0).cutmix)(keys)
    assert 0.45 < float(cutmix.mean()) < 0.55  # binomial(2000, 1/2): outside with probability < 1e-5
    with pytest.raises(ValueError, match="mixup_alpha or cutmix_alpha must be > 0"):
        mix_batch(IMAGES, LABELS, jax.random.key(0), 5)


def test_the_same_draw_gives_torchvisions_batch_and_the_draws_follow_its_distributions():
    torch = pytest.importorskip("torch")
    v2 = pytest.importorskip("torchvision.transforms.v2")
    images = torch.from_numpy(IMAGES.transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(LABELS)
    for transform in (v2.MixUp(alpha=0.2, num_classes=5), v2.CutMix(alpha=1.0, num_classes=5)):
        make_params = getattr(transform, "make_params", None) or transform._get_params
        torch.manual_seed(7)
        drawn = make_params([images])
        torch.manual_seed(7)  # forward draws the same parameters first
        expected_images, expected_targets = transform(images, labels)
        cutmix = "box" in drawn
        params = MixParams(
            jnp.asarray(cutmix),
            jnp.float32(drawn["lam_adjusted"] if cutmix else drawn["lam"]),
            jnp.array(drawn["box"] if cutmix else (0, 0, 0, 0), jnp.int32),
        )
        got_images, got_targets = apply_mix(IMAGES, LABELS, 5, params)
        np.testing.assert_allclose(got_images, expected_images.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got_targets, expected_targets.numpy(), rtol=1e-6, atol=1e-7)
    n = 3000
    limit = ks_limit(n)
    blank = [torch.zeros(3, 24, 32)]
    for name, transform, alphas in (
        ("mixup", v2.MixUp(alpha=0.2, num_classes=5), {"mixup_alpha": 0.2}),
        ("cutmix", v2.CutMix(alpha=1.0, num_classes=5), {"cutmix_alpha": 1.0}),
    ):
        make_params = getattr(transform, "make_params", None) or transform._get_params
        theirs = [make_params(blank) for _ in range(n)]
        ours = jax.vmap(lambda k: sample_mix(k, 24, 32, **alphas))(jax.random.split(jax.random.key(1), n))  # noqa: B023
        key = "lam_adjusted" if name == "cutmix" else "lam"
        assert two_sample_ks(np.array([p[key] for p in theirs]), np.asarray(ours.lam)) < limit, name
        if name == "cutmix":
            for column in range(4):
                a = np.array([p["box"][column] for p in theirs])
                assert two_sample_ks(a, np.asarray(ours.box[:, column])) < limit, (name, column)
