"""A training run in its own process, for tests/training: ``worker.py MODE OUT [PORT ID]``.

MODE ``kill``: SIGKILL itself during step 11 of 16 (mid-epoch 2, after the step-9 checkpoint), every
random input transform on (``AUGMENTED``).
MODE ``sigint``: send itself SIGINT during step 5; fit should save and return.
MODE ``kill-in-save``: ``worker.py kill-in-save OUT SEED fresh|resume``: checkpoint every step and
SIGKILL itself at a random point (seeded) of its 2nd or 3rd checkpoint write (tests/reliability).
MODE ``distributed``: one of two processes (2 CPU devices each) of a jax.distributed run.
MODE ``cluster``: the same with ``distributed`` alone: where the coordinator is, how many processes
and which one this is come from the environment (a SLURM step's variables, or ``JAX_*``).
"""

import os
import signal
import sys

MODE, OUT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.scripts import xla_flags_with_devices  # noqa: E402

# 8 devices and the other flags of the test process (tests/conftest.py), so both compile the same programs
os.environ["XLA_FLAGS"] = xla_flags_with_devices(2 if MODE in ("distributed", "cluster") else 8)

import importlib  # noqa: E402
import random  # noqa: E402

import jax  # noqa: E402

from jaxcnn.data import load  # noqa: E402
from jaxcnn.training import Checkpoints  # noqa: E402
from tests.training.runs import AUGMENTED, subset, tiny_config  # noqa: E402

fit_module = importlib.import_module("jaxcnn.training.loop")  # the module of fit
loop_module = importlib.import_module("jaxcnn.training.loop")

TRAIN, TEST = subset(load("fashion_mnist_small", "train"), 256), subset(load("fashion_mnist_small", "test"), 100)


def signal_at_call(n: int, signum: int) -> None:
    """Send ``signum`` from the ``n``-th call of the loop's ``add_metrics``: one call per train
    step, and one per eval batch (2 here) at each epoch end."""
    original, calls = loop_module.add_metrics, [0]

    def add_metrics(total, metrics):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signum)
        return original(total, metrics)

    loop_module.add_metrics = add_metrics


def kill_during_a_save(rng: random.Random) -> None:
    """SIGKILL this process inside its 2nd or 3rd ``Checkpoints.save``: at the k-th Python function
    call of that save, k drawn (seeded) from the calls the first save made, so the kill lands at a
    random point of the write (folders, metadata, arrays, rename). Prints ``kill at step S`` first,
    and ``saved step S`` after each save that completed."""
    original, target, calls_per_save = Checkpoints.save, rng.choice([2, 3]), []

    def save(self, step, *args, **kwargs):
        calls, kill_at = [0], None
        if len(calls_per_save) + 1 == target:
            kill_at = rng.randint(1, int(0.9 * min(calls_per_save)))
            print(f"kill at step {step}, call {kill_at} of about {min(calls_per_save)}", flush=True)

        def count(frame, event, arg):
            if event == "call":
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

        sys.setprofile(count)
        try:
            original(self, step, *args, **kwargs)
        finally:
            sys.setprofile(None)
        calls_per_save.append(calls[0])
        print(f"saved step {step}", flush=True)
        if kill_at:  # the save made fewer calls than the first: kill just after it
            os.kill(os.getpid(), signal.SIGKILL)

    Checkpoints.save = save


if MODE == "kill":
    # 8 steps, 4 eval batches (2 of the weights, 2 of their average), steps 9 (checkpoint), 10 and 11
    signal_at_call(15, signal.SIGKILL)
    fit_module.fit(tiny_config(OUT, checkpoint_every=3, **AUGMENTED), train=TRAIN, test=TEST)
elif MODE == "kill-in-save":
    kill_during_a_save(random.Random(int(sys.argv[3])))
    config = tiny_config(OUT, checkpoint_every=1, keep_checkpoints=16, resume=sys.argv[4] == "resume")
    fit_module.fit(config, train=TRAIN, test=TEST)
elif MODE == "sigint":
    signal_at_call(5, signal.SIGINT)
    result = fit_module.fit(tiny_config(OUT), train=TRAIN, test=TEST)
    print(f"interrupted={result.interrupted} step={int(result.state.step)}")
elif MODE in ("distributed", "cluster"):
    given = {}
    if MODE == "distributed":
        port, pid = sys.argv[3], int(sys.argv[4])
        given = dict(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    config = tiny_config(OUT, parallel="sharded", max_steps=6, lr=0.01, distributed=True, **given)
    result = fit_module.fit(config, train=TRAIN, test=TEST)
    print(
        f"process {jax.process_index()} of {jax.process_count()}: {jax.device_count()} devices, "
        f"step {int(result.state.step)}",
        flush=True,
    )
    jax.distributed.shutdown()
