"""Every notebook runs top to bottom in quick mode (its cells assert their own results, so executing
it is a test), and its stored outputs are a complete full-mode run with figures."""

import base64
import struct

import nbformat
import pytest

from tests.scripts import load_script

run_notebooks = load_script("tools/run_notebooks.py")

NOTEBOOKS = run_notebooks.notebook_paths()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIN_DPI = 150  # what reads on a laptop and on a projector (the figures are stored at 192)


def test_the_course_notebooks_are_all_there():
    assert [p.stem for p in NOTEBOOKS] == [
        "backpropagation",
        "degradation",
        "design_rules",
        "input_size_and_cost",
        "inside_a_cnn",
        "recipe_components",
        "three_families",
        "transfer_learning",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_in_quick_mode(path):
    run_notebooks.execute(path, quick=True)  # raises CellExecutionError, with the failing cell, on any error


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_outputs_are_one_full_run_with_figures(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert notebook.metadata.get("jaxcnn", {}).get("mode") == "full", "run: python tools/run_notebooks.py --full"
    # executed once, in order, from a fresh kernel
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pngs = [base64.b64decode(o.data["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    assert pngs and all(png.startswith(PNG_MAGIC) for png in pngs)
    assert path.stat().st_size <= run_notebooks.MAX_BYTES


def png_dpi(png: bytes) -> float:
    """The resolution a PNG's pHYs chunk records (pixels per metre, as dots per inch); 0 without one."""
    at = png.find(b"pHYs")
    if at < 0:
        return 0.0
    per_metre_x, per_metre_y, unit = struct.unpack(">IIB", png[at + 4 : at + 13])
    return min(per_metre_x, per_metre_y) * 0.0254 if unit == 1 else 0.0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_figures_are_sharp(path):
    notebook = nbformat.read(path, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    pngs = [base64.b64decode(o.data["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    assert all(png_dpi(png) >= MIN_DPI for png in pngs), [round(png_dpi(png)) for png in pngs]
