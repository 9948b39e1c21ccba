"""Every error at the boundary is one line: bad flags (exit 2, and a pointer to --help), bad folders, damaged
config.json, a full disk (exit 1); tracebacks only with --debug or JAXCNN_DEBUG=1."""

import dataclasses
import errno
import functools
import importlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jaxcnn.cli import main
from jaxcnn.models import create_model
from jaxcnn.training import TrainConfig
from jaxcnn.training.runfolder.record import read_config
from tests.training.runs import TINY_RESNET

sources_module = importlib.import_module("jaxcnn.data.sources")  # where fit loads datasets
training_setup = importlib.import_module("jaxcnn.training.parts")

BAD_FLAGS = [
    ("--lr", "nan", "expected a finite number > 0, got nan"),
    ("--lr", "inf", "expected a finite number > 0, got inf"),
    ("--lr", "-0.1", "expected a finite number > 0, got -0.1"),
    ("--weight-decay", "inf", "expected a finite number >= 0, got inf"),
    ("--weight-decay", "-1", "expected a finite number >= 0, got -1.0"),
    ("--warmup-epochs", "nan", "expected a finite number >= 0, got nan"),
    ("--warmup-epochs", "5", "expected a number below epochs=2, got 5.0"),
    ("--label-smoothing", "1", "expected a number in [0, 1), got 1.0"),
    ("--checkpoint-every", "-1", "expected an integer >= 0, got -1"),
    ("--seed", "-1", "expected an integer >= 0, got -1"),
    ("--max-steps", "abc", "expected a positive integer, got 'abc'"),
    ("--max-steps", "1.5", "expected a positive integer, got '1.5'"),
    ("--epochs", "0", "expected a positive integer, got '0'"),
    ("--batch-size", "-3", "expected a positive integer, got '-3'"),
    ("--keep-checkpoints", "0", "expected a positive integer, got '0'"),
    ("--num-processes", "0", "expected a positive integer, got '0'"),
    ("--process-id", "-1", "expected an integer >= 0, got -1"),
]


@pytest.mark.parametrize("flag, value, message", BAD_FLAGS)
def test_a_bad_number_exits_2_in_one_line_naming_the_flag(flag, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", flag, value, "--out", str(tmp_path / "never")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err == f"jaxcnn train: error: argument {flag}: {message}\nrun `jaxcnn train --help` for every flag\n"
    assert not (tmp_path / "never").exists()


def test_evaluate_step_must_be_a_step(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(tmp_path), "--step", "-1"])
    assert exit_info.value.code == 2
    assert "argument --step: expected an integer >= 0, got '-1'" in capsys.readouterr().err


def one_line_error(argv, capsys) -> str:
    """Run the CLI, expect exit 1 and exactly one line on stderr; return it."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_an_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        err = one_line_error(["train", "--out", str(out)], capsys)
        assert f"{tmp_path / 'file'} is a file, not a folder; choose another --out" in err


def test_an_unwritable_folder_is_one_line(tmp_path, capsys, monkeypatch):
    def denied(self, *args, **kwargs):  # what mkdir meets in a read-only or foreign folder (we run as root)
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    err = one_line_error(["train", "--out", str(tmp_path / "out")], capsys)
    assert (
        f"cannot write {tmp_path / 'out' / '.lock'}: permission denied; make it writable or choose another --out" in err
    )


def test_a_full_disk_while_writing_a_file_is_one_line_naming_it(tiny_data, tmp_path, capsys, monkeypatch):
    original = Path.write_bytes

    def full(self, data):
        if self.name.startswith(".config.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    monkeypatch.setattr(
        sources_module, "load", lambda name, split, root=None: dict(zip(("train", "test"), tiny_data))[split]
    )
    monkeypatch.setattr(training_setup, "create_model", functools.partial(create_model, **TINY_RESNET))
    err = one_line_error(["train", "--out", str(tmp_path), "--no-progress"], capsys)
    # the run's first file: nothing to resume yet, the same command starts it again
    assert err.endswith(f"no space left on device writing {tmp_path / 'config.json'}: free space and rerun\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "checkpoints"]  # no partial config.json


@pytest.fixture
def run_config(reference, tmp_path):
    """A copy of a finished run's config.json in a folder of its own, to damage."""
    (tmp_path / "run").mkdir()
    shutil.copy(reference.out / "config.json", tmp_path / "run" / "config.json")
    return tmp_path / "run" / "config.json"


