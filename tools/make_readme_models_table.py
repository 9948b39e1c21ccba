"""Write the models table of README.md and docs/models.md from the model registry (``jaxcnn.models.model_info``).

    python tools/make_readme_models_table.py           # rewrite the table in both pages
    python tools/make_readme_models_table.py --check   # exit 1 if either page's table is stale

The table sits between the ``<!-- models table -->`` and ``<!-- end models table -->`` lines.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # jaxcnn from this checkout

from jaxcnn.models import list_models, model_info  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", ROOT / "docs" / "models.md")
BEGIN, END = "<!-- models table -->\n", "<!-- end models table -->\n"


def table() -> str:
    """The markdown table: one row per registered model, in ``list_models()`` order."""
    lines = ["| model | parameters | GMACs | input | classes | reference |", "|---|---:|---:|---:|---:|---|"]
    for name in list_models():
        info = model_info(name)
        lines.append(
            f"| `{name}` | {info.params:,} | {info.macs / 1e9:.3f} | {info.input_size} | {info.num_classes} "
            f"| {info.reference} |"
        )
    return "\n".join(lines) + "\n"


def with_table(text: str) -> str:
    """``text`` with the part between the markers replaced by ``table()``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"the page needs exactly one {BEGIN.strip()} and one {END.strip()} line")
    head, rest = text.split(BEGIN)
    return head + BEGIN + table() + END + rest.split(END)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's table differs")
    stale = [page for page in PAGES if with_table(page.read_text()) != page.read_text()]
    if parser.parse_args().check:
        for page in stale:
            print(
                f"{page.relative_to(ROOT)}'s models table is stale: run python tools/make_readme_models_table.py",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for page in stale:
        page.write_text(with_table(page.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
