"""The four families on one accelerator against PyTorch, in one process: the GPU speed table.

    python benchmarks/gpu_vs_pytorch.py [--dtype bfloat16] [--steps 20] [--repeats 5] [--quick]

jaxcnn's train step (bf16 compute, float32 parameters) against PyTorch eager (AMP bf16, both
memory layouts) and ``torch.compile``, then ``jaxcnn.fit`` end to end for ResNet-50 beside its
bare step. Rows go to ``benchmarks/results/<today>-gpu-vs-pytorch.jsonl`` (``--results``
overrides) and the table to stdout; ``python tools/make_speed_tables.py`` then updates the
README. Refuses to store CPU figures under the GPU name: on a CPU it exits with status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import jax

from jaxcnn import bench
from jaxcnn.bench.rows import dated_path
from jaxcnn.training.config import DTYPES

# (model, batch sizes, image size) of each cell of the table
CONFIGS = (
    ("resnet18", (256,), 224),
    ("vgg16", (128,), 224),
    ("googlenet", (256,), 224),
    ("inception_v3", (128,), 299),
    ("resnet50", (256, 512), 224),
)

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=DTYPES, default="bfloat16")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare", choices=bench.COMPARE, default="torch")
    parser.add_argument("--quick", action="store_true", help="resnet50 at batch 256 only, no fit row")
    parser.add_argument("--results", default=None, help="default: benchmarks/results/<today>-gpu-vs-pytorch.jsonl")
    args = parser.parse_args(argv)
    if jax.default_backend() == "cpu":
        print("gpu_vs_pytorch.py: JAX sees no accelerator; run it where one is", file=sys.stderr)
        return 2
    command = shlex.join(["python", "benchmarks/gpu_vs_pytorch.py", *(sys.argv[1:] if argv is None else argv)])
    results = args.results or dated_path(RESULTS, "gpu-vs-pytorch")
    common = dict(dtype=args.dtype, warmup=args.warmup, steps=args.steps, repeats=args.repeats, command=command)
    runs = [("resnet50", (256,), 224, "train")] if args.quick else [(*c, "train") for c in CONFIGS]
    runs += [] if args.quick else [("resnet50", (256,), 224, "fit")]
    rows = []
    for model, batches, size, mode in runs:
        compare = args.compare if mode == "train" else None
        for row in bench.iter_benchmark(
            model, batch_sizes=batches, image_size=size, mode=mode, compare=compare, **common
        ):
            rows.append(row)
            bench.append_jsonl(results, [row])
            print(bench.format_table([row]).splitlines()[-1], flush=True)
    print(bench.format_table(rows))
    print(f"rows appended to {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
