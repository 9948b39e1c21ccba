"""Write the registry's tables: the models table of README.md and docs/models.md
(``jaxcnn.models.model_info``) and the published weights table of docs/weights.md
(``jaxcnn.models.list_weights``).

    python tools/make_readme_models_table.py           # rewrite the tables
    python tools/make_readme_models_table.py --check   # exit 1 if a page's table is stale

Each table sits between its ``<!-- models table -->`` / ``<!-- weights table -->`` line and the
matching ``<!-- end ... -->`` line.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # jaxcnn from this checkout

from jaxcnn.models import get_weights, list_models, list_weights, model_info  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def weights_table() -> str:
    """The markdown table: one row per published weight, in ``list_weights()`` order."""
    lines = [
        "| weights | dataset | top-1 | top-5 | evaluation | MB | source | licence | also on the Hub |",
        "|---|---|---:|---:|---|---:|---|---|---|",
    ]
    for w in list_weights():
        name = f"`{w.name}`" + (" (default)" if get_weights(w.model) == w else "")
        scores = [f"{score:.3f}" if score is not None else "-" for score in (w.top1, w.top5)]
        transform = f"resize {w.resize}, crop {w.crop}" if w.resize else f"{w.crop}x{w.crop}"
        hub = f"`{w.hf_hub}`" if w.hf_hub else "-"
        lines.append(
            f"| {name} | {w.dataset} | {scores[0]} | {scores[1]} | {transform} | {w.size_mb:.1f} "
            f"| [{w.file}]({w.url}) | {w.license} | {hub} |"
        )
    return "\n".join(lines) + "\n"


TABLES = {  # marker name -> (table, pages)
    "models table": (table, (ROOT / "README.md", ROOT / "docs" / "models.md")),
    "weights table": (weights_table, (ROOT / "docs" / "weights.md",)),
}


def with_table(text: str, marker: str, make) -> str:
    """``text`` with the part between the ``marker`` lines replaced by ``make()``."""
    begin, end = f"<!-- {marker} -->\n", f"<!-- end {marker} -->\n"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"the page needs exactly one {begin.strip()} and one {end.strip()} line")
    head, rest = text.split(begin)
    return head + begin + make() + end + rest.split(end)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page's table differs")
    check = parser.parse_args().check
    stale = []
    for marker, (make, pages) in TABLES.items():
        for page in pages:
            text = page.read_text()
            if with_table(text, marker, make) != text:
                stale.append((page, marker))
                if not check:
                    page.write_text(with_table(text, marker, make))
    for page, marker in stale if check else ():
        print(
            f"{page.relative_to(ROOT)}'s {marker} is stale: run python tools/make_readme_models_table.py",
            file=sys.stderr,
        )
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
