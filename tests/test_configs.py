"""configs/: each recipe loads through ``--config``, names its source and figure, builds its model
and train step at its own image size (traced with ``jax.eval_shape``), schedules its learning rate
as torchvision's ``StepLR`` does, and trains 2 steps on a tiny generated folder (held-out layout;
decoded once or streamed as the recipe says) whose validation part ``evaluate`` reads back alike."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxcnn.cli import _train_config, build_parser, main
from jaxcnn.data import split_folder
from jaxcnn.models import list_models
from jaxcnn.training import DataInfo, evaluate, make_train_step
from jaxcnn.training.parts import build, initial_state
from tests.scripts import load_script

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json"))
IMAGENET = [path for path in CONFIGS if path.stem in ("resnet50_imagenet", "vgg16_imagenet", "inception_v3_imagenet")]
# Small stand-ins for the smoke runs: the recipes' own models at full width take minutes to compile
# on a 2-core CPU (Inception v3 at 75x75: 167 s for 2 steps). One recipe per path runs for real:
# the CIFAR recipe (a decoded-once folder) and ResNet-50's V2 (streamed, every component on; V1's
# settings are a subset of it); VGG-16 (22 s even narrowed to 4 channels on the loaded machine) and
# Inception v3 (no width attribute) share ResNet-50 V1's config apart from the model and its lr,
# and their train steps are traced at their own sizes above.
SMALL = {
    "resnet20_cifar10": ["stage_sizes=[1,1,1]", "widths=[4,8,8]", "stem_width=4"],
    # streamed, with TrivialAugment, the RA sampler, EMA, MixUp/CutMix and erasing on top of V1's settings
    "resnet50_imagenet_v2": ["stage_sizes=[1,1,1,1]", "widths=[4,4,4,4]", "stem_width=4"],
    # streamed, with timm's RandAugment, random-interpolation crops, LAMB, BCE and mirrored MixUp/CutMix
    "resnet50_rsb_a3": ["stage_sizes=[1,1,1,1]", "widths=[4,4,4,4]", "stem_width=4"],
}
# the streamed recipes' crop sizes brought to the tiny folder's 32 pixels (176/224 and 232/224 of 32,
# 160/224 and 235/224 of 32, rounded), and the evaluation transform each run folder must then record
SMALL_SIZES = {
    "resnet50_imagenet_v2": ["--train-crop-size", "25", "--val-resize-size", "37"],
    "resnet50_rsb_a3": ["--train-crop-size", "23", "--val-resize-size", "34"],
}
EVAL = {
    "resnet50_imagenet_v2": {"resize": 37, "crop": 32},
    "resnet50_rsb_a3": {"resize": 34, "crop": 32, "interpolation": "bicubic"},
}


def recipe_config(path, *flags):
    return _train_config(build_parser().parse_args(["train", "--config", str(path), *flags]))


def test_the_nine_recipes_are_there():
    assert [p.stem for p in CONFIGS] == [
        "inception_v3_imagenet",
        "inception_v3_paper",
        "resnet110_cifar10",
        "resnet20_cifar10",
        "resnet50_imagenet",
        "resnet50_imagenet_v2",
        "resnet50_rsb_a3",
        "resnet56_cifar10",
        "vgg16_imagenet",
    ]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_each_recipe_loads_through_config_and_names_its_source_and_figure(path):
    recipe = json.loads(path.read_text())
    assert {"recipe", "source", "published", "differences", "usage", "config"} <= set(recipe)
    assert "%" in recipe["published"] and ("http" in recipe["source"] or "arXiv" in recipe["source"])
    config = recipe_config(path)
    fields = json.loads(json.dumps(config.to_json()))  # as config.json stores them
    assert config.model in list_models() and fields == {**fields, **recipe["config"]}


@pytest.mark.parametrize("path", IMAGENET, ids=lambda p: p.stem)
def test_imagenet_recipes_divide_the_rate_by_10_every_30_epochs_as_torchvisions_steplr(path):
    config = recipe_config(path)
    per_epoch = 1_281_167 // config.batch_size  # ImageNet-1k's training images
    info = DataInfo(1000, 3, config.image_size, (0.5,) * 3, (0.25,) * 3, 1_281_167)
    _, _, lr, total = build(config, info)
    assert total == 90 * per_epoch
    for epoch in (0, 29, 30, 59, 60, 89):  # torch.optim.lr_scheduler.StepLR(step_size=30, gamma=0.1)
        expected = config.lr * 0.1 ** (epoch // 30)
        for step in (epoch * per_epoch, (epoch + 1) * per_epoch - 1):
            assert float(lr(step)) == pytest.approx(expected, rel=1e-6), (epoch, step)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_each_recipe_traces_a_train_step_at_its_own_image_size(path):
    config = recipe_config(path)
    size = config.image_size or 32
    info = DataInfo(1000, 3, size, (0.5,) * 3, (0.25,) * 3, 1_281_167)
    model, tx, _, _ = build(config, info)
    state = initial_state(config, info, model, tx, abstract=True)
    step = make_train_step(model, tx, label_smoothing=config.label_smoothing)
    n = config.model_overrides.get("bn_group_size", 2)  # one batch norm group of the recipe's GPUs
    batch = {
        "image": jax.ShapeDtypeStruct((n, size, size, 3), jnp.float32),
        "label": jax.ShapeDtypeStruct((n,), jnp.int32),
        "index": jax.ShapeDtypeStruct((n,), jnp.int32),
    }
    new_state, metrics = jax.eval_shape(step, state, batch)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), new_state.params) == jax.tree.map(
        lambda a: (a.shape, a.dtype), state.params
    )
    assert metrics["loss"].shape == ()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """PATH/<class>/ with 2 classes x 4 random RGB images of 40x36 (half held out below)."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (36, 40, 3), np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if "cifar" not in n else n for n in sorted(SMALL)]
)
def test_each_recipe_trains_two_steps_on_a_tiny_folder(name, tiny_folder, tmp_path, capsys):
    out = tmp_path / "out"
    small = [flag for arg in [*SMALL[name], "bn_group_size=1"] for flag in ("--model-arg", arg)]  # batches of 2
    argv = ["train", "--config", f"configs/{name}.json", "--data", str(tiny_folder), "--val-fraction", "0.5"]
    argv += ["--image-size", "32", *SMALL_SIZES.get(name, [])]
    argv += ["--batch-size", "2", "--eval-batch-size", "2", "--max-steps", "2", "--parallel", "none"]
    argv += ["--data-root", str(tmp_path / "cache"), "--out", str(out), "--no-progress", *small]
    assert main(argv) == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    recipe = json.loads(Path(f"configs/{name}.json").read_text())["config"]
    folder = saved["data"]["folder"]
    assert folder["decode"] == recipe.get("decode", "auto").replace("auto", "once")
    assert folder["eval"] == EVAL.get(name, {"resize": 32, "crop": 32}) and folder["layout"] == "held-out"
    assert folder["val_files"] == len(split_folder(tiny_folder, 0.5).val_files) > 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2]
    assert evaluate(out)["accuracy"] == rows[-1]["test_accuracy"]  # the same images, the same transform
    fields = ("lr", "schedule", "step_milestones", "weight_decay", "momentum", "pad", "flip", "auto_augment")
    for field in (*fields, "optimizer", "loss", "mix_pairing", "train_interpolation", "min_lr", "warmup_prefix"):
        assert saved["config"][field] == recipe.get(field, saved["config"][field]), field


