"""The ``jaxcnn summary`` subcommand: its arguments (built without importing jax) and its run."""

from __future__ import annotations

import argparse

from jaxcnn.validate import POSITIVE_INT, argument_type


def add_summary_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``summary MODEL [--input 224] [--num-classes N]`` to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "summary",
        help="per-layer shapes, parameters, MACs and receptive fields of a model, with design warnings",
        description="Print the per-layer table of a registered model and the course's design warnings.",
    )
    parser.add_argument("model", help="a name from `jaxcnn models`, e.g. resnet50")
    positive = argument_type(POSITIVE_INT)
    parser.add_argument(
        "--input", type=positive, default=None, help="square input size in pixels (default: the model's own, e.g. 224)"
    )
    parser.add_argument(
        "--num-classes", type=positive, default=None, help="outputs of the last layer (default: the model's own)"
    )
    parser.set_defaults(func=summary_command)
    return parser


def summary_command(args: argparse.Namespace) -> int:
    """Run ``jaxcnn summary``: print the table of ``args.model`` at ``args.input``; returns 0."""
    from jaxcnn.models import create_model, model_info
    from jaxcnn.ops import XLA

    from .summary import summary

    info = model_info(args.model)
    model = create_model(args.model, num_classes=args.num_classes, backend=XLA)
    size = args.input or info.input_size
    print(summary(model, (1, size, size, model.in_channels), num_classes=args.num_classes or info.num_classes))
    return 0
