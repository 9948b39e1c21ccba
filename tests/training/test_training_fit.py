"""fit: reports, checkpoints, determinism, resume after SIGKILL, SIGINT, non-finite losses."""

import dataclasses
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxcnn.data import normalize
from jaxcnn.training import Checkpoints, NonFiniteLossError, TrainConfig, evaluate, fit, load_checkpoint
from tests.training.runs import AUGMENTED, tiny_config

WORKER = Path(__file__).with_name("worker.py")
ROW_FIELDS = {
    "epoch",
    "step",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "images_per_second",
    "elapsed_s",
}


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    """An uninterrupted 2-epoch run (16 steps) with every random input transform on (``AUGMENTED``),
    checkpointing every 5 steps."""
    train, test = tiny_data
    out = tmp_path_factory.mktemp("reference")
    return fit(tiny_config(out, checkpoint_every=5, **AUGMENTED), train=train, test=test)


def assert_same_params(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def run_worker(mode, out, *extra):
    return subprocess.run(
        [sys.executable, str(WORKER), mode, str(out), *map(str, extra)], capture_output=True, text=True, timeout=300
    )


def test_fit_writes_config_history_curves_and_the_last_checkpoints(reference, tiny_data):
    out = reference.out
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, 8), (2, 16)]
    assert all(ROW_FIELDS <= set(r) for r in rows)
    assert json.loads((out / "config.json").read_text())["config"]["epochs"] == 2
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every 5 steps and at each epoch end (8, 16), keeping the last 3
    assert Checkpoints(out / "checkpoints").steps() == [10, 15, 16]
    # the reported test accuracy is what the final model gives on every test image
    _, test = tiny_data
    info = json.loads((out / "config.json").read_text())["data"]
    assert info["image_size"] == 28  # two stride-2 reductions: 28 = 4 * 7 halves exactly, no padding needed
    x = normalize(test.images, np.array(info["mean"]), np.array(info["std"]), info["image_size"])
    predictions = np.argmax(reference.model.apply(reference.variables, x), -1)
    assert rows[-1]["test_accuracy"] == pytest.approx(np.mean(predictions == test.labels))


def test_load_checkpoint_and_evaluate_give_back_the_trained_model(reference, tiny_data):
    model, variables = load_checkpoint(reference.out)
    assert_same_params(variables, reference.variables)
    assert model.num_classes == 10 and model.in_channels == 1
    result = evaluate(reference.out, test=tiny_data[1])
    assert result["count"] == 100 and result["accuracy"] == pytest.approx(reference.test_accuracy)


def test_checkpoints_are_named_pytrees_that_orbax_alone_opens(reference):
    step = reference.out / "checkpoints" / "16"
    assert {p.name for p in step.iterdir() if p.is_dir()} == {"params", "batch_stats", "opt_state", "ema", "extra"}
    params = ocp.StandardCheckpointer().restore(step / "params")
    np.testing.assert_array_equal(params["conv1"]["kernel"], reference.variables["params"]["conv1"]["kernel"])
    stats = ocp.StandardCheckpointer().restore(step / "batch_stats")
    np.testing.assert_array_equal(stats["bn1"]["mean"], reference.variables["batch_stats"]["bn1"]["mean"])
    average = ocp.StandardCheckpointer().restore(step / "ema")
    np.testing.assert_array_equal(average["params"]["fc"]["bias"], reference.state.ema["params"]["fc"]["bias"])
    assert json.loads((step / "extra" / "metadata").read_text())["step"] == 16


def test_load_checkpoint_builds_no_optimizer(reference, monkeypatch):
    def no_optimizer(*args, **kwargs):
        raise AssertionError("load_checkpoint built an optimizer")

    monkeypatch.setattr(importlib.import_module("jaxcnn.training.parts"), "optimizer", no_optimizer)
    _, variables = load_checkpoint(reference.out)
    assert_same_params(variables, reference.variables)


def copy_run(reference, tmp_path, **model_overrides):
    """The reference run folder with its config.json's model attributes changed."""
    out = shutil.copytree(reference.out, tmp_path / "copy")
    saved = json.loads((out / "config.json").read_text())
    saved["config"]["model_overrides"].update(model_overrides)
    (out / "config.json").write_text(json.dumps(saved))
    return out


