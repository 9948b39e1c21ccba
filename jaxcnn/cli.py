"""The ``jaxcnn`` command: models, summary, train, evaluate, predict, export, bench."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import re
import signal
import sys
from pathlib import Path

from jaxcnn.bench.bench_cli import add_bench_parser
from jaxcnn.inspect import add_summary_parser
from jaxcnn.training.config import ConfigError
from jaxcnn.validate import NON_NEGATIVE_INT, POSITIVE_INT, argument_type

_positive, _non_negative = argument_type(POSITIVE_INT), argument_type(NON_NEGATIVE_INT)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad arguments, 1 for a failed run, 128 + the
    signal's number when a signal stopped training: 130 for SIGINT, 143 for SIGTERM).

    Every failure is one line on stderr (a bad value also gets a pointer to ``--help``, an unknown
    flag the usage line); ``--debug`` or ``JAXCNN_DEBUG=1`` shows the traceback instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(_debug_first(argv))
    if unknown:
        subcommand = args.subcommands[args.command]
        subcommand.error(unrecognized(unknown, subcommand))
    debug = args.debug or os.environ.get("JAXCNN_DEBUG", "") not in ("", "0")
    if not debug:
        sys.unraisablehook = _without_closed_loop_noise(sys.unraisablehook)
    try:
        return args.func(args)
    except KeyboardInterrupt as err:  # SIGINT, or a signal before training started (StartupInterrupted)
        if debug:
            raise
        print(f"jaxcnn {args.command}: {err or 'interrupted'}", file=sys.stderr)
        return 128 + getattr(err, "signum", signal.SIGINT)
    except ConfigError as err:  # a value of a flag that TrainConfig refuses: argparse's way
        if debug:
            raise
        subcommand = args.subcommands[args.command]
        subcommand.error(in_flag_words(f"argument --{err.field.replace('_', '-')}: {err.problem}", subcommand))
    except Exception as err:
        if debug:
            raise
        message = in_flag_words(one_line(err), args.subcommands[args.command])
        print(f"jaxcnn {args.command}: error: {message}", file=sys.stderr)
        return 1


def one_line(err: BaseException) -> str:
    """``err`` as one line: its message, with the type and a --debug hint when it is not one of the
    errors jaxcnn raises on purpose (ValueError, TypeError, OSError, RuntimeError and their kinds)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, (ValueError, TypeError, OSError, RuntimeError, ArithmeticError)):
        return text
    return f"{type(err).__name__}: {text} (rerun with --debug for the traceback)"


def in_flag_words(text: str, parser: argparse.ArgumentParser) -> str:
    """``text`` (an error written for Python callers) with the argument names it advises
    (``skip_bad=True``, ``init_from``) spelled as ``parser``'s flags (``--skip-bad``, ``--init-from``).
    Only names with an underscore are replaced: single words (``model``, ``data``) are prose too."""
    flags = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}

    def flag(match: re.Match) -> str:
        return flags.get(match[1], match[0])

    return re.sub(r"(?<![\w/.-])([a-z]+(?:_[a-z]+)+)(?:=True)?(?![\w/]|\.\w)", flag, text)


def unrecognized(unknown: list[str], parser: argparse.ArgumentParser) -> str:
    """The error for arguments ``parser`` does not know, with its closest flags for each unknown
    flag (``--epoch`` -> ``--epochs``)."""
    flags = [option for action in parser._actions for option in action.option_strings]
    hints = []
    for argument in unknown:
        close = difflib.get_close_matches(argument.split("=")[0], flags, n=3, cutoff=0.6)
        if argument.startswith("-") and close:
            hints.append(f"{argument.split('=')[0]}: did you mean {' or '.join(close)}?")
    return f"unrecognized arguments: {' '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints else "")