CIFAR = [path for path in CONFIGS if "cifar10" in path.stem]


@pytest.mark.parametrize("path", CIFAR, ids=lambda p: p.stem)
def test_cifar_recipes_divide_the_rate_by_10_at_32k_and_48k_iterations_and_stop_at_64k(path):
    """He et al. section 4.2 (ResNet-110: 0.01 first, here for its first epoch of 390 iterations)."""
    config = recipe_config(path)
    info = DataInfo(10, 3, 32, (0.5,) * 3, (0.25,) * 3, 50_000)
    _, _, lr, total = build(config, info)
    assert total == 64_000 and config.pixel_mean
    first = 0.01 if "110" in path.stem else 0.1
    expected = {0: first, 389: first, 390: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001}
    for step, rate in expected.items():
        assert float(lr(step)) == pytest.approx(rate, rel=1e-6), step


def test_the_v2_recipe_warms_up_linearly_for_5_epochs_then_follows_a_cosine_per_epoch():
    """torchvision's SequentialLR of LinearLR(start_factor=0.01, total_iters=5) and
    CosineAnnealingLR(T_max=595), stepped once per epoch, in closed form."""
    config = recipe_config(CONFIGS[[p.stem for p in CONFIGS].index("resnet50_imagenet_v2")])
    per_epoch = 1_281_167 // config.batch_size
    _, _, lr, total = build(config, DataInfo(1000, 3, 224, (0.5,) * 3, (0.25,) * 3, 1_281_167))
    assert total == 600 * per_epoch
    for epoch in (0, 1, 4, 5, 6, 300, 599):
        warm = 0.5 * (0.01 + 0.99 * epoch / 5)
        expected = warm if epoch < 5 else 0.5 * 0.5 * (1 + np.cos(np.pi * (epoch - 5) / 595))
        for step in (epoch * per_epoch, (epoch + 1) * per_epoch - 1):
            # optax computes the cosine in float32: near its end 1 + cos loses digits (abs 2e-9 here)
            assert float(lr(step)) == pytest.approx(expected, rel=1e-5, abs=1e-8), (epoch, step)


def test_the_inception_paper_recipe_decays_the_rate_by_094_every_two_epochs():
    config = recipe_config(CONFIGS[[p.stem for p in CONFIGS].index("inception_v3_paper")])
    per_epoch = 1_281_167 // config.batch_size
    _, _, lr, _ = build(config, DataInfo(1000, 3, 299, (0.5,) * 3, (0.5,) * 3, 1_281_167))
    for epoch in (0, 1, 2, 3, 10, 99):
        step = epoch * per_epoch + per_epoch // 2  # mid-epoch, away from TF's rounding of the decay steps
        assert float(lr(step)) == pytest.approx(0.045 * 0.94 ** (epoch // 2), rel=1e-5), epoch


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_the_recipe_page_gives_each_recipe_as_flags_that_make_the_same_config(path, tmp_path, monkeypatch):
    """docs/published-recipes.md shows each file as `jaxcnn train` flags: they must parse to it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imagenet").mkdir()  # --data checks that the folder exists
    tool = load_script("tools/make_recipe_tables.py")
    flags = " ".join(tool.as_flags(json.loads(path.read_text())["config"])).split()
    assert _train_config(build_parser().parse_args(["train", *flags])) == recipe_config(path)
