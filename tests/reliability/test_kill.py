"""SIGKILL at random moments of checkpoint writes: every checkpoint left behind is the uninterrupted
run's, bit for bit, and the resumed run ends with the uninterrupted run's parameters and history."""

import re
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxcnn.training import fit
from tests.reliability.checkpoints import saved_states
from tests.reliability.conftest import REFERENCE
from tests.training.runs import tiny_config
from tests.training.test_training_fit import WORKER, assert_same_params

KILLS = 4  # the run (16 steps) is killed this many times; each process completes at most 2 saves
SEED = 20261127


@pytest.mark.slow
def test_kills_inside_checkpoint_writes_lose_nothing_and_mix_nothing(reference, tiny_data, tmp_path, child_env):
    expected = saved_states(reference.out)
    kills, inside = [], 0
    for attempt in range(KILLS):
        mode = "resume" if attempt else "fresh"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(WORKER), "kill-in-save", str(tmp_path), str(SEED + attempt), mode],
            capture_output=True,
            text=True,
            timeout=300,
            env=child_env,
        )
        assert done.returncode == -9, done.stdout + done.stderr
        step = int(re.search(r"kill at step (\d+)", done.stdout).group(1))
        inside += f"saved step {step}\n" not in done.stdout  # killed before that save returned
        kills.append(step)
        print(f"worker {attempt}: {time.perf_counter() - started:.1f} s")
        survivors = saved_states(tmp_path)
        assert survivors, "a kill left no checkpoint to resume from"
        for saved_step, (state, extra) in survivors.items():  # nothing lost, nothing mixed
            assert_same_params(state, expected[saved_step][0])
            assert_same_sums(extra, expected[saved_step][1])
    print(f"{len(kills)} kills at steps {kills}, {inside} inside a checkpoint write")
    assert len(kills) == KILLS and inside >= KILLS - 1  # a save may make fewer calls than the first
    train, test = tiny_data
    resumed = fit(tiny_config(tmp_path, resume=True, **REFERENCE), train=train, test=test)
    assert_same_params(resumed.variables, reference.variables)
    assert [r["step"] for r in resumed.history] == [8, 16]
    for ours, theirs in zip(resumed.history, reference.history):
        assert_same_sums(ours, theirs)


def assert_same_sums(ours: dict, theirs: dict) -> None:
    """Counts and test metrics equal, training-loss sums equal to float32 rounding: the device adds
    them in float32 from where a session started, so a resumed epoch rounds differently."""
    assert {k: ours[k] for k in EXACT if k in theirs} == {k: theirs[k] for k in EXACT if k in theirs}
    for key in ("loss", "train_loss"):
        if key in theirs:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-6)


EXACT = ("top1", "top5", "count", "train_accuracy", "test_loss", "test_accuracy", "learning_rate")
