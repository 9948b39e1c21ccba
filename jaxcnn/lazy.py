"""Public names imported on first use, so that ``import jaxcnn`` (and ``jaxcnn --help``) loads no jax.

A package lists its re-exports as ordinary imports under ``if TYPE_CHECKING:`` (what type checkers
and the API reference read) and ends with::

    __getattr__, __dir__ = lazy_exports(__name__)

``lazy_exports`` reads that block from the package's source, and ``__getattr__`` imports a name's
module when the name is first used: ``jaxcnn.fit`` and ``from jaxcnn import fit`` work as before.
A name that is also a submodule's (``jaxcnn.inspect.summary``, the function, from the module
``jaxcnn/inspect/summary.py``) stays the exported object when the submodule is imported first.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lazy_exports(package: str, modules: tuple[str, ...] = ()) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """``(__getattr__, __dir__)`` for ``package``: each name imported under its ``if TYPE_CHECKING:``
    block, and each submodule named in ``modules``, is imported when first asked for and then kept
    as a module attribute (so it is looked up once)."""
    origins = type_checking_imports(package) | {name: (package, name) for name in modules}
    sys.modules[package].__class__ = _Package
    sys.modules[package]._shadowed = frozenset(name for name, (module, _) in origins.items() if module != package)

    def __getattr__(name: str) -> Any:
        if name not in origins:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = _resolve(*origins[name], package)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list:
        return sorted(set(vars(sys.modules[package])) | set(origins))

    return __getattr__, __dir__


def type_checking_imports(package: str) -> dict[str, tuple[str, str]]:
    """``{name: (absolute module it is imported from, its name there)}`` for the ``from M import name`` statements
    under ``if TYPE_CHECKING:`` at the top of ``package``'s ``__init__.py``."""
    tree = ast.parse(Path(sys.modules[package].__file__).read_text())
    origins = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    module = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package)
                    origins |= {alias.asname or alias.name: (module, alias.name) for alias in statement.names}
    return origins


def _resolve(module: str, name: str, package: str) -> Any:
    """``name`` from ``module``; the submodule ``package.name`` when ``module`` is the package itself."""
    if module == package:
        return importlib.import_module(f"{package}.{name}")
    return getattr(importlib.import_module(module), name)


class _Package(types.ModuleType):
    """A package whose exports shadow its submodules of the same name: importing the submodule
    ``fit`` does not make the package's attribute ``fit`` that module (the import system sets it;
    eager re-exports used to overwrite it)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if not (isinstance(value, types.ModuleType) and name in self.__dict__.get("_shadowed", ())):
            super().__setattr__(name, value)
