"""The fast tier (``pytest -m "not slow"``) still covers every test file: each keeps at least one test
that is not marked slow (but the few whose one test is a whole training process, ``PROCESS_ONLY``),
so no module of jaxcnn goes untested in everyday runs."""

import ast

from tests.scripts import ROOT


def is_slow(decorators: list[ast.expr]) -> bool:
    """A ``@pytest.mark.slow`` (or ``pytestmark = pytest.mark.slow``) among ``decorators``."""
    return any(ast.unparse(d).endswith("mark.slow") for d in decorators)


def fast_tests(tree: ast.Module) -> list[str]:
    """The test functions of a test file that ``-m "not slow"`` keeps (a parametrized test counts
    when the test itself is not marked: some of its cases may be)."""
    module_marks = [
        n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "pytestmark"
    ]
    if any(is_slow(m.elts if isinstance(m, ast.List) else [m]) for m in module_marks):
        return []
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    functions += [f for c in tree.body if isinstance(c, ast.ClassDef) for f in c.body if isinstance(f, ast.FunctionDef)]
    return [f.name for f in functions if f.name.startswith("test") and not is_slow(f.decorator_list)]


# Files whose only test runs whole training processes for tens of seconds: the fast tier leaves
# them out (each is named here with what it checks), and `pytest` runs them.
PROCESS_ONLY = {
    "tests/reliability/test_kill.py": "SIGKILL inside checkpoint writes loses nothing",
    "tests/reliability/test_signals.py": "SIGTERM saves, a second signal stops `jaxcnn train` at once",
    "tests/training/test_training_distributed.py": "a 2-process jax.distributed run trains as one process",
}


def test_every_test_file_keeps_a_fast_test():
    files = sorted((ROOT / "tests").rglob("test_*.py"))
    without = [str(path.relative_to(ROOT)) for path in files if not fast_tests(ast.parse(path.read_text()))]
    assert len(files) > 40 and sorted(without) == sorted(PROCESS_ONLY), f"only slow tests in: {without}"


def test_the_check_sees_slow_marks():
    marked = "import pytest\n\n@pytest.mark.slow\ndef test_a():\n    pass\n"
    assert fast_tests(ast.parse(marked)) == []
    assert fast_tests(ast.parse("import pytest\n\npytestmark = [pytest.mark.slow]\n\ndef test_b():\n    pass\n")) == []
    assert fast_tests(ast.parse(marked + "\ndef test_c():\n    pass\n")) == ["test_c"]