def edit(path, change):
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


CONFIG_DAMAGE = {
    "data: none": (lambda p: p.pop("data"), "has no 'data' section"),
    "lr as a string": (lambda p: p["config"].update(lr="0.1"), "field 'lr' expected a finite number > 0, got '0.1'"),
    "no model field": (lambda p: p["config"].pop("model"), "lacks the fields model"),
    "data: negative classes": (
        lambda p: p["data"].update(num_classes=-1),
        "field 'data.num_classes' expected a positive",
    ),
}


@pytest.mark.parametrize("damage", CONFIG_DAMAGE)
def test_a_hand_edited_config_json_is_one_line_naming_file_and_field(damage, run_config, capsys):
    change, message = CONFIG_DAMAGE[damage]
    edit(run_config, change)
    resume = ["train", "--resume", "--out", str(run_config.parent)]
    for argv in (["evaluate", str(run_config.parent)], *[resume] * ("data" not in damage)):
        err = one_line_error(argv, capsys)
        assert str(run_config) in err and message in err


def test_invalid_or_truncated_json_names_the_file(run_config, capsys):
    text = run_config.read_text()
    for broken in (text[: len(text) // 2], "{'config': 1}", ""):
        run_config.write_text(broken)
        err = one_line_error(["evaluate", str(run_config.parent)], capsys)
        assert f"{run_config} is not valid JSON" in err


def test_tracebacks_only_with_debug(tmp_path, capsys, monkeypatch):
    with pytest.raises(FileNotFoundError):
        main(["evaluate", str(tmp_path), "--debug"])
    with pytest.raises(FileNotFoundError):
        main(["--debug", "evaluate", str(tmp_path)])
    monkeypatch.setenv("JAXCNN_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["evaluate", str(tmp_path)])
    monkeypatch.setenv("JAXCNN_DEBUG", "0")
    assert main(["evaluate", str(tmp_path)]) == 1


@pytest.mark.slow
def test_the_whole_process_writes_one_line(run_config, child_env):
    """As a user runs it: nothing else on stderr, also at interpreter shutdown."""
    edit(run_config, lambda p: p.pop("data"))
    command = [sys.executable, "-m", "jaxcnn.cli"]
    done = subprocess.run([*command, "evaluate", str(run_config.parent)], capture_output=True, text=True, env=child_env)
    assert done.returncode == 1 and done.stderr == f"jaxcnn evaluate: error: {run_config} has no 'data' section; " + (
        "restore the file written by the run (or start a new run in another --out)\n"
    )
    done = subprocess.run([*command, "train", "--lr", "inf"], capture_output=True, text=True, env=child_env)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "jaxcnn train: error: argument --lr: expected a finite number > 0, got inf",
        "run `jaxcnn train --help` for every flag",
    ]


def test_config_errors_name_the_field_in_the_python_api_too():
    for field, value in [("lr", math.nan), ("epochs", 2.5), ("flip", "yes"), ("model_overrides", [])]:
        with pytest.raises(
            ValueError, match=rf"^{field}: expected .*, got {value!r}$".replace("[", r"\[").replace("]", r"\]")
        ):
            dataclasses.replace(TrainConfig(), **{field: value})


def test_a_run_saved_before_the_recipe_fields_existed_still_reads(run_config, capsys):
    """The fields added with the recipe components (weight decay groups to --val-resize-size) are
    absent from older runs' config.json: they read as the settings those runs trained with."""
    added = ("norm_weight_decay", "bias_weight_decay", "mixup_alpha", "auto_augment", "model_ema", "ra_reps", "mean")
    edit(run_config, lambda p: [p["config"].pop(name) for name in added])
    config = read_config(run_config.parent)
    assert (config.norm_weight_decay, config.bias_weight_decay, config.mixup_alpha) == (0.0, 0.0, 0.0)
    assert (config.auto_augment, config.model_ema, config.ra_reps, config.mean) == (None, False, 1, None)
