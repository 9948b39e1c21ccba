"""The jaxcnn command: model listing against torchvision's counts, and bad arguments."""

import pytest

from jaxcnn.cli import main


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
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_arguments_exit_2_with_a_usage_line_and_no_traceback(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("usage: jaxcnn") and message in err and "Traceback" not in err


def test_a_failing_command_exits_1_with_the_reason(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "is not a jaxcnn training folder" in capsys.readouterr().err
    assert main(["models", "alexnet*"]) == 1
    assert "no model matches 'alexnet*'" in capsys.readouterr().err
