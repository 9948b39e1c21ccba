"""A small trained run and its test images as PNG files, shared by the predict and export tests."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxcnn.convert.testing import random_state_dict
from jaxcnn.data import load, normalize
from jaxcnn.training import fit, load_checkpoint
from tests.training.runs import subset, tiny_config

TEST_IMAGES = 100
FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "torchvision"


@pytest.fixture(scope="session")
def test_set():
    """The first 100 test images of the embedded fashion_mnist_small (28x28 grey)."""
    return subset(load("fashion_mnist_small", "test"), TEST_IMAGES)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, test_set):
    """A tiny ResNet trained 3 epochs on 256 images, its 28x28 inputs centre-padded to 32x32 (as
    for a model whose stride-2 layers need it), so that predict must pad rather than resize."""
    train = subset(load("fashion_mnist_small", "train"), 256)
    out = tmp_path_factory.mktemp("run")
    return fit(tiny_config(out, image_size=32, epochs=3), train=train, test=test_set)


@pytest.fixture(scope="session")
def test_pngs(tmp_path_factory, test_set):
    """The test images as 8-bit grey PNG files (lossless: the same pixels), in order."""
    folder = tmp_path_factory.mktemp("pngs")
    paths = [folder / f"{i:03d}.png" for i in range(len(test_set))]
    for path, image in zip(paths, test_set.images):
        Image.fromarray(image[..., 0], "L").save(path)
    return paths


@pytest.fixture(scope="session")
def torchvision_fixture_weights():
    """``write(model_name, folder) -> (path of an .npz state_dict, the state_dict)``: the random
    weights of tests/fixtures/torchvision/<model>.json (torchvision's keys and shapes), drawn
    again from their seed as tests/convert does; skips when the fixture is absent."""

    def write(name: str, folder):
        fixture = FIXTURES / f"{name}.json"
        if not fixture.exists():
            pytest.skip(f"no fixture {fixture}; build it with tools/make_torchvision_fixtures.py")
        description = json.loads(fixture.read_text())
        state_dict = random_state_dict(description["state_dict"], description["weight_seed"])
        path = folder / f"{name}.npz"
        np.savez(path, **state_dict)
        return path, state_dict

    return write


@pytest.fixture(scope="session")
def plain_process_logits(trained_run, test_set):
    """``run(script, exported, env) -> [(logits, expected), ...]``: ``script`` run as
    ``python -c script EXPORTED 1 7`` in the exported file's folder with only ``env`` (no
    PYTHONPATH: jaxcnn is not importable by path), after ``1.npy`` and ``7.npy`` (test images,
    batches of 1 and 7) were written there; it writes ``N.logits.npy``. ``expected`` is
    ``model.apply`` of the run's checkpoint on the same images, normalised as in training."""

    def run(script: str, exported: pathlib.Path, env: dict) -> list[tuple[np.ndarray, np.ndarray]]:
        folder = exported.parent
        batches = {1: test_set.images[:1], 7: test_set.images[10:17]}
        for size, images in batches.items():
            np.save(folder / f"{size}.npy", images)
        command = [sys.executable, "-c", script, str(exported), *map(str, batches)]
        subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True, text=True, timeout=300)
        data = json.loads((trained_run.out / "config.json").read_text())["data"]
        model, variables = load_checkpoint(trained_run.out)
        pairs = []
        for size, images in batches.items():
            x = normalize(images, np.array(data["mean"]), np.array(data["std"]), data["image_size"])
            pairs.append((np.load(folder / f"{size}.logits.npy"), np.asarray(model.apply(variables, x, train=False))))
        return pairs

    return run
