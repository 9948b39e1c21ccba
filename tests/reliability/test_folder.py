"""A folder is a run's or nobody's: a new run refuses a folder holding files it did not write, a
resume continues only the run of the folder's config.json, and the lock file is never a way to
write elsewhere."""

import functools
import hashlib
import importlib
import json
import os
import shutil

import pytest

from jaxcnn.cli import main
from jaxcnn.models import create_model
from jaxcnn.training import fit
from jaxcnn.training.runfolder.lock import LOCK_NAME
from tests.reliability.conftest import REFERENCE
from tests.reliability.test_checkpoints import partial_copy
from tests.training.runs import TINY_RESNET, tiny_config
from tests.training.test_training_fit import assert_same_params

sources_module = importlib.import_module("jaxcnn.data.sources")  # where fit and evaluate load datasets
training_setup = importlib.import_module("jaxcnn.training.parts")


@pytest.fixture(autouse=True)
def tiny_cli(tiny_data, monkeypatch):
    """`jaxcnn train` trains the tiny model on the tiny data (where a refusal fails to come)."""
    splits = dict(zip(("train", "test"), tiny_data))
    monkeypatch.setattr(sources_module, "load", lambda name, split, root=None: splits[split])
    monkeypatch.setattr(training_setup, "create_model", functools.partial(create_model, **TINY_RESNET))


def sha256s(folder) -> dict:
    """sha256 of every file below ``folder`` but the (released, empty) lock file a refusing run leaves."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != LOCK_NAME]
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def one_line(argv, capsys) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_new_run_refuses_a_folder_of_someone_elses_files_naming_them(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text('{"experiment": "mine"}')
    (out / "metrics.jsonl").write_text('{"loss": 1}\n')
    (out / "curves.png").write_bytes(b"my picture")
    before = sha256s(out)
    err = one_line(["train", "--out", str(out), "--no-progress", "--max-steps", "1"], capsys)
    assert "config.json (not a jaxcnn run's)" in err and "curves.png" in err and "metrics.jsonl" in err
    assert sha256s(out) == before and sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME,
        "config.json",
        "curves.png",
        "metrics.jsonl",
    ]


def test_another_runs_record_without_checkpoints_is_not_overwritten(reference, tiny_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("config.json", "metrics.jsonl", "curves.png"):
        shutil.copy(reference.out / name, out / name)
    before = sha256s(out)
    with pytest.raises(FileExistsError, match=r"config.json \(another run's: seed \(0 -> 1\)\), curves.png, metrics"):
        fit(tiny_config(out, seed=1), train=tiny_data[0], test=tiny_data[1])
    assert sha256s(out) == before


@pytest.mark.slow
def test_the_same_run_started_again_after_failing_before_its_first_checkpoint_is_its_own(tiny_data, tmp_path):
    config = tiny_config(tmp_path / "out", max_steps=1)
    (tmp_path / "out").mkdir()
    fit_json = {"config": config.to_json(), "data": {}, "parallel": {"mode": "none", "devices": 1, "processes": 1}}
    (tmp_path / "out" / "config.json").write_text(json.dumps(fit_json))  # what a failed first start leaves
    assert fit(config, train=tiny_data[0], test=tiny_data[1]).history[-1]["step"] == 1


@pytest.mark.parametrize("resume", [False, True])
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(resume, reference, tmp_path, capsys):
    out = partial_copy(reference.out, tmp_path / "out", (16,)) if resume else tmp_path / "out"
    out.mkdir(exist_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("important data\n")
    os.symlink(victim, out / LOCK_NAME)
    err = one_line(["train", *["--resume"] * resume, "--out", str(out), "--no-progress", "--max-steps", "1"], capsys)
    assert f"{out / LOCK_NAME} is a symbolic link" in err and "move it away or choose another --out" in err
    assert victim.read_text() == "important data\n"


def test_a_lock_file_that_is_a_folder_is_one_line_with_advice(tmp_path, capsys):
    (tmp_path / "out" / LOCK_NAME).mkdir(parents=True)
    err = one_line(["train", "--out", str(tmp_path / "out"), "--no-progress", "--max-steps", "1"], capsys)
    assert f"{tmp_path / 'out' / LOCK_NAME} is a folder" in err and "move it away or choose another --out" in err


@pytest.mark.slow
def test_a_file_in_the_place_of_a_step_folder_is_kept_and_the_resume_ends_bit_identical(
    reference, tiny_data, tmp_path, capsys
):
    out = partial_copy(reference.out, tmp_path / "out", (11,))
    (out / "checkpoints" / "12").write_text("the user's notes\n")
    resumed = fit(tiny_config(out, resume=True, **REFERENCE), train=tiny_data[0], test=tiny_data[1])
    assert_same_params(resumed.variables, reference.variables)
    assert (out / "unreadable-checkpoints" / "12").read_text() == "the user's notes\n"
    assert str(out / "unreadable-checkpoints" / "12") in capsys.readouterr().err
