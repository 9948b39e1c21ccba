"""Readers never write: evaluating or loading a run folder leaves every file and folder in it as it
was, a writer's checkpoint in progress (its temporary folder) included."""

import hashlib
import importlib
import shutil

import jax
import numpy as np
import pytest

from jaxcnn.cli import main
from jaxcnn.training import evaluate, load_checkpoint
from tests.reliability.test_checkpoints import partial_copy

sources_module = importlib.import_module("jaxcnn.data.sources")  # where fit and evaluate load datasets


def snapshot(folder) -> dict:
    """Every path below ``folder`` with its kind, size, modification time and (files) sha256."""
    return {
        path.relative_to(folder): (
            path.is_dir(),
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None,
        )
        for path in sorted(folder.rglob("*"))
    }


def test_evaluate_and_load_checkpoint_leave_a_writers_save_in_progress_alone(reference, tiny_data, tmp_path):
    out = partial_copy(reference.out, tmp_path / "run", (15,))
    in_progress = out / "checkpoints" / "16.orbax-checkpoint-tmp"  # what a live run's save looks like
    shutil.copytree(reference.out / "checkpoints" / "16", in_progress)
    before = snapshot(out)
    load_checkpoint(out)
    assert evaluate(out, test=tiny_data[1])["count"] == len(tiny_data[1])
    assert snapshot(out) == before


def test_evaluate_of_a_folder_without_checkpoints_creates_nothing(reference, tiny_data, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    shutil.copy(reference.out / "config.json", tmp_path / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources_module, "load", lambda *args, **kwargs: tiny_data[1])
        assert main(["evaluate", str(tmp_path / "run")]) == 1
    assert "no checkpoint in" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json"]


def test_a_reader_racing_a_runs_checkpoint_deletion_reads_the_newer_step(reference, tmp_path, monkeypatch):
    # a live run with --keep-checkpoints 1 saves step 16 and deletes step 15 while a reader reads 15
    out = partial_copy(reference.out, tmp_path / "run", (15,))
    checkpoints_module = importlib.import_module("jaxcnn.training.runfolder.checkpoints")
    original, raced = checkpoints_module.Checkpoints._restore_variables, []

    def restore_while_the_run_moves_on(self, template, step):
        if not raced:
            raced.append(step)
            shutil.copytree(reference.out / "checkpoints" / "16", out / "checkpoints" / "16")
            shutil.rmtree(out / "checkpoints" / "15")
        return original(self, template, step)

    monkeypatch.setattr(checkpoints_module.Checkpoints, "_restore_variables", restore_while_the_run_moves_on)
    _, variables = load_checkpoint(out)  # the code before: "checkpoint step None ... cannot be restored"
    _, expected = load_checkpoint(reference.out, step=16)
    assert raced == [15]
    for ours, theirs in zip(jax.tree.leaves(variables), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_the_average_of_a_run_without_one_is_refused_naming_the_flag(reference):
    with pytest.raises(ValueError, match="holds no moving average of the weights: the run was trained without"):
        load_checkpoint(reference.out, ema=True)
