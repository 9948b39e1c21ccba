"""The jaxcnn command: model listing against torchvision's counts, train flags = TrainConfig, bad arguments."""

import argparse
import dataclasses
import json

import pytest
from PIL import Image

from jaxcnn.cli import _train_config, build_parser, main
from jaxcnn.training import TrainConfig
from jaxcnn.training.config import ConfigError


def test_models_lists_names_with_torchvision_parameter_counts(capsys):
    assert main(["models", "vgg1[16]"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["vgg11", "132,863,336"], ["vgg16", "138,357,544"]]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "resnet21"], "Did you mean: resnet32, resnet20"),
        (["train", "--data", "fashion_mnist_smal"], "Did you mean 'fashion_mnist_small'"),
        (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["train", "--lr", "fast"], "invalid float value"),
        (["train", "--freeze", "all"], "argument --freeze: expected none, backbone or a number of stages >= 1"),
        (["summary", "resnet20", "--input", "0"], "expected a positive integer, got '0'"),
        (["summary", "resnet20", "--input", "-3"], "expected a positive integer, got '-3'"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_values_exit_2_in_one_line_and_a_pointer_to_help(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and len(lines) <= 3, lines  # before: the whole usage, 25 lines for train
    assert lines[0].startswith("jaxcnn") and message in lines[0] and "argument " in lines[0]
    assert lines[-1] == f"run `{lines[0].split(': error')[0]} --help` for every flag"


def test_a_failing_command_exits_1_with_the_reason(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "is not a jaxcnn training folder" in capsys.readouterr().err
    assert main(["models", "alexnet*"]) == 1
    assert "no model matches 'alexnet*'" in capsys.readouterr().err


def train_config(*argv):
    return _train_config(build_parser().parse_args(["train", *argv]))


def train_parser():
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["train"]


def test_every_train_config_field_has_a_train_flag():
    dests = {action.dest for action in train_parser()._actions}
    assert {f.name for f in dataclasses.fields(TrainConfig)} - dests == set()


def test_train_without_flags_is_the_default_config():
    assert train_config() == TrainConfig()


def test_train_flags_set_their_config_fields():
    argv = "--pad 4 --flip --image-size 32 --momentum 0.8 --no-nesterov --eval-batch-size 100 --no-progress"
    assert train_config(*argv.split()) == TrainConfig(
        pad=4, flip=True, image_size=32, momentum=0.8, nesterov=False, eval_batch_size=100, progress=False
    )


def test_model_args_are_parsed_as_json_values_or_text():
    config = train_config(
        *("--model-arg", "scan=false", "--model-arg", "remat=true", "--model-arg", "stage_sizes=[1, 1, 1]"),
        *("--model-arg", "stem_width=8", "--model-arg", "shortcut=none", "--model-arg", "bn_axis_name=null"),
    )
    assert config.model_overrides == {
        "scan": False,
        "remat": True,
        "stage_sizes": [1, 1, 1],
        "stem_width": 8,
        "shortcut": "none",
        "bn_axis_name": None,
    }


def test_config_file_is_loaded_and_explicit_flags_override_it(tmp_path):
    saved = TrainConfig(lr=0.05, epochs=5, flip=True, model_overrides={"scan": True, "remat": True})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": saved.to_json(), "data": {}}))  # as fit writes it
    config = train_config("--config", str(path), "--epochs", "2", "--no-flip", "--model-arg", "remat=false")
    assert config == dataclasses.replace(saved, epochs=2, flip=False, model_overrides={"scan": True, "remat": False})
    # a flag given with its default value still overrides the file
    assert train_config("--config", str(path), "--lr", "0.1").lr == 0.1


def test_train_help_groups_the_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    sections = {
        title: text.index(f"\n{title}:\n") for title in ("model", "data", "optimisation", "parallelism", "output")
    }
    assert list(sections) == sorted(sections, key=sections.get)  # in this order
    for flag, section in (("--model-arg", "model"), ("--flip", "data"), ("--momentum", "optimisation")):
        after = [t for t, start in sections.items() if start < text.index(f"  {flag}")]
        assert after[-1] == section, flag


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model-arg", "scan"], "expected KEY=VALUE"),
        (["--config", "absent.json"], "cannot use absent.json as a training config"),
        (["--pad", "-1"], "argument --pad: expected an integer >= 0, got '-1'"),
        (["--freeze", "all"], "argument --freeze: expected none, backbone or a number of stages >= 1; got 'all'"),
        (
            ["--auto-augment", "rand-q3"],
            "--auto-augment: expected one of ta_wide, ra, imagenet, cifar10, svhn or timm's",
        ),
        (["--lr", "0.05", "--min-lr", "0.1"], "argument --min-lr: expected a rate <= lr=0.05, got 0.1"),
        (["--train-interpolation", "nearest"], "argument --train-interpolation: invalid choice: 'nearest'"),
    ],
)
def test_bad_train_options_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_unknown_config_fields_are_refused(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"lr": 0.1, "colour": "red"}))
    with pytest.raises(SystemExit):
        main(["train", "--config", str(path)])
    assert "unknown config fields: colour" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, usage, message",
    [
        (["train", "--epoch", "1"], "usage: jaxcnn train", "--epoch: did you mean --epochs"),
        (["train", "--batchsize", "8"], "usage: jaxcnn train", "--batchsize: did you mean --batch-size"),
        (["evaluate", "runs/x", "--stpe", "3"], "usage: jaxcnn evaluate", "--stpe: did you mean --step?"),
        (["summary", "resnet20", "--inpt=32"], "usage: jaxcnn summary", "--inpt: did you mean --input?"),
    ],
)
def test_abbreviated_and_unknown_flags_get_the_subcommands_usage_and_the_closest_flags(argv, usage, message, capsys):
    # argparse would otherwise take --epoch for --epochs (a prefix) and start a run
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(usage) and message in err and "Traceback" not in err


def test_every_config_field_has_one_flag_generated_from_its_declaration():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    dests = [
        action.dest for action in train._actions if action.option_strings and action.dest not in ("help", "config")
    ]
    assert sorted(dests) == sorted(field.name for field in dataclasses.fields(TrainConfig))


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainConfig) if f.type in ("int", "int | None")])
def test_a_refused_integer_flag_says_what_the_config_says(field, capsys):
    """The flag and ``TrainConfig`` check the same declaration: their phrases for -1 agree."""
    with pytest.raises(ConfigError) as refused:
        TrainConfig(**{field: -1})
    with pytest.raises(SystemExit):
        main(["train", f"--{field.replace('_', '-')}", "-1"])
    assert refused.value.problem.split(", got")[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--train-crop-size", "20"], "--train-crop-size"),
        (["--val-interpolation", "bicubic", "--val-resize-size", "30"], "--val-interpolation, --val-resize-size"),
    ],
)
def test_streamed_only_settings_are_refused_for_a_folder_decoded_once(flags, named, tmp_path, capsys):
    """They change how a streamed folder decodes its files every epoch; a decoded-once cache has no such step."""
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (30, 26), (40 * i, 90, 200)).save(tmp_path / "photos" / name / f"{i}.png")
    argv = ["train", "--data", str(tmp_path / "photos"), "--decode", "once", "--data-root", str(tmp_path / "cache")]
    code = main([*argv, *flags, "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and f"{named}: only a folder streamed from its files has these; pass --decode stream" in err
    assert not (tmp_path / "out" / "checkpoints").exists()
