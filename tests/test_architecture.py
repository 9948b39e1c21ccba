"""Imports run downwards only (ARCHITECTURE.md): a package of jaxcnn imports packages of lower
layers and never one of its own layer or above; the course's autodiff stands alone; importing
the models (or jaxcnn) loads no plotting library."""

import ast
import subprocess
import sys
from pathlib import Path

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
ROOT = Path(__file__).resolve().parents[1]


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


def test_no_two_modules_share_a_basename():
    """A name says which module it is: ``sources.py`` or ``inputs.py`` twice made a reader guess."""
    paths = [path for path in (ROOT / "jaxcnn").rglob("*.py") if path.name != "__init__.py"]
    names = [path.name for path in paths]
    shared = sorted({str(p.relative_to(ROOT)) for p in paths if names.count(p.name) > 1})
    assert len(paths) > 50 and not shared, f"modules sharing a basename: {', '.join(shared)}"


# Inside jaxcnn.training, lowest first: the config imports no jax; the step's parts; the run
# folder's files; what a run is built from (parts); reading weights back; the loop (fit) on top.
TRAINING_LAYERS = [
    {"config", "signals"},
    {"step", "optim", "parallel"},
    {"runfolder.lock"},
    {"runfolder.checkpoints"},
    {"runfolder.record"},
    {"parts"},
    {"readers"},
    {"loop"},
]


def test_training_modules_import_downwards_only():
    rank = {module: r for r, modules in enumerate(TRAINING_LAYERS) for module in modules}
    package = ROOT / "jaxcnn" / "training"
    modules = {".".join(p.relative_to(package).with_suffix("").parts) for p in package.rglob("*.py")}
    assert modules - {"__init__", "runfolder.__init__"} == set(rank), "add the new module to TRAINING_LAYERS"
    upward = []
    for module in rank:
        tree = ast.parse((package / f"{module.replace('.', '/')}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = module.split(".")[: -node.level] if node.level <= module.count(".") + 1 else []
                target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                if target in rank and rank[target] >= rank[module] and target != module:
                    upward.append(f"{module} -> {target}")
    assert not upward, f"training modules importing their own layer or above: {', '.join(upward)}"
