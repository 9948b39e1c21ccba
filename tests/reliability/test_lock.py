"""One run per folder: a second run into a locked folder fails naming the holder, a dead holder's lock is taken over."""

import importlib
import os
import signal
import subprocess
import sys
import time

import pytest

from jaxcnn.cli import main
from jaxcnn.training import RunLockedError, evaluate, fit
from jaxcnn.training.runfolder.lock import LOCK_NAME, run_lock
from tests.training.runs import tiny_config

loop_module = importlib.import_module("jaxcnn.training.loop")
HOLD = """import sys, time; from jaxcnn.training.runfolder.lock import run_lock
with run_lock(sys.argv[1]):
    print('locked', flush=True); time.sleep(120)"""


@pytest.fixture
def holder(tmp_path, child_env):
    """Another process holding ``tmp_path/out``'s lock (killed at the end)."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=child_env)
    assert proc.stdout.readline() == "locked\n"
    yield out, proc
    proc.kill()
    proc.wait()


def test_a_second_run_into_a_locked_folder_fails_naming_the_holder_and_writes_nothing(holder, tiny_data, capsys):
    out, proc = holder
    with pytest.raises(RunLockedError, match=rf"{out} is in use by another run \(PID {proc.pid}\)"):
        fit(tiny_config(out, seed=1), train=tiny_data[0], test=tiny_data[1])
    assert main(["train", "--out", str(out), "--seed", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(PID {proc.pid})" in err and "choose another --out" in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing of the second run was written


@pytest.mark.slow
def test_a_dead_holders_lock_is_taken_over_held_for_the_run_and_released(holder, tiny_data, capsys, monkeypatch):
    out, proc = holder
    proc.send_signal(signal.SIGKILL)  # dies holding the lock: the file still names it
    proc.wait()
    assert (out / LOCK_NAME).read_text() == f"{proc.pid}\n"
    seen = []

    def add_metrics(total, metrics):  # runs inside the training loop, while the lock must be held
        if not seen:
            seen.append((out / LOCK_NAME).read_text())
            with pytest.raises(RunLockedError, match=f"PID {os.getpid()}"), run_lock(out):
                pass
        return original(total, metrics)

    original = loop_module.add_metrics
    monkeypatch.setattr(loop_module, "add_metrics", add_metrics)
    fit(tiny_config(out, max_steps=2), train=tiny_data[0], test=tiny_data[1])
    assert seen == [f"{os.getpid()}\n"]
    assert f"PID {proc.pid}, which ended without releasing it" in capsys.readouterr().err
    assert (out / LOCK_NAME).read_text() == ""  # released: a new run takes it silently
    with run_lock(out):
        assert (out / LOCK_NAME).read_text() == f"{os.getpid()}\n"


def test_the_lock_is_released_when_a_run_fails(tmp_path, tiny_data):
    config = tiny_config(tmp_path, resume=True)  # nothing to resume: fails after taking the lock
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match="is not a jaxcnn training folder"):
            fit(config, train=tiny_data[0], test=tiny_data[1])
    assert (tmp_path / LOCK_NAME).read_text() == ""


def test_evaluate_reads_a_locked_folder(reference, tiny_data, child_env):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(reference.out)], stdout=subprocess.PIPE, text=True, env=child_env
    )
    try:
        assert proc.stdout.readline() == "locked\n"
        assert evaluate(reference.out, test=tiny_data[1])["accuracy"] == pytest.approx(reference.test_accuracy)
    finally:
        proc.kill()
        proc.wait()


def test_processes_other_than_0_do_not_lock(tmp_path):
    with run_lock(tmp_path / "out", hold=False):
        assert not (tmp_path / "out").exists()
    started = time.perf_counter()
    with run_lock(tmp_path / "a"), pytest.raises(RunLockedError), run_lock(tmp_path / "a"):
        pass
    assert time.perf_counter() - started < 5  # never waits for the holder
