"""``load_source``: a run folder's newest checkpoint with its classes and statistics, and a
torchvision weight file through ``jaxcnn.convert``."""

import json
import shutil

import jax
import numpy as np
import pytest

from jaxcnn.convert import IMAGENET_MEAN, from_torchvision, to_torchvision
from jaxcnn.data import channel_stats
from jaxcnn.models import create_model, init_shapes
from jaxcnn.training import load_checkpoint, load_source
from tests.training.runs import subset


def leaves_equal(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def test_a_run_folder_gives_its_checkpoint_classes_and_statistics(source_run, tiny_data):
    source = load_source(source_run)
    model, variables = load_checkpoint(source_run)
    assert (source.name, source.step, source.model) == ("resnet20", 2, model)
    assert leaves_equal(source.variables, variables)
    assert source.classes == tuple(tiny_data[0].classes)
    assert (source.in_channels, source.image_size) == (1, 28)
    mean, std = channel_stats(subset(tiny_data[0], 64))
    np.testing.assert_allclose(source.mean + source.std, (*mean, *std), rtol=1e-6)


def test_a_weight_file_is_converted_for_the_named_model(tmp_path):
    model = create_model("resnet18", num_classes=7)
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda leaf: rng.standard_normal(leaf.shape, np.float32), init_shapes(model, 32))
    np.savez(tmp_path / "w.npz", **to_torchvision(model, variables))
    source = load_source(tmp_path / "w.npz", "resnet18")
    assert source.model.num_classes == 7 and source.step is None and source.classes is None
    assert (source.image_size, source.resize, source.mean) == (224, 256, IMAGENET_MEAN)
    again = from_torchvision(model, to_torchvision(model, variables))
    assert leaves_equal(source.variables, jax.tree.map(np.asarray, again))


@pytest.mark.parametrize(
    "name, model, message",
    [
        ("missing", None, "no such run folder or weight file"),
        ("w.txt", None, "expected a jaxcnn run folder or a torchvision weight file"),
        ("w.npz", None, "does not say which model"),
    ],
)
def test_bad_sources_are_refused_in_one_line(tmp_path, name, model, message):
    if name != "missing":
        (tmp_path / name).write_bytes(b"")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_source(tmp_path / name, model)


def test_a_run_of_another_model_is_refused(source_run):
    with pytest.raises(ValueError, match="is a run of resnet20, not resnet18"):
        load_source(source_run, "resnet18")


def test_a_run_saved_before_init_from_freeze_and_classes_were_recorded_still_loads(source_run, tmp_path):
    old = shutil.copytree(source_run, tmp_path / "old")
    payload = json.loads((old / "config.json").read_text())
    for section, field in (("config", "init_from"), ("config", "freeze"), ("data", "classes")):
        del payload[section][field]
    (old / "config.json").write_text(json.dumps(payload))
    source = load_source(old)
    assert source.classes is None and source.config.freeze == "none" and source.config.init_from is None
    assert leaves_equal(source.variables, load_source(source_run).variables)
