"""Everyday mistakes are refused before anything is written, in the user's own words: a batch larger
than the data, an output folder inside the image folder, a frozen backbone of random weights, a
bad image's advice; a single-class folder is warned about; an unreadable weight file is named."""

import numpy as np
import pytest
from PIL import Image

from jaxcnn.cli import main
from jaxcnn.training import fit, load_source
from tests.reliability.cli import TINY_FLAGS
from tests.reliability.test_signals import jaxcnn
from tests.training.runs import tiny_config


def image_folder(root, classes=("a", "b"), per_class=4):
    """``root/{train,val}/<class>/<i>.png``: small random RGB images; returns ``root``."""
    rng = np.random.default_rng(0)
    for part in ("train", "val"):
        for name in classes:
            (root / part / name).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), np.uint8)).save(root / part / name / f"{i}.png")
    return root


def test_a_batch_larger_than_the_data_is_refused_writing_nothing_and_the_corrected_run_succeeds(tmp_path, child_env):
    out = tmp_path / "out"
    refused = jaxcnn(["train", *TINY_FLAGS, "--batch-size", "320", "--out", str(out)], child_env)
    assert refused.returncode == 2, refused.stderr  # 256 training images (tests/reliability/cli.py)
    error, pointer = refused.stderr.splitlines()
    assert error == (
        "jaxcnn train: error: argument --batch-size: 320 is more than the 256 training images of "
        "fashion_mnist_small: an epoch would have no batch; use at most 256"
    )
    assert pointer == "run `jaxcnn train --help` for every flag"
    assert not out.exists()  # the code before left config.json there, which refused the corrected run
    corrected = jaxcnn(["train", *TINY_FLAGS, "--max-steps", "2", "--out", str(out)], child_env)
    assert corrected.returncode == 0, corrected.stderr


def test_an_output_folder_inside_the_image_folder_is_refused_before_it_becomes_a_class(tmp_path):
    data = image_folder(tmp_path / "images")
    config = tiny_config(data / "train" / "runs", data=str(data), image_size=16, decode="once")
    with pytest.raises(ValueError, match=f"the output folder {data / 'train' / 'runs'} is inside {data / 'train'}"):
        fit(config)
    assert sorted(path.name for path in (data / "train").iterdir()) == ["a", "b"]
    beside = tiny_config(data / "runs", data=str(data), image_size=16, decode="once", batch_size=64)
    with pytest.raises(ValueError, match="batch_size: 64 is more than the 8 training images"):  # past the check
        fit(beside)  # data/runs is not read for images in the train/ + val/ layout


def test_freezing_the_backbone_without_weights_to_start_from_is_refused_naming_the_flags(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--freeze", "backbone", "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    error, pointer = capsys.readouterr().err.splitlines()
    assert error.startswith("jaxcnn train: error: argument --freeze: 'backbone' without --init-from trains the")
    assert "give --init-from (a run folder or weight file" in error and "--help" in pointer


def test_a_bad_image_from_the_command_line_advises_the_flag_and_in_python_the_argument(tmp_path, child_env):
    data = image_folder(tmp_path / "images", per_class=8)
    (data / "train" / "a" / "bad.png").write_bytes(b"not a png")
    flags = ["--data", str(data), "--image-size", "16", "--decode", "once", "--data-root", str(tmp_path / "cache")]
    done = jaxcnn(["train", *TINY_FLAGS, *flags, "--batch-size", "4", "--out", str(tmp_path / "out")], child_env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "or pass --skip-bad to skip it" in done.stderr and "skip_bad" not in done.stderr
    config = tiny_config(tmp_path / "out", data=str(data), image_size=16, decode="once", batch_size=4)
    with pytest.raises(ValueError, match="or pass skip_bad=True to skip it"):
        fit(config)


def test_a_single_class_folder_is_warned_about(tmp_path, capsys):
    data = image_folder(tmp_path / "images", classes=("only",))
    config = tiny_config(tmp_path / "out", data=str(data), image_size=16, decode="once", batch_size=64)
    with pytest.raises(ValueError, match="batch_size: 64 is more than the"):  # stops before training
        fit(config)
    assert "has a single class (only): every prediction is that class" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".npz", ".pth"])
def test_a_weight_file_that_cannot_be_read_is_named_without_advice_to_unpickle(suffix, tmp_path):
    if suffix == ".pth":
        pytest.importorskip("torch")
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(b"\x80\x04 not weights at all")
    with pytest.raises(ValueError, match=f"{path} is not a .* jaxcnn can read") as err:
        load_source(path, "resnet18")
    assert "pickle" not in str(err.value).replace("unpickled", "") and "weights_only" not in str(err.value)