def test_a_checkpoint_that_does_not_fit_the_model_names_the_layer_and_both_shapes(reference, tmp_path):
    out = copy_run(reference, tmp_path, widths=[4, 8, 16])
    expected = (
        "params/layer3_block0/conv1/kernel has shape (3, 3, 8, 8) in the checkpoint, the model expects (3, 3, 8, 16)"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_checkpoint(out)


def test_a_checkpoint_of_the_old_index_layout_is_refused(reference, tmp_path):
    out = copy_run(reference, tmp_path)
    shutil.rmtree(out / "checkpoints")
    leaves = jax.tree.leaves(reference.state)  # jaxcnn 0.1.0 saved the flattened state by index
    old = {"leaves": {f"{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}, "extra": {}}
    with ocp.CheckpointManager(out / "checkpoints") as manager:
        manager.save(16, args=ocp.args.StandardSave(old))
        manager.wait_until_finished()
    with pytest.raises(ValueError, match=r"checkpoint step 16 .* has the old index layout \(arrays saved as '00000'"):
        load_checkpoint(out)


def test_the_same_seed_gives_identical_parameters(reference, tiny_data, tmp_path):
    train, test = tiny_data
    again = fit(tiny_config(tmp_path, checkpoint_every=5, **AUGMENTED), train=train, test=test)
    assert_same_params(again.variables, reference.variables)


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_bit_identical_parameters(reference, tiny_data, tmp_path):
    killed = run_worker("kill", tmp_path)
    assert killed.returncode == -9, killed.stderr
    assert Checkpoints(tmp_path / "checkpoints").latest_step() == 9  # mid-epoch 2; steps 10 and 11 were lost
    train, test = tiny_data
    resumed = fit(tiny_config(tmp_path, checkpoint_every=3, resume=True, **AUGMENTED), train=train, test=test)
    assert_same_params(resumed.variables, reference.variables)
    assert_same_params(resumed.state.ema, reference.state.ema)
    assert [r["step"] for r in resumed.history] == [8, 16]
    np.testing.assert_allclose(resumed.history[-1]["train_loss"], reference.history[-1]["train_loss"], rtol=1e-6)


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_returns_cleanly(tmp_path):
    interrupted = run_worker("sigint", tmp_path)
    assert interrupted.returncode == 0 and "Traceback" not in interrupted.stderr, interrupted.stderr
    assert "interrupted=True step=5" in interrupted.stdout
    assert f"SIGINT at step 5 of 16: checkpoint saved in {tmp_path / 'checkpoints'}" in interrupted.stderr
    assert Checkpoints(tmp_path / "checkpoints").steps() == [5]


@pytest.mark.slow
def test_a_non_finite_loss_stops_with_the_step_and_learning_rate(tiny_data, tmp_path):
    train, test = tiny_data
    config = tiny_config(tmp_path, lr=1e30, schedule="constant", checkpoint_every=1, keep_checkpoints=10)
    with pytest.raises(NonFiniteLossError, match=r"not finite at step (\d+) \(learning rate 1e\+30\)") as err:
        fit(config, train=train, test=test)
    bad = int(err.value.args[0].split("at step ")[1].split()[0])
    saved = Checkpoints(tmp_path / "checkpoints").steps()
    assert saved == list(range(1, bad)) and f"last good checkpoint (step {bad - 1}) is intact" in str(err.value)


def test_resume_refuses_missing_checkpoints_changed_settings_and_overwrites(reference, tiny_data, tmp_path):
    train, test = tiny_data
    with pytest.raises(FileNotFoundError, match="is not a jaxcnn training folder"):  # checked before data loads
        fit(tiny_config(tmp_path, resume=True), train=train, test=test)
    with pytest.raises(FileExistsError, match="pass --resume"):
        fit(dataclasses.replace(reference_config(reference), resume=False), train=train, test=test)
    with pytest.raises(ValueError, match=rf"differs in: lr \({TrainConfig().lr} -> 0.2\)"):
        fit(dataclasses.replace(reference_config(reference), resume=True, lr=0.2), train=train, test=test)


def reference_config(reference):
    return tiny_config(reference.out, checkpoint_every=5, **AUGMENTED)


def test_repeated_augmentation_trains_on_each_example_k_times_an_epoch(tiny_data, tmp_path, monkeypatch):
    """--ra-reps 4: an epoch of 256 images is 64 examples, each 4 times (here, one device)."""
    loop_module = importlib.import_module("jaxcnn.training.loop")
    original, seen = loop_module.train_batches, []

    def recorded(*args, **kwargs):
        for batch in original(*args, **kwargs):
            seen.extend(image.tobytes() for image in batch["image"])
            yield batch

    monkeypatch.setattr(loop_module, "train_batches", recorded)
    train, test = tiny_data
    fit(tiny_config(tmp_path, epochs=1, ra_reps=4), train=train, test=test)
    _, copies = np.unique(seen, return_counts=True)
    assert len(seen) == 256 and sorted(set(copies)) == [4] and len(copies) == 64
