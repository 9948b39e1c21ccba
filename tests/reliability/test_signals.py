"""Signals as schedulers send them, to `jaxcnn train` as a user runs it: SIGTERM saves and exits 143
with one line whose command resumes; a second signal ends the process at once without damaging a
checkpoint; SIGINT in the last evaluation still says what was saved; the run ends bit-identical."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jaxcnn.training import Checkpoints
from tests.reliability.checkpoints import saved_states
from tests.reliability.cli import TINY_FLAGS
from tests.reliability.test_kill import assert_same_sums
from tests.training.test_training_fit import assert_same_params

CLI = Path(__file__).with_name("cli.py")


def jaxcnn(args, env) -> subprocess.CompletedProcess:
    """`jaxcnn ARGS` on the tiny data, in a process of its own (see cli.py)."""
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_sigterm_saves_then_a_second_signal_stops_at_once_then_the_printed_command_finishes(
    reference, tmp_path, child_env
):
    expected, out = saved_states(reference.out), tmp_path / "out"
    first = jaxcnn(["--signal", "3:SIGTERM", "train", *TINY_FLAGS, "--out", str(out)], child_env)
    assert first.returncode == 143 and first.stderr.count("\n") == 1, first.stderr
    assert list(saved_states(out)) == [3]  # no --checkpoint-every: the signal's own save
    assert_same_params(saved_states(out)[3][0], expected[3][0])
    command = re.search(r"`jaxcnn (train [^`]*)`", first.stderr).group(1).split()

    # the printed command, stopped by SIGTERM at step 5 and again inside the save that asks for
    second = jaxcnn(["--signal", "2:SIGTERM:again-in-save", *command], child_env)
    assert second.returncode == -15, second.stderr  # ended by the signal itself: no save, no clean-up
    assert Checkpoints(out / "checkpoints").steps() == [3] and not (out / "checkpoints" / "5").exists()

    # and again, interrupted in the final evaluation: after steps 4-8, 2 eval batches, steps 9-16
    third = jaxcnn(["--signal", "16:SIGINT", *command], child_env)
    lines = third.stderr.splitlines()
    assert third.returncode == 130 and len(lines) == 2, third.stderr
    assert lines[0].startswith(f"note: taking over {out / '.lock'}")  # the killed process's lock
    assert str(out / "checkpoints") in lines[1]  # says where the last checkpoint went
    final = saved_states(out)
    assert_same_params(final[16][0], expected[16][0])
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history] == [8, 16]
    for ours, theirs in zip(history, reference.history):
        assert_same_sums(ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["data", "model", "compile", "mid-compile"])
def test_sigint_during_start_up_exits_130_in_one_line_and_leaves_no_folder(point, tmp_path, child_env):
    # no compilation cache: the signal must meet XLA compiling (a cached program is only loaded)
    env = {name: value for name, value in child_env.items() if not name.startswith("JAX_")}
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(CLI), "--signal-at", f"{point}:SIGINT", "train", *TINY_FLAGS, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal starts it
    )
    assert done.returncode == 130, done.stderr  # the code before: a segmentation fault (-11) mid-compile
    assert done.stderr == "jaxcnn train: SIGINT before training started: nothing was trained\n", done.stderr
    assert not out.exists()
