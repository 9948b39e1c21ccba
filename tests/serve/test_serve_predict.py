"""``jaxcnn predict``: the same pixels, normalisation and answers as training's evaluation; one
error line per unreadable file; torchvision weights name ImageNet's classes."""

import json

import numpy as np
import pytest

from jaxcnn.cli import main
from jaxcnn.data.named import FASHION_CLASSES
from jaxcnn.serve import Predictor
from jaxcnn.training import evaluate


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_source(trained_run.out)


def test_files_are_read_back_as_the_test_set_pixels_padded_as_in_training(predictor, test_pngs, test_set):
    pixels = np.stack([predictor.preprocessing.pixels(path) for path in test_pngs])
    np.testing.assert_array_equal(pixels, test_set.images)
    assert (predictor.preprocessing.crop, predictor.preprocessing.input_size) == (28, 32)
    assert predictor.classes == FASHION_CLASSES


def test_predict_agrees_with_evaluate_on_the_same_images(trained_run, test_pngs, test_set, capsys):
    folder = test_pngs[0].parent
    assert main(["predict", str(trained_run.out), str(folder), "--json", "--top-k", "3", "--batch-size", "16"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [row["file"] for row in rows] == list(map(str, test_pngs))
    top1 = np.array([FASHION_CLASSES.index(row["top_k"][0]["class"]) for row in rows])
    result = evaluate(trained_run.out, test=test_set)
    assert len(np.unique(top1)) >= 3  # not one class for all: the agreement below says something
    assert np.sum(top1 == test_set.labels) == round(result["accuracy"] * len(test_set))
    assert all(len(row["top_k"]) == 3 for row in rows)
    assert "100 images in" in captured.err and "img/s" in captured.err


def test_probabilities_are_the_softmax_of_the_models_logits(predictor, trained_run, test_pngs, test_set):
    from jaxcnn.data import normalize
    from jaxcnn.training import load_checkpoint

    config = json.loads((trained_run.out / "config.json").read_text())["data"]
    model, variables = load_checkpoint(trained_run.out)
    x = normalize(test_set.images[:7], np.array(config["mean"]), np.array(config["std"]), config["image_size"])
    logits = np.asarray(model.apply(variables, x, train=False), np.float64)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    predictions = list(predictor.predict(test_pngs[:7], top_k=10, batch_size=4))
    for prediction, row in zip(predictions, expected):
        np.testing.assert_allclose(prediction.probabilities, row[list(prediction.labels)], rtol=1e-5, atol=1e-7)


def test_an_unreadable_file_is_one_line_naming_it_and_the_rest_is_predicted(trained_run, test_pngs, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["predict", str(trained_run.out), str(test_pngs[0]), str(text), str(missing), str(empty), str(test_pngs[1])]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [str(test_pngs[0]), str(test_pngs[1])]
    errors = [line for line in captured.err.splitlines() if line.startswith("jaxcnn predict: error:")]
    assert len(errors) == 3
    for error, path in zip(errors, (text, missing, empty)):
        assert str(path) in error
    assert "2 images in" in captured.err


def test_torchvision_weights_name_imagenet_classes_as_torchvision_does(torchvision_fixture_weights, tmp_path):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from PIL import Image
    from torchvision import transforms
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from jaxcnn.data.imagenet import imagenet_classes

    assert imagenet_classes() == tuple(_IMAGENET_CATEGORIES)
    weights, state_dict = torchvision_fixture_weights("resnet18", tmp_path)
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((300, 250), Image.Resampling.BICUBIC)  # not square, larger than 256
    path = tmp_path / "picture.png"
    image.save(path)
    reference = torchvision.models.resnet18(weights=None).eval()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})
    prepare = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    with torch.no_grad():
        probabilities = torch.softmax(reference(prepare(Image.open(path).convert("RGB"))[None]), -1)[0].numpy()
    expected = np.argsort(-probabilities)[:5]
    [prediction] = Predictor.from_source(weights, "resnet18").predict([path])
    assert prediction.names[0] == _IMAGENET_CATEGORIES[expected[0]]
    np.testing.assert_allclose(prediction.probabilities, probabilities[expected], rtol=1e-4, atol=1e-6)
