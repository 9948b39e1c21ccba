"""Every ```python block of README.md and docs/*.md runs, so no example can go stale.

Each page's blocks run in order in one namespace, in a fresh working folder (a block may use
what an earlier block on the same page defined). A block preceded by a line
``<!-- skip: REASON -->`` is not run; it is reported as a skipped test with that reason
(needs torch, a download, a GPU). Tracebacks name the page and its line numbers.
"""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^(?:<!-- skip: (?P<skip>.+?) -->\n)?```python\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)


def pages() -> list[Path]:
    """README.md and the documentation pages that hold at least one python block."""
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [page for page in candidates if "```python" in page.read_text()]


def blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(first line of the code, code, skip reason or None)`` for each python block of ``text``."""
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        found.append((line, match["code"], match["skip"]))
    return found


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """A persistent compilation cache for this module: pages that train the same small model
    compile each step once."""
    import jax

    saved = {name: getattr(jax.config, name) for name in CACHE_OPTIONS}
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


CACHE_OPTIONS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
PAGES = pages()
SKIPPED = [(page, line, reason) for page in PAGES for line, _, reason in blocks(page.read_text()) if reason]


def test_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n<!-- skip: needs torch -->\n```python\nimport torch\n```\n```bash\nls\n```\n"
    assert blocks(text) == [(3, "x = 1\n", None), (7, "import torch\n", "needs torch")]
    assert ROOT / "README.md" in PAGES


SLOW_PAGES = (
    "README.md",
    "benchmarking.md",
    "checkpoints.md",
    "getting-started.md",
    "training.md",
    "deploy.md",
)  # they train or export


@pytest.mark.parametrize(
    "page", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_PAGES else p for p in PAGES], ids=page_id
)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for line, code, skip in blocks(page.read_text()):
        if skip is None:
            # blank lines in front keep the page's line numbers in tracebacks
            exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)


@pytest.mark.parametrize(
    ("page", "line", "reason"), SKIPPED, ids=[f"{page_id(p)}:{line}" for p, line, _ in SKIPPED] or None
)
def test_marked_blocks_are_skipped(page, line, reason):
    pytest.skip(f"{page_id(page)}:{line}: {reason}")


SHELL_OPERATORS = (">", ">>", "2>", "|", "<", ";")
SHELL_BLOCK = re.compile(r"^```bash\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)


def command_lines(text: str) -> list[tuple[int, list[str]]]:
    """``(line, arguments after 'jaxcnn')`` of every ``jaxcnn ...`` command (also after ``srun``,
    after ``&&`` or as ``python -m jaxcnn``) in the ```bash blocks of ``text``."""
    found = []
    for match in SHELL_BLOCK.finditer(text):
        first = text.count("\n", 0, match.start("code")) + 1
        lines, pending = [], ""  # a line ending in a backslash goes on in the next
        for offset, line in enumerate(match["code"].splitlines()):
            start = offset - pending.count("\n") if pending else offset
            pending = pending + line + "\n"
            if not line.endswith("\\"):
                lines.append((start, pending.replace("\\\n", " ")))
                pending = ""
        for offset, line in lines:
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                words = words[: next((k for k, w in enumerate(words) if w in SHELL_OPERATORS), len(words))]
                for start in range(len(words)):
                    if words[start] == "jaxcnn" or words[start : start + 3] == ["python", "-m", "jaxcnn"]:
                        skip = 1 if words[start] == "jaxcnn" else 3
                        found.append((first + offset, words[start + skip :]))
                        break
    return found


COMMANDS = [
    (page, line, args)
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for line, args in command_lines(page.read_text())
]


def test_command_lines_are_found():
    text = "```bash\npip install -e . && jaxcnn train  # the main job\nsrun jaxcnn train --distributed\nls\n```\n"
    assert command_lines(text) == [(2, ["train"]), (3, ["train", "--distributed"])]
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("page", "line", "args"), COMMANDS, ids=[f"{page_id(p)}:{line}" for p, line, _ in COMMANDS])
def test_every_command_of_the_docs_parses(page, line, args, monkeypatch):
    """Each ``jaxcnn`` command of README.md and docs/ passes the parser: its subcommand, flags and
    values exist (folders like ``/data/imagenet`` exist only on the reader's machine: any --data is
    taken, as is a --config that an earlier command writes; those in configs/ are read)."""
    import jaxcnn.cli as cli

    monkeypatch.chdir(ROOT)  # --config configs/... is read relative to the repository
    monkeypatch.setitem(cli.FLAG_PARSERS, "data", str)
    monkeypatch.setattr(cli, "_data_name", str)
    read_config = cli._config_file  # a run's config.json that the page's earlier commands write is taken
    monkeypatch.setattr(cli, "_config_file", lambda path: read_config(path) if Path(path).exists() else {})
    try:
        cli.build_parser().parse_args(args)
    except SystemExit as exit:
        assert exit.code == 0, f"{page_id(page)}:{line}: jaxcnn {shlex.join(args)} does not parse"
