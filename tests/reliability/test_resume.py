"""A full disk mid-run loses nothing: one error naming the checkpoint, then a resume (from a moved
folder, spelled differently) ends bit-identical to the uninterrupted run."""

import dataclasses
import hashlib
import importlib
import json
import os
import shutil

import orbax.checkpoint as ocp
import pytest

from jaxcnn.cli import main
from jaxcnn.training import Checkpoints, DiskFullError, TrainConfig, fit, load_checkpoint
from tests.reliability.conftest import REFERENCE
from tests.reliability.test_checkpoints import partial_copy
from tests.reliability.test_kill import assert_same_sums
from tests.training.runs import tiny_config
from tests.training.test_training_fit import assert_same_params

sources_module = importlib.import_module("jaxcnn.data.sources")  # where fit and evaluate load datasets
FULL_AT = 10  # the checkpoint whose write meets a full disk (mid-epoch 2)


@pytest.mark.slow
def test_a_full_disk_then_a_resume_from_a_moved_folder_loses_nothing(reference, tiny_data, tmp_path, monkeypatch):
    original = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):  # tensorstore reports ENOSPC in a ValueError's text
        if step == FULL_AT:
            raise ValueError(
                f'RESOURCE_EXHAUSTED: Error writing local file "{self.directory}": No space left on device'
            )
        return original(self, step, *args, **kwargs)

    first = tmp_path / "first"
    with monkeypatch.context() as patch:
        patch.setattr(ocp.CheckpointManager, "save", save)
        with pytest.raises(DiskFullError) as err:
            fit(tiny_config(first.absolute(), **REFERENCE), train=tiny_data[0], test=tiny_data[1])
    checkpoint = first.absolute() / "checkpoints" / str(FULL_AT)
    assert str(err.value) == f"no space left on device writing {checkpoint}: free space and rerun with --resume"
    assert Checkpoints(first / "checkpoints").steps()[-1] == FULL_AT - 1
    config_sha = hashlib.sha256((first / "config.json").read_bytes()).hexdigest()

    os.rename(first, tmp_path / "moved")  # a run folder moved (or copied) elsewhere resumes
    monkeypatch.chdir(tmp_path)
    resumed = fit(tiny_config("moved/", resume=True, **REFERENCE), train=tiny_data[0], test=tiny_data[1])
    assert_same_params(resumed.variables, reference.variables)
    assert [r["step"] for r in resumed.history] == [8, 16]
    for ours, theirs in zip(resumed.history, reference.history):
        assert_same_sums(ours, theirs)
    assert config_sha != hashlib.sha256((tmp_path / "moved" / "config.json").read_bytes()).hexdigest()  # new out


@pytest.mark.parametrize("spelling", ["runs/a", "./runs/a/", "runs//a", "{cwd}/runs/a", "runs/b/../a"])
def test_paths_are_compared_as_the_folders_they_name(spelling, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = TrainConfig(out="/elsewhere/old", data_root=str(tmp_path / "runs" / "a"))
    again = dataclasses.replace(saved, out=spelling.format(cwd=tmp_path), data_root=spelling.format(cwd=tmp_path))
    again.check_resumable_from(saved)  # neither out (a moved folder) nor data_root differs
    with pytest.raises(ValueError, match=r"differs in: data_root"):
        dataclasses.replace(again, data_root="runs/c").check_resumable_from(saved)


def test_a_tuple_resumes_a_run_saved_with_a_list():
    saved = TrainConfig.from_json(TrainConfig(model_overrides={"stage_sizes": [1, 1, 1]}).to_json())
    TrainConfig(model_overrides={"stage_sizes": (1, 1, 1)}).check_resumable_from(saved)


def test_a_truncated_metrics_file_does_not_block_the_resume_and_its_rows_come_back(
    reference, tiny_data, tmp_path, capsys
):
    out = partial_copy(reference.out, tmp_path / "run", (8, 12))
    text = (reference.out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(text[: len(text.splitlines()[0]) // 2])  # cut inside epoch 1's row
    resumed = fit(tiny_config(out, resume=True, **REFERENCE), train=tiny_data[0], test=tiny_data[1])
    assert str(out / "metrics.jsonl") in capsys.readouterr().err
    assert_same_params(resumed.variables, reference.variables)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [8, 16]
    for ours, theirs in zip(rows, reference.history):
        assert_same_sums(ours, theirs)


def test_resume_takes_the_saved_settings_and_accepts_changes_that_do_not_change_the_run(
    reference, tiny_data, tmp_path, monkeypatch
):
    out = partial_copy(reference.out, tmp_path / "run", (12,))
    splits = dict(zip(("train", "test"), tiny_data))
    monkeypatch.setattr(sources_module, "load", lambda name, split, root=None: splits[split])
    harmless = ["--eval-batch-size", "20", "--no-progress", "--checkpoint-every", "2"]
    assert main(["train", "--resume", "--out", str(out), *harmless]) == 0
    assert_same_params(load_checkpoint(out)[1], reference.variables)
    assert Checkpoints(out / "checkpoints").steps()[-1] == 16


def test_parallel_is_compared_as_the_mode_it_ran_with():
    auto = TrainConfig(parallel="auto")
    assert TrainConfig(parallel="none").differences(auto, saved_mode="none") == []
    assert TrainConfig(parallel="none").differences(auto, saved_mode="sharded") != []


@pytest.mark.slow
def test_config_of_a_resumed_run_starts_a_new_run_and_no_resume_says_so(reference, tiny_data, tmp_path, monkeypatch):
    saved = json.loads((reference.out / "config.json").read_text())
    saved["config"]["resume"] = True  # the config.json of a run that was resumed
    (tmp_path / "recipe.json").write_text(json.dumps(saved))
    splits = dict(zip(("train", "test"), tiny_data))
    monkeypatch.setattr(sources_module, "load", lambda name, split, root=None: splits[split])
    for name, extra in (("new", []), ("newer", ["--no-resume"])):
        argv = ["train", "--config", str(tmp_path / "recipe.json"), "--out", str(tmp_path / name), "--max-steps", "1"]
        assert main([*argv, *extra]) == 0
        assert Checkpoints(tmp_path / name / "checkpoints").steps() == [1]


@pytest.mark.slow
def test_a_resume_over_a_changed_image_folder_is_refused_naming_the_counts_and_accepted_with_the_flag(tmp_path):
    from tests.reliability.test_mistakes import image_folder

    data = image_folder(tmp_path / "images", per_class=8)
    config = tiny_config(tmp_path / "out", data=str(data), image_size=16, decode="once", batch_size=8, epochs=1)
    fit(dataclasses.replace(config, max_steps=1))  # 1 of the 2 steps: a run to resume
    shutil.copy(data / "train" / "a" / "0.png", data / "train" / "a" / "added.png")
    (data / "val" / "b" / "3.png").unlink()
    resume = dataclasses.replace(config, max_steps=1, resume=True)
    with pytest.raises(
        ValueError,
        match=r"changed since the run started \(training files 16 -> 17; validation "
        r"files 16 -> 15\).*pass --accept-data-change",
    ):
        fit(resume)
    fit(dataclasses.replace(resume, accept_data_change=True))
    folder = json.loads((tmp_path / "out" / "config.json").read_text())["data"]["folder"]
    assert (folder["train_files"], folder["val_files"]) == (17, 15)
    assert [(c["before"]["train_files"], c["after"]["val_files"]) for c in folder["changes"]] == [(16, 15)]