class Parser(argparse.ArgumentParser):
    """argparse without abbreviated flags: ``--epoch 1`` is an error, not ``--epochs 1``, and with
    a bad value answered in one line. Sub-command parsers made through ``add_subparsers`` are of the
    same class."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        """Exit 2. A bad value of an argument (argparse's ``argument --flag: ...``) is its one line
        and a pointer to ``--help``; anything else (an unknown flag with its closest flags, a
        missing argument) keeps argparse's usage line before it."""
        if message.startswith("argument "):
            self.exit(2, f"{self.prog}: error: {message}\nrun `{self.prog} --help` for every flag\n")
        super().error(message)


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
    parser = Parser(prog="jaxcnn", description="VGGNet, Inception and ResNet in JAX.")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks (also JAXCNN_DEBUG=1); also accepted after COMMAND"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.set_defaults(subcommands=commands.choices)  # for errors found after parsing (exit 2)
    models = commands.add_parser("models", help="list the models with their parameters, MACs and reference")
    models.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'resnet*'")
    models.set_defaults(func=_models)
    weights = commands.add_parser(
        "weights", help="list the published trained weights: model:TAG, top-1, size, and whether they are cached"
    )
    weights.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern of model names, e.g. 'resnet*'")
    weights.set_defaults(func=_weights)
    add_summary_parser(commands)
    _add_train_parser(commands)
    evaluate = commands.add_parser("evaluate", help="test accuracy of a training run's latest checkpoint")
    evaluate.add_argument("out", metavar="OUT_DIR", help="the --out folder of a `jaxcnn train` run")
    evaluate.add_argument(
        "--data",
        type=_data_name,
        default=None,
        help="dataset or image folder (default: the one it trained on; a folder's validation part)",
    )
    evaluate.add_argument(
        "--step", type=_non_negative, default=None, help="checkpoint step (default: the newest that can be restored)"
    )
    evaluate.set_defaults(func=_evaluate)
    _add_serve_parsers(commands)
    add_bench_parser(commands)
    return parser


def _add_serve_parsers(commands) -> None:
    """``jaxcnn predict`` and ``jaxcnn export``: both read a run folder, a torchvision weight file or
    published weights by name."""

    def source(p) -> None:
        p.add_argument(
            "src",
            metavar="SRC",
            help="a `jaxcnn train` run folder, a torchvision weight file, or published weights "
            "(resnet50:DEFAULT, resnet50:IMAGENET1K_V2; `jaxcnn weights` lists them)",
        )
        p.add_argument("--model", type=_model_name, default=None, help="the model of a weight file, e.g. resnet50")
        p.add_argument("--step", type=_non_negative, default=None, help="a run's checkpoint step (default: newest)")
        p.add_argument("--ema", action="store_true", help="a run's moving average of its weights (train --model-ema)")

    predict = commands.add_parser("predict", help="classify image files: top-k class names with probabilities")
    source(predict)
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="image files or folders (searched recursively)")
    predict.add_argument("--top-k", type=_positive, default=5, help="classes shown per image (default 5)")
    predict.add_argument("--batch-size", type=_positive, default=32, help="images per forward pass (default 32)")
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    predict.add_argument(
        "--runtime",
        choices=("jax", "onnx"),
        default="jax",
        help="run the forward pass jitted in JAX (default) or translated to ONNX in onnxruntime "
        "(on a CPU the faster; pip install 'jaxcnn[onnx]')",
    )
    predict.set_defaults(func=_predict)
    export = commands.add_parser(
        "export",
        help="write the evaluation forward pass as a jax.export or ONNX file (uint8 NHWC in, logits out) "
        "and its description",
    )
    source(export)
    export.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the export file; its description (with the file's sha256) goes beside it with the suffix .json: "
        "--out m.jax writes m.jax and m.json",
    )
    export.add_argument(
        "--format",
        choices=("jax", "onnx"),
        default=None,
        help="jax: a jax.export (StableHLO) file for JAX processes; onnx: an ONNX model for onnxruntime, "
        "checked against JAX's logits before it is written (pip install 'jaxcnn[onnx]'). "
        "Default: onnx when --out ends in .onnx, else jax",
    )
    export.add_argument(
        "--platform",
        dest="platforms",
        action="append",
        choices=("cpu", "cuda", "rocm", "tpu"),
        help="lower for this platform, repeatable (default: cpu, cuda and tpu); --format jax only",
    )
    export.set_defaults(func=_export)


