"""Print which package of jaxcnn imports which: one line per importing package.

    python tools/import_graph.py [ROOT]     # ROOT: the repository (default: this script's)

A package is the first name under ``jaxcnn`` (``jaxcnn/models/resnet.py`` belongs to
``models``, ``jaxcnn/cli.py`` to ``cli``, ``jaxcnn/__init__.py`` to ``jaxcnn``). Every import
statement counts, also those inside functions; an import that only happens inside a function is
marked ``(lazy)`` when no module of the package imports that package at its top.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_of(module: str) -> str:
    """``'jaxcnn.models.resnet'`` -> ``'models'``; ``'jaxcnn'`` -> ``'jaxcnn'``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path, source_root: Path) -> str:
    """The dotted module name of ``path`` (a ``.py`` file under ``source_root / 'jaxcnn'``)."""
    parts = path.relative_to(source_root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, bool]]:
    """``(imported module, at top level)`` for every import of ``tree``; relative imports are
    resolved against ``module`` (``is_package``: the file is an ``__init__.py``)."""
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "jaxcnn" else [base]
            for name in names:
                yield name, id(node) in top


def import_edges(root: Path = ROOT) -> dict[tuple[str, str], bool]:
    """``{(importing package, imported package): imported at some module's top}`` for every
    import between jaxcnn's packages (a package importing itself is left out)."""
    edges: dict[tuple[str, str], bool] = {}
    for path in sorted((root / "jaxcnn").rglob("*.py")):
        module = module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        for imported, at_top in imported_modules(tree, module, path.name == "__init__.py"):
            if imported.split(".")[0] != "jaxcnn":
                continue
            edge = (package_of(module), package_of(imported))
            if edge[0] != edge[1]:
                edges[edge] = edges.get(edge, False) or at_top
    return edges


def graph_text(edges: dict[tuple[str, str], bool]) -> str:
    """``'models -> data, ops'`` lines, one per importing package, sorted."""
    lines = []
    for source in sorted({a for a, _ in edges}):
        targets = sorted(b for a, b in edges if a == source)
        lines.append(f"{source} -> " + ", ".join(t + ("" if edges[source, t] else " (lazy)") for t in targets))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(graph_text(import_edges(Path(argv[0]) if argv else ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
