"""``jaxcnn`` as a user runs it, in a process of its own, on the tests' tiny data:
``python tests/reliability/cli.py [--signal N:SIGNAME] ARGS...``.

``fit``'s dataset loader returns the 256 training and 100 test images of tests/training/runs.py,
so ``TINY_FLAGS`` give the programs (and the compilation cache entries) of ``tiny_config``.
``--signal N:SIGTERM`` sends the signal to the process from the N-th call of the loop's
``add_metrics`` (one per training step, one per evaluation batch: 2 at each epoch end);
``N:SIGTERM:again-in-save`` sends it once more when the next checkpoint save starts.
``--signal-at POINT:SIGINT`` sends it during start-up: as ``fit`` loads its data (``data``) or
builds its model (``model``), as XLA starts its first compilation (``compile``), or from another
thread 20 ms into it (``mid-compile``: XLA checks for signals while it compiles).
"""

import os
import sys

# 8 devices like the test process (tests/conftest.py), so both compile the same programs
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import importlib  # noqa: E402
import signal  # noqa: E402

TINY_FLAGS = [
    "--batch-size=32",
    "--eval-batch-size=50",
    "--warmup-epochs=0",
    "--parallel=none",
    "--no-progress",
    "--model-arg=stage_sizes=[1,1,1]",
    "--model-arg=widths=[4,8,8]",
    "--model-arg=stem_width=4",
]


def signal_at_call(call: int, signum: int, again_in_save: bool) -> None:
    """Send ``signum`` to this process from the ``call``-th call of the loop's ``add_metrics``
    (and, ``again_in_save``, at the start of the checkpoint save that follows)."""
    from jaxcnn.training import Checkpoints

    loop_module = importlib.import_module("jaxcnn.training.loop")
    add, save, count = loop_module.add_metrics, Checkpoints.save, [0]

    def add_metrics(total, metrics):
        count[0] += 1
        if count[0] == call:
            os.kill(os.getpid(), signum)
        return add(total, metrics)

    def save_signalled(self, *args, **kwargs):
        if count[0] >= call:
            os.kill(os.getpid(), signum)
        return save(self, *args, **kwargs)

    loop_module.add_metrics = add_metrics
    if again_in_save:
        Checkpoints.save = save_signalled


def signal_at_start(point: str, signum: int) -> None:
    """Send ``signum`` to this process at ``point`` of start-up (see the module)."""
    import threading

    import jax._src.compiler as compiler

    sources_module = importlib.import_module("jaxcnn.data.sources")
    name = "backend_compile_and_load" if hasattr(compiler, "backend_compile_and_load") else "backend_compile"
    targets = {
        "data": (sources_module, "load"),
        "model": (importlib.import_module("jaxcnn.training.loop"), "build_model"),
    }
    module, attribute = targets.get(point, (compiler, name))
    original, sent = getattr(module, attribute), []

    def signalled(*args, **kwargs):
        if not sent:
            sent.append(point)
            if point == "mid-compile":
                threading.Timer(0.02, os.kill, (os.getpid(), signum)).start()
            else:
                os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    setattr(module, attribute, signalled)


def main(argv: list[str]) -> int:
    from jaxcnn.cli import main as jaxcnn
    from jaxcnn.data import load
    from tests.training.runs import subset

    sources_module = importlib.import_module("jaxcnn.data.sources")  # where fit loads datasets
    tiny = {split: subset(load("fashion_mnist_small", split), n) for split, n in (("train", 256), ("test", 100))}
    sources_module.load = lambda name, split, root=None: tiny[split]
    if argv[:1] == ["--signal"]:
        call, name, *again = argv[1].split(":")
        signal_at_call(int(call), signal.Signals[name], again == ["again-in-save"])
        argv = argv[2:]
    if argv[:1] == ["--signal-at"]:
        point, name = argv[1].split(":")
        signal_at_start(point, signal.Signals[name])
        argv = argv[2:]
    return jaxcnn(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
