"""Fault injection: shared runs and a compilation cache that the tests' subprocesses share.

Every test here compiles the same tiny ResNet (tests/training/runs.py); JAX's persistent
compilation cache lets the second and later processes load the programs instead of
compiling them again, which keeps the suite's many short-lived processes fast. Cached
programs are the compiled programs, so results stay bit-identical.
"""

import os
import shutil

import jax
import pytest
from jax._src import compilation_cache

from tests.training.conftest import tiny_data  # noqa: F401  (the fixture, shared)
from tests.training.runs import tiny_config

CACHE_OPTIONS = {"jax_persistent_cache_min_compile_time_secs": 0, "jax_persistent_cache_min_entry_size_bytes": 0}


@pytest.fixture(scope="session")
def compile_cache(tmp_path_factory):
    """A session-wide persistent compilation cache folder."""
    return tmp_path_factory.mktemp("xla_cache")


@pytest.fixture(autouse=True, scope="module")
def use_compile_cache(compile_cache):
    """This process compiles through the cache while the module's tests run."""
    saved = {name: getattr(jax.config, name) for name in ["jax_compilation_cache_dir", *CACHE_OPTIONS]}
    for name, value in {"jax_compilation_cache_dir": str(compile_cache), **CACHE_OPTIONS}.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()  # the cache is set up once per process; make it see the folder
    yield
    for name, value in saved.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()


@pytest.fixture(scope="session")
def child_env(compile_cache):
    """The environment for a test's subprocess: this checkout first on the path, the shared cache."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "JAX_COMPILATION_CACHE_DIR": str(compile_cache),
        **{name.upper(): str(value) for name, value in CACHE_OPTIONS.items()},
    }


@pytest.fixture(scope="session")
def reference(tiny_data, tmp_path_factory):  # noqa: F811
    """An uninterrupted 2-epoch run (16 steps) that keeps a checkpoint of every step."""
    from jaxcnn.training import fit

    train, test = tiny_data
    return fit(tiny_config(tmp_path_factory.mktemp("reference"), **REFERENCE), train=train, test=test)


REFERENCE = {"checkpoint_every": 1, "keep_checkpoints": 16}


def copy_run(run, dest):
    """A copy of a run folder (config, metrics, checkpoints); returns ``dest``."""
    shutil.copytree(run, dest)
    return dest
