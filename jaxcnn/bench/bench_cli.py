"""The ``jaxcnn bench`` subcommand: arguments, table on stdout, results file and plot."""

from __future__ import annotations

import argparse
import shlex
import sys

from jaxcnn.training.config import DTYPES
from jaxcnn.validate import NON_NEGATIVE_INT, POSITIVE_INT, POSITIVE_NUMBER, argument_type

from .rows import COMPARE, LAYOUTS, MODES

_positive, _nonnegative = argument_type(POSITIVE_INT), argument_type(NON_NEGATIVE_INT)
_positive_number = argument_type(POSITIVE_NUMBER, float)


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``bench MODEL|PATTERN... [options]`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "bench",
        help="training / inference throughput, TFLOP/s, MFU and compile time; PyTorch side by side",
        description="Benchmark models: train = the full SGD step jaxcnn train runs, eval = forward in eval mode, "
        "fit = jaxcnn.fit end to end on synthetic data. Rates are medians over --repeats blocks of --steps "
        "steps after --warmup steps; compilation is timed apart.",
    )
    p.add_argument("models", nargs="+", type=_model_or_pattern, metavar="MODEL|PATTERN", help="e.g. resnet50 'vgg1*'")
    p.add_argument("--batch-size", type=_batch_list, default=(32,), help="comma-separated, e.g. 32,128,256")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="compute dtype")
    p.add_argument("--mode", choices=MODES, default="train")
    p.add_argument("--image-size", type=_positive, default=None, help="input side (default: the model's own)")
    p.add_argument("--in-channels", type=_positive, default=None, help="input channels (default 3)")
    p.add_argument("--num-classes", type=_positive, default=None, help="outputs (default: the model's own)")
    p.add_argument("--warmup", type=_nonnegative, default=3, help="untimed steps (default 3)")
    p.add_argument("--steps", type=_positive, default=10, help="steps per timed block (default 10)")
    p.add_argument("--repeats", type=_positive, default=3, help="timed blocks; img/s is their median (default 3)")
    p.add_argument("--layout", choices=LAYOUTS, default="default", help="repeated ResNet blocks scanned or unrolled")
    p.add_argument("--compare", choices=COMPARE, default=None, help="PyTorch in the same process")
    p.add_argument("--results", default=None, metavar="FILE", help="append the rows to FILE (JSON lines)")
    p.add_argument("--plot", default=None, metavar="FILE", help="draw img/s against batch size (PNG)")
    p.add_argument(
        "--peak-tflops", type=_positive_number, default=None, help="peak TFLOP/s for MFU (default: table/measured)"
    )
    p.set_defaults(func=bench_command)
    return p


def bench_command(args: argparse.Namespace) -> int:
    """Run ``jaxcnn bench``: rows as they come on stderr, the table on stdout; returns 0."""
    from . import append_jsonl, format_table, iter_benchmark, plot_rows

    rows = []
    for row in iter_benchmark(
        [m for group in args.models for m in group],
        batch_sizes=args.batch_size,
        mode=args.mode,
        dtype=args.dtype,
        image_size=args.image_size,
        in_channels=args.in_channels,
        num_classes=args.num_classes,
        layout=args.layout,
        warmup=args.warmup,
        steps=args.steps,
        repeats=args.repeats,
        compare=args.compare,
        peak=args.peak_tflops,
        command=canonical_command(args),
    ):
        rows.append(row)
        rate = f"{row.img_s:,.1f} img/s" if row.status == "ok" else f"{row.status}: {row.note}"
        print(f"{row.model} {row.framework} {row.variant} {row.mode} batch {row.batch}: {rate}", file=sys.stderr)
        if args.results:
            append_jsonl(args.results, [row])
    print(format_table(rows))
    if args.plot:
        print(f"plot: {plot_rows(rows, args.plot)}")
    return 0


def canonical_command(args: argparse.Namespace) -> str:
    """The ``jaxcnn bench`` command line that reruns ``args`` (every option spelled out)."""
    words = ["jaxcnn", "bench", *[m for group in args.models for m in group]]
    words += ["--batch-size", ",".join(map(str, args.batch_size)), "--dtype", args.dtype, "--mode", args.mode]
    for name in ("image_size", "in_channels", "num_classes", "peak_tflops"):
        if getattr(args, name) is not None:
            words += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    words += ["--warmup", str(args.warmup), "--steps", str(args.steps), "--repeats", str(args.repeats)]
    words += ["--layout", args.layout] + (["--compare", args.compare] if args.compare else [])
    return shlex.join(words)


def _model_or_pattern(text: str) -> list[str]:
    from . import resolve_models

    try:
        return resolve_models([text])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _batch_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or not all(map(POSITIVE_INT.accepts, sizes)):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas (32,128,256), got {text!r}")
    return sizes
