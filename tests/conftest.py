"""Suite-wide set-up: 8 simulated CPU devices for the multi-device tests, and one XLA
compilation cache for the whole run.

XLA reads XLA_FLAGS once, when jax first initialises a backend, so the flag is
set here, before any test module runs jax. An XLA_FLAGS that already chooses a
device count is left as it is.

Many tests compile the same programs (the resnet20 train step of ``fit``, in this process
and in the subprocesses of the notebook, kill and multi-process tests, which inherit the
environment). jax's persistent compilation cache, in a fresh temporary folder removed at
exit, compiles each of them once per run: the suite took 878 s without it on the 2-core
machine. The cache starts empty, so every program is still compiled at least once.
"""

import atexit
import os
import shutil
import tempfile

_DEVICES = "--xla_force_host_platform_device_count=8"
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICES}".strip()
# XLA:CPU aborts the process when one simulated device reaches a collective (an all-gather of the
# sharded step) more than 40 s after the others: on 2 busy cores 8 device threads can be that late.
_PATIENCE = "--xla_cpu_collective_call_terminate_timeout_seconds=900"
if "xla_cpu_collective_call_terminate_timeout_seconds" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += f" {_PATIENCE}"
# The suite is bound by XLA:CPU compiling many small programs, most of that time in LLVM's
# optimisation passes; level 1 compiles the tests' programs 2x faster than the default 3 (the same
# HLO and fusion decisions, less work on the machine code; docs/testing.md).
_LLVM_LEVEL = "--xla_backend_optimization_level=1"
if "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += f" {_LLVM_LEVEL}"

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxcnn-tests-xla-cache-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)


def pytest_collection_modifyitems(items):
    """The test files that hold slow tests first, each file's tests kept together (its module
    fixtures are built once): the workers then end on short tests, not on one long test alone."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
