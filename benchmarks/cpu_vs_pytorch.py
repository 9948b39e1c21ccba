"""The CPU speed table: jaxcnn's train step against PyTorch's on the same CPU.

    python benchmarks/cpu_vs_pytorch.py [--steps 10] [--repeats 5] [--conv cpu,xla] [--results FILE]

Rows (all from ``jaxcnn.bench``, in one process, so the ratios compare like with like):
resnet20 on 1x28x28 (the main job's input) and resnet18 on 3x32x32, at batch 32 and 128, the
full SGD-Nesterov float32 step, for each jaxcnn backend in ``--conv`` (set as ``$JAXCNN_CONV``,
which ``create_model`` reads when the benchmark builds each model), and PyTorch eager in both
memory layouts (``--compare torch-eager``; the ratio is against PyTorch's faster layout). Then
resnet110's scanned and unrolled steps at batch 8, 32x32 (the price of ``nn.scan`` on XLA:CPU)
with their compile times.

PyTorch is optional (``pip install -e ".[torch]"``): without it the jaxcnn rows are measured
and the comparison rows say why they were skipped. Rows are appended to ``--results``
(default: ``benchmarks/results/<today>-cpu-vs-pytorch.jsonl``) and printed as a table.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from jaxcnn import bench
from jaxcnn.bench.rows import dated_path

CELLS = [("resnet20", 28, 1), ("resnet18", 32, 3)]

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--conv", default="cpu,xla", help="jaxcnn convolution implementations to measure")
    parser.add_argument("--results", default=None)
    args = parser.parse_args(argv)
    command = "python " + shlex.join(["benchmarks/cpu_vs_pytorch.py", *(argv or sys.argv[1:])])
    timing = dict(warmup=3, steps=args.steps, repeats=args.repeats, num_classes=10, command=command)
    path = args.results or dated_path(RESULTS, "cpu-vs-pytorch")
    rows = []
    for impl in args.conv.split(","):
        os.environ["JAXCNN_CONV"] = impl
        for model, size, channels in CELLS:
            compare = "torch-eager" if impl == args.conv.split(",")[0] else None
            rows += _tagged(
                bench.benchmark(
                    model,
                    batch_sizes=(32, 128),
                    image_size=size,
                    in_channels=channels,
                    compare=compare,
                    **timing,
                ),
                impl,
            )
        deep = {**timing, "warmup": 1, "steps": 2, "repeats": 3}  # a scanned resnet110 step takes seconds
        for layout in ("scan", "unrolled"):
            rows += _tagged(bench.benchmark("resnet110", batch_sizes=(8,), image_size=32, layout=layout, **deep), impl)
    bench.append_jsonl(path, rows)
    print(bench.format_table(rows))
    print(f"rows appended to {path}")
    return 0


def _tagged(rows: list[bench.Row], impl: str) -> list[bench.Row]:
    """Mark jaxcnn rows with the convolution implementation (and layout) they ran."""
    for row in rows:
        if row.framework == "jaxcnn":
            row.variant = f"{row.variant} conv={impl}"
            row.note = f"conv={impl}, layout={row.layout}" if row.model == "resnet110" else f"conv={impl}"
    return rows


if __name__ == "__main__":
    sys.exit(main())
