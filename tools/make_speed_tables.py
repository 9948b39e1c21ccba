"""Regenerate the speed tables from the result files in benchmarks/results.

    python tools/make_speed_tables.py          # rewrite README.md and docs/results.md between their markers
    python tools/make_speed_tables.py --check  # exit 1 if either page is stale

Every ``benchmarks/results/*.jsonl`` file (rows of ``jaxcnn.bench.Row``, as ``jaxcnn bench
--results`` and the scripts in benchmarks/ write them) becomes a table of docs/results.md, CPU
results under "CPU" and GPU results under "GPU", each with its device, date, versions and
command; ``benchmarks/results/compile-time/`` gives its compile-time tables; the README gets the
headline rows. tests/test_speed_tables.py fails when a page differs from what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxcnn.bench import report

ROOT = Path(__file__).resolve().parents[1]


def expected_pages(root: Path = ROOT) -> dict[Path, str]:
    """README.md and docs/results.md as they should be, their tables generated from ``root/benchmarks/results``."""
    results = root / "benchmarks" / "results"
    readme = (root / "README.md").read_text()
    readme = report.replace_section(
        readme, report.headline_section(results), report.HEADLINE_BEGIN, report.HEADLINE_END
    )
    page = (root / "docs" / "results.md").read_text()
    page = report.replace_section(page, report.speed_section(results, root))
    page = report.replace_section(
        page, report.compile_section(results / "compile-time", root), report.COMPILE_BEGIN, report.COMPILE_END
    )
    return {root / "README.md": readme, root / "docs" / "results.md": page}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale; change nothing")
    args = parser.parse_args(argv)
    stale = {path: text for path, text in expected_pages().items() if path.read_text() != text}
    if not stale:
        print("the speed tables are up to date")
        return 0
    names = ", ".join(str(path.relative_to(ROOT)) for path in stale)
    if args.check:
        print(f"stale speed tables in {names}: run python tools/make_speed_tables.py", file=sys.stderr)
        return 1
    for path, text in stale.items():
        path.write_text(text)
    print(f"regenerated the speed tables of {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