def _add_train_parser(commands) -> None:
    """``jaxcnn train``: one flag per ``TrainConfig`` field, generated from the field's declaration
    (``training.config.setting``: its group, help, spelling and parser), in the groups of
    ``TRAIN_GROUPS``. Defaults are left out of the namespace (``SUPPRESS``) so that
    ``_train_config`` knows which flags were given and lets them override ``--config``; the help
    shows ``TrainConfig``'s defaults."""
    from jaxcnn.training.config import FIELDS, TrainConfig

    p = commands.add_parser(
        "train",
        help="train a model (default: resnet20 on the embedded fashion_mnist_small)",
        description="Train with minibatch SGD (jax.grad + optax); writes config.json, "
        "metrics.jsonl, curves.png and checkpoints/ into --out. Every TrainConfig field has a flag.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "--config", type=_config_file, metavar="CONFIG_JSON", help="start from a saved config.json; flags override it"
    )
    groups = {name: p.add_argument_group(name) for name in TRAIN_GROUPS}
    defaults = TrainConfig()
    for name, spec in FIELDS.items():
        option, kwargs = _train_flag(name, spec, getattr(defaults, name))
        groups[spec["group"]].add_argument(option, **kwargs)
    p.set_defaults(func=_train)


TRAIN_GROUPS = ("model", "data", "optimisation", "parallelism", "output")


def _train_flag(name: str, spec, default) -> tuple:
    """``(flag name, argparse keyword arguments)`` of the ``TrainConfig`` field ``name``."""
    flag = dict(spec["flag"])
    option = flag.pop("name", "--" + name.replace("_", "-"))
    kwargs = {"dest": name, "help": spec["help"]}
    if (
        flag.pop("default_help", True)
        and default is not None
        and flag.get("action") not in ("store_true", "store_false")
    ):
        kwargs["help"] = f"{spec['help']}{' ' if spec['help'] else ''}(default {default})"
    parse = flag.pop("parse", None)
    if parse is not None:
        kwargs["type"] = FLAG_PARSERS[parse]
    if spec["choices"]:
        kwargs["choices"] = spec["choices"]
    if isinstance(default, bool) and "action" not in flag:
        kwargs["action"] = argparse.BooleanOptionalAction
    return option, {**kwargs, **flag}


def _train_config(args: argparse.Namespace):
    """The ``TrainConfig`` of ``jaxcnn train``: defaults, then ``--config``, then (with ``--resume``)
    the settings saved in ``--out``, then the flags given."""
    from jaxcnn.training import TrainConfig
    from jaxcnn.training.config import INVOCATION
    from jaxcnn.training.runfolder.record import read_config

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields}
    saved = {k: v for k, v in getattr(args, "config", {}).items() if k != "resume"}  # a recipe, not an action
    if given.get("resume"):
        out = given.get("out", saved.get("out", TrainConfig.out))
        run = read_config(out).to_json()
        saved = {**saved, **{k: v for k, v in run.items() if k not in INVOCATION}, "out": out}
    if "model_overrides" in given:
        given["model_overrides"] = {**saved.get("model_overrides", {}), **dict(given["model_overrides"])}
    return TrainConfig.from_json({**saved, **given})


