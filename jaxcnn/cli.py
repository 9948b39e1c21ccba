"""The ``jaxcnn`` command: models, summary, train, evaluate."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from jaxcnn.inspect import add_summary_parser
from jaxcnn.training.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad arguments, 1 for a failed run, 130 if interrupted).

    Every failure is one line on stderr (bad arguments also get the usage line); ``--debug`` or
    ``JAXCNN_DEBUG=1`` shows the traceback instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(_debug_first(argv))
    debug = args.debug or os.environ.get("JAXCNN_DEBUG", "") not in ("", "0")
    if not debug:
        sys.unraisablehook = _without_closed_loop_noise(sys.unraisablehook)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"jaxcnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except ConfigError as err:  # a value of a flag that TrainConfig refuses: argparse's way
        if debug:
            raise
        args.subcommands[args.command].error(f"argument --{err.field.replace('_', '-')}: {err.problem}")
    except Exception as err:
        if debug:
            raise
        print(f"jaxcnn {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1


def one_line(err: BaseException) -> str:
    """``err`` as one line: its message, with the type and a --debug hint when it is not one of the
    errors jaxcnn raises on purpose (ValueError, TypeError, OSError, RuntimeError and their kinds)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, (ValueError, TypeError, OSError, RuntimeError, ArithmeticError)):
        return text
    return f"{type(err).__name__}: {text} (rerun with --debug for the traceback)"


def _without_closed_loop_noise(hook):
    """``hook`` minus the 'Event loop is closed' errors that tensorstore's callbacks raise when they
    finish after orbax gave up on a damaged checkpoint (already reported in one line)."""

    def filtered(unraisable):
        if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
            hook(unraisable)

    return filtered


def _debug_first(argv: list[str]) -> list[str]:
    """``--debug`` is accepted anywhere on the line; argparse wants it before the subcommand."""
    return ["--debug"] * ("--debug" in argv) + [a for a in argv if a != "--debug"]


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="jaxcnn", description="VGGNet, Inception and ResNet in JAX.")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks (also JAXCNN_DEBUG=1); also accepted after COMMAND"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.set_defaults(subcommands=commands.choices)  # for errors found after parsing (exit 2, usage line)
    models = commands.add_parser("models", help="list the models with their parameter counts")
    models.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'resnet*'")
    models.set_defaults(func=_models)
    add_summary_parser(commands)
    _add_train_parser(commands)
    evaluate = commands.add_parser("evaluate", help="test accuracy of a training run's latest checkpoint")
    evaluate.add_argument("out", metavar="OUT_DIR", help="the --out folder of a `jaxcnn train` run")
    evaluate.add_argument("--data", type=_dataset_name, default=None, help="dataset (default: the one it trained on)")
    evaluate.add_argument(
        "--step", type=_natural, default=None, help="checkpoint step (default: the newest that can be restored)"
    )
    evaluate.set_defaults(func=_evaluate)
    return parser


def _add_train_parser(commands) -> None:
    from jaxcnn.training import TrainConfig
    from jaxcnn.training.config import DTYPES
    from jaxcnn.training.optim import OPTIMIZERS, SCHEDULES
    from jaxcnn.training.parallel import MODES

    d = TrainConfig()
    p = commands.add_parser(
        "train",
        help="train a model (default: resnet20 on the embedded fashion_mnist_small)",
        description="Train with minibatch SGD (jax.grad + optax); writes config.json, "
        "metrics.jsonl, curves.png and checkpoints/ into --out.",
    )
    p.add_argument(
        "--model", type=_model_name, default=d.model, help=f"a name from `jaxcnn models` (default {d.model})"
    )
    p.add_argument("--data", type=_dataset_name, default=d.data, help=f"dataset name (default {d.data})")
    p.add_argument("--data-root", default=None, help="folder searched first for dataset files")
    p.add_argument("--epochs", type=_positive, default=d.epochs)
    p.add_argument("--batch-size", type=_positive, default=d.batch_size, help="global batch size")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--dtype", choices=DTYPES, default=d.dtype, help="compute dtype")
    p.add_argument("--parallel", choices=MODES, default=d.parallel)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--max-steps", type=_positive, default=None, help="stop after N steps")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="also checkpoint every N steps")
    p.add_argument("--keep-checkpoints", type=_positive, default=d.keep_checkpoints)
    p.add_argument("--out", default=d.out, help=f"output folder (default {d.out})")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--distributed", action="store_true", help="multi-host: call jax.distributed.initialize")
    p.add_argument("--coordinator-address", default=None, help="host:port of process 0 ($JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=_positive, default=None, help="($JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=None, help="($JAX_PROCESS_ID)")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from jaxcnn.training import TrainConfig, fit

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    result = fit(config)
    if result.interrupted:
        return 130
    last = result.history[-1]
    print(
        f"test accuracy {100 * last['test_accuracy']:.2f}% on {config.data} after {last['epoch']} epochs "
        f"({last['step']} steps, {last['elapsed_s']:.0f} s); run saved in {result.out}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from jaxcnn.training import evaluate

    result = evaluate(args.out, args.data, step=args.step)
    print(
        f"test loss {result['loss']:.4f}, top-1 accuracy {100 * result['accuracy']:.2f}%, "
        f"top-5 {100 * result['top5']:.2f}% on {int(result['count'])} images"
    )
    return 0


def _models(args: argparse.Namespace) -> int:
    from jaxcnn.models import count_params, create_model, init_shapes, list_models, model_info

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; `jaxcnn models` lists them all")
    width = max(map(len, names))
    for name in names:
        info = model_info(name)
        params = count_params(init_shapes(create_model(name), info.input_size))
        print(f"{name:<{width}}  {params:>12,}  {info.reference}")
    return 0


def _model_name(name: str) -> str:
    from jaxcnn.models import model_info

    return _argument(model_info, name)


def _dataset_name(name: str) -> str:
    from jaxcnn.data import check_dataset_name

    return _argument(check_dataset_name, name)


def _argument(check, name: str) -> str:
    """``name`` if ``check(name)`` passes; its ValueError becomes an argparse error (exit 2, usage line)."""
    try:
        check(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name


def _positive(text: str) -> int:
    return _integer(text, 1, "a positive integer")


def _natural(text: str) -> int:
    return _integer(text, 0, "an integer >= 0")


def _integer(text: str, least: int, expected: str) -> int:
    """``int(text)`` if it is at least ``least``; else an argparse error (exit 2, usage line)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
