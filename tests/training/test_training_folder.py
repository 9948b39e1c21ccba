"""``--data PATH``: a PNG folder of fashion_mnist_small trains to the parameters of its arrays;
config.json keeps what evaluate needs; bad folders and names fail in one line."""

import dataclasses
import json
import re

import jax
import numpy as np
import pytest

from jaxcnn.cli import main
from jaxcnn.data import Dataset, decode_files, resolve_decode, split_folder
from jaxcnn.training import evaluate, fit
from tests.scripts import load_script
from tests.training.runs import tiny_config

exporter = load_script("tools/export_image_folder.py")


def in_class_order(ds: Dataset) -> Dataset:
    order = exporter.class_order(ds.labels)
    return Dataset(ds.images[order], ds.labels[order], ds.classes, ds.source)


@pytest.fixture(scope="module")
def png_folder(tiny_data, tmp_path_factory):
    """The tiny data's 256 + 100 images as 1-channel PNGs in the train/ + val/ layout."""
    folder = tmp_path_factory.mktemp("png")
    train, test = tiny_data
    exporter.export(train, folder / "train")
    exporter.export(test, folder / "val")
    return folder


@pytest.fixture(scope="module")
def folder_run(png_folder, tmp_path_factory):
    config = tiny_config(
        tmp_path_factory.mktemp("run") / "out",
        data=str(png_folder),
        data_root=str(tmp_path_factory.mktemp("cache")),
        image_size=28,
        decode="once",
        epochs=1,
    )
    return config, fit(config)


def test_png_folder_trains_to_the_parameters_of_its_arrays_bit_for_bit(folder_run, tiny_data, tmp_path):
    config, from_folder = folder_run
    train, test = (in_class_order(ds) for ds in tiny_data)
    from_arrays = fit(dataclasses.replace(config, out=str(tmp_path / "arrays")), train=train, test=test)
    leaves = jax.tree.leaves(from_folder.variables), jax.tree.leaves(from_arrays.variables)
    for a, b in zip(*leaves, strict=True):
        np.testing.assert_array_equal(a, b)
    assert from_folder.test_accuracy == from_arrays.test_accuracy


def test_config_json_keeps_classes_folder_and_transform_and_evaluate_reads_them(folder_run, png_folder, tiny_data):
    config, result = folder_run
    data = json.loads((result.out / "config.json").read_text())["data"]
    names = [exporter.class_folder(k, name, 10) for k, name in enumerate(tiny_data[0].classes)]
    assert data["classes"] == names and data["in_channels"] == 1 and data["image_size"] == 28
    folder = data["folder"]
    assert (folder["root"], folder["layout"], folder["decode"]) == (str(png_folder), "train/val", "once")
    assert (folder["train_files"], folder["val_files"], folder["eval"]) == (256, 100, {"resize": 28, "crop": 28})
    assert evaluate(result.out)["accuracy"] == result.test_accuracy  # the same 100 validation images


def test_predict_reads_a_folder_runs_files_as_evaluate_does(folder_run, png_folder, capsys):
    config, result = folder_run
    split = split_folder(png_folder)
    assert main(["predict", str(result.out), str(png_folder / "val"), "--json", "--top-k", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    predicted = {row["file"]: split.classes.index(row["top_k"][0]["class"]) for row in rows}
    correct = sum(predicted[str(path)] == label for path, label in zip(split.val_files, split.val_labels, strict=True))
    assert len(predicted) == len(split.val_files) == 100
    assert correct == round(evaluate(result.out)["accuracy"] * 100)


def test_evaluate_refuses_a_folder_with_other_classes(folder_run, tmp_path):
    _, result = folder_run
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "val" / "cat").mkdir(parents=True)
    for part in ("train", "val"):
        exporter.Image.new("L", (28, 28)).save(tmp_path / part / "cat" / "0.png")
    with pytest.raises(ValueError, match=r"has the classes cat; the run was trained on 0_T-shirt_top"):
        evaluate(result.out, str(tmp_path))


def test_a_grey_folder_reads_as_one_channel_and_a_colour_image_makes_it_rgb(png_folder, tmp_path):
    split = split_folder(png_folder)
    files, labels = split.val_files[:3], split.val_labels[:3]
    grey = decode_files(split.root, files, labels, split.classes, image_size=28, channels=None)
    colour = tmp_path / "colour.png"
    exporter.Image.new("RGB", (28, 28), (200, 10, 10)).save(colour)
    mixed = decode_files(
        split.root, [*files, colour], np.r_[labels, 0].astype(np.int32), split.classes, image_size=28, channels=None
    )
    assert grey.images.shape == (3, 28, 28, 1) and mixed.images.shape == (4, 28, 28, 3)
    np.testing.assert_array_equal(mixed.images[:3], np.repeat(grey.images, 3, axis=-1))  # grey as RGB: equal bands


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"train/a/x.png"}, r"has train/ but no val/ or test/: add .*/val/<class>/"),
        (
            {"train/a/x.png", "train/b/x.png", "test/a/x.png", "test/c/x.png"},
            r"hold different class folders \(only in train/: b; only in test/: c\)",
        ),
    ],
)
def test_bad_layouts_fail_in_one_line(layout, message, tmp_path, capsys):
    for name in layout:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        exporter.Image.new("L", (4, 4)).save(tmp_path / name)
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("jaxcnn train: error: ")
    assert re.search(message, err), err


def test_unknown_data_names_both_possibilities_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "my_photos"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2 and err[0].startswith("jaxcnn train: error: argument --data")
    assert "'my_photos' is neither a known dataset nor an existing folder" in err[0]
    assert "Known datasets: cifar10, cifar100, fashion_mnist, fashion_mnist_small, mnist" in err[0]
    assert sum("error" in line for line in err) == 1


@pytest.mark.parametrize(
    "examples, size, memory, mode",
    [(1000, 32, 4 * 1000 * 32 * 32 * 3, "once"), (1001, 32, 4 * 1000 * 32 * 32 * 3, "stream"), (10, 8, 1, "stream")],
)
def test_auto_decodes_once_when_the_decoded_images_fit_a_quarter_of_memory(examples, size, memory, mode):
    assert resolve_decode("auto", examples, size, memory) == mode
    assert resolve_decode("once", examples, size, memory) == "once"
