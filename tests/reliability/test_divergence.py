"""Divergence is a stop, not a save: a run whose parameters go non-finite while its loss stays
finite stops with one line naming the step, keeps its last finite checkpoint as the newest and
exits non-zero; every reader refuses a checkpoint that holds NaN instead of answering from it."""

import math
import shutil

import jax
import numpy as np
import pytest

from jaxcnn.serve import Predictor, export
from jaxcnn.training import Checkpoints, evaluate, fit, load_checkpoint
from jaxcnn.training.runfolder.checkpoints import NonFiniteWeightsError
from tests.reliability.checkpoints import saved_states
from tests.reliability.cli import TINY_FLAGS
from tests.reliability.test_signals import jaxcnn
from tests.training.runs import tiny_config

# Plain SGD at this rate sends the tiny ResNet's gradients and parameters to NaN at step 6; on JAX
# 0.10.2 its loss stays finite, and the code before this test saved NaN checkpoints and exited 0.
DIVERGING = ["--lr", "1000", "--momentum", "0", "--checkpoint-every", "1", "--keep-checkpoints", "16"]


def all_finite(tree) -> bool:
    return all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(tree))


@pytest.mark.slow
def test_a_diverging_run_stops_naming_the_step_and_its_newest_checkpoint_is_finite(tmp_path, child_env):
    out = tmp_path / "out"
    run = jaxcnn(["train", *TINY_FLAGS, *DIVERGING, "--out", str(out)], child_env)
    assert run.returncode == 1, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    bad = int(run.stderr.split("not finite at step ")[1].split()[0])
    assert "gradients, parameters and batch statistics are not finite" in run.stderr, run.stderr
    states = saved_states(out)
    assert list(states) == list(range(1, bad))  # nothing saved at or after the bad step
    newest = states[bad - 1][0]
    assert all_finite(newest.params) and all_finite(newest.batch_stats) and all_finite(newest.opt_state)
    assert f"last good checkpoint (step {bad - 1}) is intact" in run.stderr


@pytest.fixture(scope="module")
def diverged_run(reference, tmp_path_factory):
    """A copy of the reference run whose newest checkpoint (step 16) holds NaN parameters, as the
    code before the check left them."""
    out = shutil.copytree(reference.out, tmp_path_factory.mktemp("diverged") / "run")
    state = saved_states(out)[16][0]
    checkpoints = Checkpoints(out / "checkpoints", keep=100, writer=True)
    shutil.rmtree(out / "checkpoints" / "16")
    checkpoints.manager.reload()
    poisoned = state.replace(params=jax.tree.map(lambda leaf: np.full_like(leaf, np.nan), state.params))
    checkpoints.save(16, poisoned, {})
    checkpoints.close()
    return out


def test_every_reader_refuses_a_non_finite_checkpoint_naming_it_and_the_earlier_steps(diverged_run, tmp_path):
    says = (
        r"checkpoint step 16 in \S+ holds NaN or infinite values \(in params/.*\): a diverged run's; choose an "
        r"earlier step with --step \(saved: 1, 2"
    )
    for read in (
        lambda: load_checkpoint(diverged_run),
        lambda: evaluate(diverged_run),
        lambda: Predictor.from_source(diverged_run),
        lambda: export(diverged_run, tmp_path / "m.jax", platforms=("cpu",)),
        lambda: fit(tiny_config(tmp_path / "child", init_from=str(diverged_run), epochs=1)),
    ):
        with pytest.raises(NonFiniteWeightsError, match=says):
            read()
    assert not (tmp_path / "m.jax").exists() and not (tmp_path / "child").exists()
    model, variables = load_checkpoint(diverged_run, step=15)  # an earlier step still answers
    assert all_finite(variables) and math.isfinite(evaluate(diverged_run, step=15)["loss"])
