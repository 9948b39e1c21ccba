"""Load a script of the repository (tools/, benchmarks/) as a module, without running its main;
the XLA_FLAGS of the tests' worker processes."""

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str):
    """The module of ``ROOT / relative_path`` (e.g. ``"tools/run_notebooks.py"``), freshly executed."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def xla_flags_with_devices(count: int) -> str:
    """This process's ``XLA_FLAGS`` with the simulated CPU device count set to ``count``: a worker
    process keeps the suite's other flags (tests/conftest.py), so it compiles the same programs."""
    devices = "xla_force_host_platform_device_count"
    kept = [flag for flag in os.environ.get("XLA_FLAGS", "").split() if devices not in flag]
    return " ".join([*kept, f"--{devices}={count}"])
