"""Execute the notebooks in notebooks/, top to bottom, in a fresh kernel.

    python tools/run_notebooks.py [NAME...]         # quick mode (JAXCNN_QUICK=1): a check, nothing is written
    python tools/run_notebooks.py --full [NAME...]  # full mode: the stored outputs (figures as PNG) are replaced

NAME is a notebook's file name with or without ``.ipynb`` (default: all of them). Every notebook
reads ``JAXCNN_QUICK`` to choose its budget (few steps and small subsets when it is ``1``); its
cells assert their own results, so an execution that ends without an error is a pass. Full mode
records ``{"mode": "full", "seconds": ...}`` under the notebook's ``jaxcnn`` metadata, which
tests/test_notebooks.py checks, and refuses to save a notebook over ``MAX_BYTES``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from unittest import mock

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MAX_BYTES = 2_000_000  # GitHub and nbviewer render notebooks of this size comfortably
CELL_TIMEOUT_S = 3600


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The notebooks called ``names`` (all of notebooks/ when empty), sorted; unknown names raise ValueError."""
    every = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not names:
        return every
    by_name = {p.stem: p for p in every}
    unknown = [n for n in names if n.removesuffix(".ipynb") not in by_name]
    if unknown:
        raise ValueError(f"unknown notebook(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n.removesuffix(".ipynb")] for n in names]


def execute(path: Path, quick: bool) -> tuple[nbformat.NotebookNode, float]:
    """Run ``path`` in a fresh ``python3`` kernel (working directory notebooks/); return the
    executed notebook and the wall time in seconds. Raises ``CellExecutionError`` (naming the
    failing cell) when a cell fails or one of its asserts does not hold."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        record_timing=False,  # no timestamps: the same seed gives the same stored file
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    with mock.patch.dict(os.environ, {"JAXCNN_QUICK": "1" if quick else "0"}):  # the kernel inherits it
        client.execute()
    return notebook, time.perf_counter() - started


def save_full(path: Path, notebook: nbformat.NotebookNode, seconds: float) -> int:
    """Write a full-mode execution over ``path``; return its size in bytes (ValueError over ``MAX_BYTES``)."""
    notebook.metadata["jaxcnn"] = {"mode": "full", "seconds": round(seconds)}
    text = nbformat.writes(notebook) + "\n"
    size = len(text.encode())
    if size > MAX_BYTES:
        raise ValueError(f"{path.name} would be {size:,} bytes, over {MAX_BYTES:,}: use fewer or smaller figures")
    path.write_text(text)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all)")
    parser.add_argument("--full", action="store_true", help="full mode, and save the outputs in place")
    args = parser.parse_args(argv)
    try:
        paths = notebook_paths(args.names)
    except ValueError as error:
        parser.error(str(error))
    for path in paths:
        notebook, seconds = execute(path, quick=not args.full)
        saved = f", saved {save_full(path, notebook, seconds):,} bytes" if args.full else ""
        print(f"{path.name}: {'full' if args.full else 'quick'} mode, {seconds:.0f} s{saved}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
