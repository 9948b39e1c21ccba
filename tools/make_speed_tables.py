"""Regenerate the README's "Speed" section from the result files in benchmarks/results.

    python tools/make_speed_tables.py          # rewrite README.md between the markers
    python tools/make_speed_tables.py --check  # exit 1 if README.md is stale

Every ``benchmarks/results/*.jsonl`` file (rows of ``jaxcnn.bench.Row``, as ``jaxcnn bench
--results`` and the scripts in benchmarks/ write them) becomes a table, CPU results under
"CPU" and GPU results under "GPU", each with its device, date, versions and command.
tests/bench/test_speed_tables.py fails when the README differs from what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxcnn.bench.report import replace_section, speed_section

ROOT = Path(__file__).resolve().parents[1]


def expected_readme(root: Path = ROOT) -> str:
    """README.md as it should be: its speed section generated from ``root/benchmarks/results``."""
    readme = (root / "README.md").read_text()
    return replace_section(readme, speed_section(root / "benchmarks" / "results", root))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale; change nothing")
    args = parser.parse_args(argv)
    expected = expected_readme()
    if (ROOT / "README.md").read_text() == expected:
        print("README.md speed section is up to date")
        return 0
    if args.check:
        print("README.md speed section is stale: run python tools/make_speed_tables.py", file=sys.stderr)
        return 1
    (ROOT / "README.md").write_text(expected)
    print("README.md speed section regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
