"""A full disk costs no more than the write it stopped: on a real size-limited file system the run
ends with one line, removes its partial checkpoint and resumes bit-identical once space is freed;
the epoch's checkpoint is written before its metrics line and picture, and a picture that cannot
be drawn never stops training."""

import errno
import importlib
import re
import subprocess

import pytest
from matplotlib.figure import Figure

from jaxcnn.training import Checkpoints, DiskFullError, fit
from tests.reliability.checkpoints import saved_states
from tests.reliability.cli import TINY_FLAGS
from tests.reliability.conftest import REFERENCE
from tests.reliability.test_kill import assert_same_sums
from tests.reliability.test_signals import jaxcnn
from tests.reliability.tmpfs import tmpfs
from tests.training.runs import tiny_config
from tests.training.test_training_fit import assert_same_params

report_module = importlib.import_module("jaxcnn.training.runfolder.record")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (room for about 11 of the tiny run's checkpoints), unmounted at the end."""
    with tmpfs(tmp_path / "disk", "size=2m") as disk:
        yield disk


@pytest.mark.slow
def test_a_real_full_disk_is_one_line_leaves_no_partial_save_and_resumes_once_space_is_freed(
    reference, small_disk, child_env
):
    expected, out = saved_states(reference.out), small_disk / "out"
    flags = ["--checkpoint-every", "1", "--keep-checkpoints", "16"]
    full = jaxcnn(["train", *TINY_FLAGS, *flags, "--out", str(out)], child_env)
    assert full.returncode == 1
    message = r"jaxcnn train: error: no space left on device writing \S+: free space and rerun with --resume\n"
    assert re.fullmatch(message, full.stderr), full.stderr
    assert not list(out.rglob("*.orbax-checkpoint-tmp*"))  # the failed save's files are gone
    survivors = saved_states(out)
    assert 0 < len(survivors) < 16
    for step, (state, _) in survivors.items():
        assert_same_params(state, expected[step][0])

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = jaxcnn(["train", "--resume", "--out", str(out)], child_env)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_params(saved_states(out)[16][0], expected[16][0])


@pytest.mark.slow
def test_a_picture_that_cannot_be_drawn_costs_no_training(reference, tiny_data, tmp_path, monkeypatch, capsys):
    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", no_space)
    result = fit(tiny_config(tmp_path, **REFERENCE), train=tiny_data[0], test=tiny_data[1])
    assert_same_params(result.variables, reference.variables)
    assert Checkpoints(tmp_path / "checkpoints").steps()[-1] == 16
    assert [r["step"] for r in result.history] == [8, 16] and not (tmp_path / "curves.png").exists()
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 2 and all(str(tmp_path / "curves.png") in line for line in warnings)


def test_the_epochs_checkpoint_comes_first_and_a_lost_metrics_line_is_rebuilt(
    reference, tiny_data, tmp_path, monkeypatch
):
    def no_space(out, rows):
        raise DiskFullError(errno.ENOSPC, "no space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(report_module, "write_history", no_space)
        with pytest.raises(DiskFullError):
            fit(tiny_config(tmp_path), train=tiny_data[0], test=tiny_data[1])
    assert Checkpoints(tmp_path / "checkpoints").steps() == [8]  # written before the metrics line
    assert not (tmp_path / "metrics.jsonl").exists()
    resumed = fit(tiny_config(tmp_path, resume=True), train=tiny_data[0], test=tiny_data[1])
    assert_same_params(resumed.variables, reference.variables)
    assert [r["step"] for r in resumed.history] == [8, 16]
    for ours, theirs in zip(resumed.history, reference.history):
        assert_same_sums(ours, theirs)
