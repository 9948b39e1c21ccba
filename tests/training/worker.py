"""A training run in its own process, for tests/training: ``worker.py MODE OUT [PORT ID]``.

MODE ``kill``: SIGKILL itself during step 11 of 16 (mid-epoch 2, after the step-9 checkpoint).
MODE ``sigint``: send itself SIGINT during step 5; fit should save and return.
MODE ``distributed``: one of two processes (2 CPU devices each) of a jax.distributed run.
"""

import os
import signal
import sys

MODE, OUT = sys.argv[1], sys.argv[2]
# 8 devices like the test process (tests/conftest.py), so both compile the same programs
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={2 if MODE == 'distributed' else 8}"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import importlib  # noqa: E402

import jax  # noqa: E402

from jaxcnn.data import load  # noqa: E402
from tests.training.runs import subset, tiny_config  # noqa: E402

fit_module = importlib.import_module("jaxcnn.training.fit")  # the module, not the function jaxcnn.training.fit

TRAIN, TEST = subset(load("fashion_mnist_small", "train"), 256), subset(load("fashion_mnist_small", "test"), 100)


def signal_at_call(n: int, signum: int) -> None:
    """Send ``signum`` from the ``n``-th call of the loop's ``add_metrics``: one call per train
    step, and one per eval batch (2 here) at each epoch end."""
    original, calls = fit_module.add_metrics, [0]

    def add_metrics(total, metrics):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signum)
        return original(total, metrics)

    fit_module.add_metrics = add_metrics


if MODE == "kill":
    signal_at_call(13, signal.SIGKILL)  # 8 steps, 2 eval batches, steps 9 (checkpoint), 10 and 11
    fit_module.fit(tiny_config(OUT, checkpoint_every=3), train=TRAIN, test=TEST)
elif MODE == "sigint":
    signal_at_call(5, signal.SIGINT)
    result = fit_module.fit(tiny_config(OUT), train=TRAIN, test=TEST)
    print(f"interrupted={result.interrupted} step={int(result.state.step)}")
elif MODE == "distributed":
    port, pid = sys.argv[3], int(sys.argv[4])
    config = tiny_config(
        OUT,
        parallel="sharded",
        max_steps=6,
        lr=0.01,
        distributed=True,
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=pid,
    )
    result = fit_module.fit(config, train=TRAIN, test=TEST)
    print(
        f"process {jax.process_index()} of {jax.process_count()}: {jax.device_count()} devices, "
        f"step {int(result.state.step)}",
        flush=True,
    )
    jax.distributed.shutdown()
