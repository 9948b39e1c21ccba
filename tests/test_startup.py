"""The first seconds: ``import jaxcnn``, ``jaxcnn --help``, ``jaxcnn models`` and ``jaxcnn weights`` load no jax (a
property of what is imported, not a timing), and every re-exported name still resolves on first use
(``jaxcnn.lazy``)."""

import importlib
import json
import subprocess
import sys

import pytest

from jaxcnn.models import list_models, model_info

HEAVY = ("jax", "jaxlib", "flax", "optax", "orbax", "matplotlib", "torch")
PACKAGES = ("jaxcnn", "jaxcnn.models", "jaxcnn.training", "jaxcnn.inspect", "jaxcnn.bench", "jaxcnn.convert")

# Runs the command as `python -m jaxcnn ARGS` does, then reports the heavy modules it loaded.
RUN_AND_REPORT = """
import json, runpy, sys
args, heavy = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["jaxcnn", *args]
try:
    runpy.run_module("jaxcnn", run_name="__main__")
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "heavy": sorted({m.split(".")[0] for m in sys.modules} & heavy)}))
"""


def run_cli(*args: str) -> tuple[list[str], dict]:
    """(stdout lines before the report, the report) of ``python -m jaxcnn ARGS`` in a fresh process."""
    command = [sys.executable, "-c", RUN_AND_REPORT, json.dumps(args), json.dumps(HEAVY)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    *lines, report = done.stdout.splitlines()
    return lines, json.loads(report)


@pytest.mark.parametrize("args", [("--help",), ("train", "--help"), ("summary", "--help"), ("bench", "--help")])
def test_help_loads_no_jax(args):
    lines, report = run_cli(*args)
    assert report == {"code": 0, "heavy": []}
    assert lines[0].startswith("usage: jaxcnn")


def test_models_lists_the_registry_without_loading_jax():
    lines, report = run_cli("models")
    assert report == {"code": 0, "heavy": []}
    assert [line.split()[0] for line in lines] == list_models()
    params = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines}
    assert params == {name: model_info(name).params for name in list_models()}


def test_weights_lists_the_published_weights_without_loading_jax():
    from jaxcnn.models import list_weights

    lines, report = run_cli("weights")
    assert report == {"code": 0, "heavy": []}
    assert [line.split()[0] for line in lines] == [w.name for w in list_weights()]


def test_every_public_name_resolves_to_the_object_of_its_module():
    """In a fresh process: each name of each package's ``__all__`` is its defining module's object
    (a submodule imported first does not replace the function of the same name)."""
    code = (
        "import importlib, inspect, jaxcnn.training.loop, jaxcnn.inspect.summary\n"
        f"for package in {PACKAGES!r}:\n"
        "    module = importlib.import_module(package)\n"
        "    for name in module.__all__:\n"
        "        obj = getattr(module, name)\n"
        "        assert name in dir(module), (package, name)\n"
        "        if not inspect.ismodule(obj) and hasattr(obj, '__module__'):  # constants have no home\n"
        "            home = importlib.import_module(obj.__module__)\n"
        "            assert getattr(home, obj.__name__, None) is obj, (package, name)\n"
        "print(jaxcnn.training.fit.__module__, jaxcnn.inspect.summary.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["jaxcnn.training.loop", "jaxcnn.inspect.summary"]


def test_an_unknown_name_is_an_attribute_error():
    for package in PACKAGES:
        with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
            importlib.import_module(package).nothing_here  # noqa: B018