def _train(args: argparse.Namespace) -> int:
    from jaxcnn.training import fit

    config = _train_config(args)
    result = fit(config)
    if result.interrupted:
        return 128 + result.stop_signal
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
        f"top-5 {100 * result['top5']:.2f}% on {int(result['count'])} images (checkpoint step {result['step']})"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    """Print each file's top-k classes (stdout), each unreadable file as one error line and the
    throughput (stderr); 1 when a file could not be read."""
    import time

    from jaxcnn.serve import Predictor

    predictor = Predictor.from_source(args.src, args.model, step=args.step, runtime=args.runtime, ema=args.ema)
    start, done, failed = time.perf_counter(), 0, 0
    for prediction in predictor.predict(args.images, top_k=args.top_k, batch_size=args.batch_size):
        if prediction.error is not None:
            print(f"jaxcnn predict: error: {prediction.error}", file=sys.stderr)
            failed += 1
            continue
        print(json.dumps(prediction.to_json()) if args.json else prediction.to_text(), flush=True)
        done += 1
    elapsed = time.perf_counter() - start
    print(
        f"{done} images in {elapsed:.2f} s: {done / elapsed:.1f} img/s (decoding and compilation included)",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    from jaxcnn.serve import PLATFORMS, export
    from jaxcnn.serve.export import export_format

    out = Path(args.out)
    if args.platforms and export_format(out, args.format) == "onnx":
        args.subcommands["export"].error("argument --platform: applies to --format jax only (ONNX files run anywhere)")
    platforms = tuple(dict.fromkeys(args.platforms or PLATFORMS))
    description = export(
        args.src, out, model=args.model, step=args.step, platforms=platforms, format=args.format, ema=args.ema
    )
    shape = "x".join(map(str, description["input"]["shape"]))
    onnx = description["format"] == "onnx"
    target = f"ONNX opset {description['opset']}" if onnx else f"for {', '.join(description['platforms'])}"
    print(
        f"wrote {out} ({description['model']}: uint8 {shape} -> {len(description['classes'])} logits, "
        f"{target}) and {out.with_suffix('.json')}"
    )
    return 0


def _models(args: argparse.Namespace) -> int:
    from jaxcnn.models import list_models, model_info

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; `jaxcnn models` lists them all")
    width = max(map(len, names))
    for name in names:
        info = model_info(name)
        size = f"{info.input_size}x{info.input_size}"
        print(
            f"{name:<{width}}  {info.params:>12,} params  {info.macs / 1e9:7.3f} GMACs at {size:<7}  {info.reference}"
        )
    return 0


def _weights(args: argparse.Namespace) -> int:
    """One line per published weight: ``model:TAG``, the publisher's top-1, size, cached or not."""
    from jaxcnn.convert.weights_cache import cache_dir, is_cached
    from jaxcnn.models import get_weights, list_weights

    found = list_weights(args.pattern)
    if not found:
        raise ValueError(f"no model matching {args.pattern!r} has published weights; `jaxcnn weights` lists them all")
    width = max(len(w.name) + len(" (default)") for w in found)
    for w in found:
        label = w.name + (" (default)" if get_weights(w.model) == w else "")
        top1 = f"{w.top1:6.2f}% top-1 {w.dataset:<11}" if w.top1 is not None else f"{'features only':<26}"
        state = "cached" if is_cached(w) else "not cached"
        print(f"{label:<{width}}  {top1}  {w.size_mb:7.1f} MB  {state}")
    print(f"cache: {cache_dir()}", file=sys.stderr)
    return 0


def _model_name(name: str) -> str:
    from jaxcnn.models import model_info

    return _argument(model_info, name)


def _freeze(value: str) -> str:
    from jaxcnn.training.config import FREEZE

    accepts, expected = FREEZE
    if accepts(value):
        return value
    raise argparse.ArgumentTypeError(f"expected {expected}; got {value!r}")


def _data_name(name: str) -> str:
    from jaxcnn.data import check_data

    return _argument(check_data, name)


def _rate_or_same(text: str) -> float | None:
    """``'same'`` -> None (the group has no rate of its own), else the number; TrainConfig checks it."""
    if text == "same":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or same; got {text!r}") from None


def _fractions(text: str) -> tuple[float, ...]:
    """``'0.5,0.75'`` -> ``(0.5, 0.75)``; TrainConfig checks the values."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 0.5,0.75; got {text!r}") from None


def _argument(check, name: str) -> str:
    """``name`` if ``check(name)`` passes; its ValueError becomes an argparse error (exit 2, one line)."""
    try:
        check(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name


def _config_file(path: str) -> dict:
    """The config fields of a run's ``config.json`` (or of a JSON object of fields)."""
    from jaxcnn.training import TrainConfig

    try:
        saved = json.loads(Path(path).read_text())
        fields = saved["config"] if "config" in saved else saved
        TrainConfig.from_json(fields)  # unknown fields and bad values fail here (exit 2)
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise argparse.ArgumentTypeError(f"cannot use {path} as a training config: {err}") from None
    return fields


def _model_arg(text: str) -> tuple[str, object]:
    """``'scan=false'`` -> ``('scan', False)``: the value as JSON (true, 3, 0.5, [1, 2], null), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY a model attribute, e.g. scan=false; got {text!r}"
        )
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


# The parsers a TrainConfig field's flag names (``setting(..., parse=NAME)``): each turns the text
# into the value or says what it expected (exit 2, one line and a pointer to --help).
FLAG_PARSERS = {
    "positive": _positive,
    "non_negative": _non_negative,
    "int": int,
    "float": float,
    "model": _model_name,
    "data": _data_name,
    "freeze": _freeze,
    "fractions": _fractions,
    "rate_or_same": _rate_or_same,
    "model_arg": _model_arg,
}


if __name__ == "__main__":
    sys.exit(main())
