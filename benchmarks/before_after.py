"""The same `jaxcnn bench` commands on two checkouts of jaxcnn, interleaved round by round (before,
after, before, after, ...), so that a change meant to keep speed (a renovation) is compared under
the same machine load; each checkout's rows go to its own results file.

    python benchmarks/before_after.py BEFORE_TREE AFTER_TREE OUT_PREFIX [--rounds 2]

BEFORE_TREE and AFTER_TREE are repository roots (e.g. a `git worktree` of the older commit);
OUT_PREFIX-before.jsonl and OUT_PREFIX-after.jsonl receive the rows. Prints the median img/s of
each (model, batch) per checkout and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

COMMANDS = [  # the train step of the main job's model and of an ImageNet ResNet, small inputs for a 2-core CPU
    ["resnet20", "--batch-size", "32,128", "--image-size", "28", "--in-channels", "1"],
    ["resnet18", "--batch-size", "32,128", "--image-size", "32"],
]


def bench(tree: Path, args: list[str], results: Path) -> None:
    """``python -m jaxcnn bench ARGS --mode train`` with ``tree``'s jaxcnn first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "jaxcnn", "bench", *args, "--mode", "train", "--results", str(results)]
    subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)


def medians(results: Path) -> dict:
    """``{(model, batch): median img/s}`` over the rows of ``results``."""
    rates: dict = {}
    for line in results.read_text().splitlines():
        row = json.loads(line)
        rates.setdefault((row["model"], row["batch"]), []).append(row["img_s"])
    return {key: statistics.median(values) for key, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("out_prefix")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    files = {name: Path(f"{args.out_prefix}-{name}.jsonl") for name in ("before", "after")}
    for _ in range(args.rounds):
        for command in COMMANDS:
            for name, tree in (("before", args.before), ("after", args.after)):
                bench(tree.resolve(), command, files[name].resolve())
    before, after = medians(files["before"]), medians(files["after"])
    for (model, batch), rate in before.items():
        ratio = after[model, batch] / rate
        print(f"{model:>10} batch {batch:>4}: {rate:7.1f} -> {after[model, batch]:7.1f} img/s ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
