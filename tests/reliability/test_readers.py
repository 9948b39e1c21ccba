"""Readers never write: evaluating or loading a run folder leaves every file and folder in it as it
was, a writer's checkpoint in progress (its temporary folder) included."""

import hashlib
import importlib
import shutil

import pytest

from jaxcnn.cli import main
from jaxcnn.training import evaluate, load_checkpoint
from tests.reliability.test_checkpoints import partial_copy

inputs_module = importlib.import_module("jaxcnn.training.inputs")  # where fit and evaluate load datasets


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
        patch.setattr(inputs_module, "load", lambda *args, **kwargs: tiny_data[1])
        assert main(["evaluate", str(tmp_path / "run")]) == 1
    assert "no checkpoint in" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json"]
