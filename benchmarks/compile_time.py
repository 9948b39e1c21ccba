"""Compile time and step time of the train step against depth, scanned and unrolled, for any model.

    python benchmarks/compile_time.py [--models resnet20 resnet56 resnet110 resnet1202] [--batch-size 8]
                                      [--steps 5] [--repeats 3] [--compiles 1] [--results FILE]

For each model and layout (``default``: the model's own, which scans ResNet stages that repeat
a block 12+ times; ``scan``; ``unrolled``; only ``default`` for models without repeated blocks)
``jaxcnn.bench`` lowers and compiles the full train step (``make_train_step``, SGD-Nesterov,
as ``jaxcnn train`` runs it) at ``--batch-size``, 32x32 (or the model's minimum input size),
and times ``--repeats`` blocks of ``--steps`` steps after one warm-up step. Compile time is the
median of ``--compiles`` fresh compilations. Unrolled nets of more than ``--max-unrolled-blocks``
residual blocks are skipped (their compilation grows with depth).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys

from jaxcnn import bench
from jaxcnn.bench.rows import LAYOUTS
from jaxcnn.models import create_model


def layouts(name: str, max_unrolled_blocks: int) -> list[str]:
    """The layouts worth measuring for ``name``."""
    model = create_model(name)
    if not hasattr(model, "scan"):
        return ["default"]
    blocks = sum(model.stage_sizes)
    return [layout for layout in LAYOUTS if layout != "unrolled" or blocks <= max_unrolled_blocks]


def measure(name: str, layout: str, args: argparse.Namespace) -> list[bench.Row]:
    """``--compiles`` train-mode rows of ``name`` in ``layout``."""
    size = max(32, create_model(name).min_input_size)
    kwargs = dict(batch_sizes=(args.batch_size,), image_size=size, layout=layout, warmup=1)
    kwargs |= dict(steps=args.steps, repeats=args.repeats, command=args.command)
    return [bench.benchmark(name, **kwargs)[0] for _ in range(args.compiles)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "resnet110", "resnet1202"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks; the step time is their median")
    parser.add_argument("--compiles", type=int, default=1, help="fresh compilations; the median is reported")
    parser.add_argument("--max-unrolled-blocks", type=int, default=54, help="skip unrolled nets deeper (54: resnet110)")
    parser.add_argument("--results", default=None, help="append the rows to this JSON-lines file")
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "benchmarks/compile_time.py", *(sys.argv[1:] if argv is None else argv)])
    names = bench.resolve_models(args.models)
    print(f"batch {args.batch_size}; {args.repeats} blocks of {args.steps} steps; {args.compiles} compilation(s)")
    print("| model | layout | input | compile (s) | train step (ms) | device |\n|---|---|---:|---:|---:|---|")
    for name in names:
        for layout in layouts(name, args.max_unrolled_blocks):
            rows = measure(name, layout, args)
            ok = [r for r in rows if r.status == "ok"]
            if not ok:
                print(f"| {name} | {layout} | {rows[0].image_size} | {rows[0].status}: {rows[0].note} | | |")
                continue
            compile_s = statistics.median(r.compile_s for r in ok)
            step_ms = statistics.median(r.step_ms for r in ok)
            size, device = ok[0].image_size, ok[0].device_kind
            print(f"| {name} | {layout} | {size} | {compile_s:.1f} | {step_ms:.1f} | {device} |", flush=True)
            if args.results:
                bench.append_jsonl(args.results, rows)


if __name__ == "__main__":
    main()
