"""Imports run downwards only (ARCHITECTURE.md): a package of jaxcnn imports packages of lower
layers and never one of its own layer or above; the course's autodiff stands alone; importing
the models (or jaxcnn) loads no plotting library."""

import subprocess
import sys

import pytest

from tests.scripts import load_script

import_graph = load_script("tools/import_graph.py")

# Lowest first. The root package (jaxcnn/__init__.py, the public API) sits above the library;
# __main__ runs the CLI.
LAYERS = [
    {"validate", "lazy"},
    {"ops", "data"},
    {"models"},
    {"inspect", "convert"},
    {"training"},
    {"bench", "serve"},
    {"cli"},
    {"jaxcnn", "__main__"},
]
LAYER = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
STANDALONE = "autodiff"  # the course's code: imports nothing of jaxcnn, and nothing imports it

EDGES = import_graph.import_edges()


def test_every_package_has_a_layer():
    packages = {package for edge in EDGES for package in edge} - {STANDALONE}
    assert packages <= set(LAYER), f"add {sorted(packages - set(LAYER))} to LAYERS and ARCHITECTURE.md"


def test_imports_point_to_lower_layers_only():
    layered = [(a, b) for a, b in EDGES if a in LAYER and b in LAYER]
    upward = [f"{a} -> {b}" for a, b in layered if LAYER[b] >= LAYER[a]]
    assert not upward, f"imports that do not point to a lower layer: {', '.join(sorted(upward))}"


def test_autodiff_stands_alone():
    touching = [f"{a} -> {b}" for a, b in EDGES if STANDALONE in (a, b)]
    assert not touching, f"the library and the course's autodiff import each other: {', '.join(touching)}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The test above would pass on an empty graph; this one shows that it reads real imports."""
    (tmp_path / "jaxcnn" / "models").mkdir(parents=True)
    (tmp_path / "jaxcnn" / "models" / "net.py").write_text(
        "import jax\n\ndef build():\n    from jaxcnn.training import fit\n    from ..cli import main\n"
    )
    assert import_graph.import_edges(tmp_path) == {("models", "training"): False, ("models", "cli"): False}


@pytest.mark.parametrize("module", ["jaxcnn.models", "jaxcnn"])
def test_importing_the_library_loads_no_plotting(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_autodiff_stays_reachable_from_the_top_level():
    code = "import jaxcnn; print(jaxcnn.autodiff.grad.__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "jaxcnn.autodiff.backprop"
