"""Damage to any file of the newest checkpoint never poisons a resume or an evaluation: the step is
reported with its folder and the previous good step is used, or the damage provably did not matter."""

import hashlib
import importlib
import shutil

import numpy as np
import pytest

from jaxcnn.cli import main
from jaxcnn.training import Checkpoints, UnreadableCheckpointError, fit, load_checkpoint
from tests.reliability.conftest import REFERENCE
from tests.training.runs import tiny_config
from tests.training.test_training_fit import assert_same_params

sources_module = importlib.import_module("jaxcnn.data.sources")  # where fit and evaluate load datasets


def garbage(data: bytes, rng) -> bytes:
    return rng.integers(0, 256, max(len(data), 1), dtype=np.uint8).tobytes()


def flip_a_bit(data: bytes, rng) -> bytes:
    at = int(rng.integers(len(data))) if data else 0
    return data[:at] + bytes([data[at] ^ 1 << int(rng.integers(8))]) + data[at + 1 :] if data else b"\x01"


DAMAGES = {
    "garbage": garbage,
    "one flipped bit": flip_a_bit,
    "truncated": lambda data, rng: data[: len(data) // 2],
    "deleted": None,
}


def partial_copy(run, dest, steps):
    """``config.json`` and the checkpoints of ``steps`` of a run folder."""
    (dest / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "config.json", dest / "config.json")
    for step in steps:
        shutil.copytree(run / "checkpoints" / str(step), dest / "checkpoints" / str(step))
    return dest


def damage(path, how, rng):
    if DAMAGES[how] is None:
        path.unlink()
    else:
        path.write_bytes(DAMAGES[how](path.read_bytes(), rng))


def checkpoint_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGES)
def test_damage_to_any_file_of_the_newest_checkpoint_is_reported_or_harmless(how, reference, tmp_path, capsys):
    good = {step: load_checkpoint(reference.out, step)[1] for step in (15, 16)}
    files = checkpoint_files(reference.out / "checkpoints" / "16")
    rng, outcome = np.random.default_rng(14), {"fell back": 0, "harmless": 0}
    for i, name in enumerate(files):
        out = partial_copy(reference.out, tmp_path / str(i), (15, 16))
        damage(out / "checkpoints" / "16" / name, how, rng)
        _, variables = load_checkpoint(out)
        err = capsys.readouterr().err
        if err:  # reported: step 16 named with its folder, step 15 used instead, --step suggested
            assert err.count("\n") == 1, err
            assert f"checkpoint step 16 in {out / 'checkpoints' / '16'} cannot be restored" in err
            assert "using step 15 instead (choose one with --step)" in err
            assert_same_params(variables, good[15])
            assert (out / "checkpoints" / "16").is_dir()  # never deleted
            outcome["fell back"] += 1
        else:  # the file is not needed to restore: the result is step 16 bit for bit
            assert_same_params(variables, good[16])
            outcome["harmless"] += 1
    print(f"{len(files)} files {how}: {outcome}")
    assert outcome["fell back"] > 0


@pytest.mark.slow
def test_garbage_in_all_the_parameters_data_falls_back_to_the_previous_step(reference, tmp_path, capsys):
    """Which data files a restore reads varies from run to run (orbax may leave a process's own
    ocdbt copy beside the merged one), so one file's damage can be harmless; the parameters'
    array data as a whole never is."""
    out = partial_copy(reference.out, tmp_path / "all-params-data", (15, 16))
    rng = np.random.default_rng(14)
    for name in checkpoint_files(out / "checkpoints" / "16"):
        if name.parts[0] == "params" and "d" in name.parts:
            damage(out / "checkpoints" / "16" / name, "garbage", rng)
    _, variables = load_checkpoint(out)
    assert "using step 15 instead (choose one with --step)" in capsys.readouterr().err
    assert_same_params(variables, load_checkpoint(reference.out, 15)[1])


@pytest.mark.slow
def test_evaluate_falls_back_and_an_explicit_bad_step_is_one_line_naming_it(reference, tiny_data, tmp_path, capsys):
    out = partial_copy(reference.out, tmp_path / "run", (14, 15, 16))
    for name in checkpoint_files(out / "checkpoints" / "16"):
        damage(out / "checkpoints" / "16" / name, "garbage", np.random.default_rng(0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources_module, "load", lambda *args, **kwargs: tiny_data[1])
        assert main(["evaluate", str(out)]) == 0
        captured = capsys.readouterr()
        assert "top-1 accuracy" in captured.out and captured.err.count("\n") == 1
        assert captured.out.rstrip().endswith("(checkpoint step 15)")
        assert "checkpoint step 16" in captured.err and "using step 15 instead" in captured.err
        assert main(["evaluate", str(out), "--step", "16"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"checkpoint step 16 in {out / 'checkpoints' / '16'} cannot be restored" in err
        assert "other saved steps: 14, 15 (choose one with --step)" in err
        assert main(["evaluate", str(out), "--step", "14"]) == 0
        assert capsys.readouterr().out.rstrip().endswith("(checkpoint step 14)")
        for step in (14, 15):
            shutil.rmtree(out / "checkpoints" / str(step))
        assert main(["evaluate", str(out)]) == 1
        assert "none of its checkpoints can be restored (step 16: " in capsys.readouterr().err


@pytest.mark.slow
def test_a_resume_past_an_unreadable_step_keeps_it_aside_and_ends_bit_identical(reference, tiny_data, tmp_path):
    out = partial_copy(reference.out, tmp_path / "run", (11, 12))
    shutil.copy(reference.out / "metrics.jsonl", out / "metrics.jsonl")
    bad = out / "checkpoints" / "12" / "params" / "_METADATA"
    damage(bad, "truncated", None)
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    resumed = fit(tiny_config(out, resume=True, **REFERENCE), train=tiny_data[0], test=tiny_data[1])
    assert_same_params(resumed.variables, reference.variables)  # resumed from 11, nothing of 12 used
    kept = out / "unreadable-checkpoints" / "12" / "params" / "_METADATA"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == digest  # set aside as it was, not deleted
    assert Checkpoints(out / "checkpoints").steps()[-1] == 16


@pytest.mark.slow
def test_save_never_overwrites_a_step_it_did_not_write(reference, tmp_path):
    out = partial_copy(reference.out, tmp_path / "run", (16,))
    before = {p: p.read_bytes() for p in (out / "checkpoints" / "16").rglob("*") if p.is_file()}
    state = load_checkpoint(reference.out, 15)[1]
    with pytest.raises(FileExistsError, match="checkpoint step 16 already exists .* not written by this run"):
        Checkpoints(out / "checkpoints", writer=True).save(16, state, {})
    assert {p: p.read_bytes() for p in (out / "checkpoints" / "16").rglob("*") if p.is_file()} == before


def test_unreadable_checkpoint_error_names_step_and_folder(tmp_path):
    err = UnreadableCheckpointError(7, tmp_path / "7", ValueError("bad\nmore"), [3, 7])
    expected = f"checkpoint step 7 in {tmp_path / '7'} cannot be restored: bad; other saved steps: 3"
    assert str(err) == expected + " (choose one with --step)"
