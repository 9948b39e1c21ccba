"""Starting from weights (``init_from``, ``merge_weights``) and freezing (``freeze``): what is
loaded equals the source bit for bit, what is frozen stays so through training, the optimizer
holds nothing for it, and a 1-channel stem is the RGB one summed over its input channels."""

import dataclasses
import shutil

import jax
import numpy as np
import pytest
from flax import traverse_util

from jaxcnn.convert import adapt_input_conv, merge_weights
from jaxcnn.data import Dataset
from jaxcnn.models import create_model, init_shapes
from jaxcnn.training import fit, load_source
from jaxcnn.training.optim import frozen_labels
from jaxcnn.training.parts import build, build_model, describe_data, initial_state
from jaxcnn.training.readers import start_from
from tests.training.runs import TINY_RESNET, tiny_config


def last_five_classes(ds: Dataset) -> Dataset:
    """The images of classes 5..9, relabelled 0..4."""
    keep = ds.labels >= 5
    return Dataset(ds.images[keep], ds.labels[keep] - 5, ds.classes[5:], ds.source)


def flat(tree) -> dict:
    return traverse_util.flatten_dict(jax.tree.map(np.asarray, dict(tree)), sep="/")


def fresh_state(config, train):
    """The model and seeded initial state of ``config``'s run on ``train``, as ``fit`` builds them."""
    info = describe_data(train, config, build_model(config, train.num_classes, train.images.shape[-1]))
    model, tx, _, _ = build(config, info)
    return model, initial_state(config, info, model, tx)


def test_init_from_a_run_loads_every_fitting_layer_bit_for_bit_and_a_new_classifier(source_run, tiny_data, tmp_path):
    config = tiny_config(tmp_path / "new", init_from=str(source_run))
    model, template = fresh_state(config, last_five_classes(tiny_data[0]))
    lines = []
    state = start_from(config.init_from, model, config.model, template, lines.append)
    source, ours, fresh = flat(load_source(source_run).variables), flat(state.variables), flat(template.variables)
    head = {"params/fc/kernel", "params/fc/bias"}
    assert set(ours) == set(source)
    for path in set(ours) - head:
        assert np.array_equal(ours[path], source[path]), path
    for path in head:
        assert ours[path].shape != source[path].shape and np.array_equal(ours[path], fresh[path])
    assert lines == [f"init-from {source_run}: fc initialised fresh: the source has 10 classes, the model 5"]


def test_freeze_backbone_trains_only_the_classifier(source_run, tiny_data, tmp_path, capsys):
    config = tiny_config(tmp_path / "probe", init_from=str(source_run), freeze="backbone", epochs=1)
    train, test = (last_five_classes(ds) for ds in tiny_data)
    _, template = fresh_state(config, train)
    result = fit(config, train=train, test=test)
    assert "fc initialised fresh" in capsys.readouterr().err
    source, ours, fresh = flat(load_source(source_run).variables), flat(result.variables), flat(template.variables)
    head = {"params/fc/kernel", "params/fc/bias"}
    for path in set(ours) - head:  # parameters and batch statistics
        assert np.array_equal(ours[path], source[path]), path
    assert all(not np.array_equal(ours[path], fresh[path]) for path in head)
    momentum = [leaf.shape for leaf in jax.tree.leaves(result.state.opt_state) if np.ndim(leaf)]
    assert sorted(momentum) == sorted(ours[path].shape for path in head)  # nothing for the frozen leaves


def test_a_resume_takes_its_checkpoint_not_the_init_from_weights(source_run, tiny_data, tmp_path):
    copy = shutil.copytree(source_run, tmp_path / "source")
    config = tiny_config(tmp_path / "run", init_from=str(copy), epochs=1, max_steps=2)
    train, test = (last_five_classes(ds) for ds in tiny_data)
    first = fit(config, train=train, test=test)
    shutil.rmtree(copy)  # a resume that read it again would fail
    again = fit(dataclasses.replace(config, resume=True), train=train, test=test)
    assert all(np.array_equal(a, b) for a, b in zip(*map(jax.tree.leaves, (first.variables, again.variables))))


def test_freeze_n_freezes_the_stem_with_the_first_stages():
    model = create_model("resnet20", **TINY_RESNET).clone(frozen_stages=2)
    labels = frozen_labels(model, init_shapes(model, 32)["params"])
    frozen = {name for name, tree in labels.items() if set(jax.tree.leaves(tree)) == {"frozen"}}
    assert frozen == {"conv1", "bn1", "layer1_block0", "layer2_block0"}
    assert set(jax.tree.leaves(labels["fc"])) == {"trained"}


def random_variables(model, size, seed=0, channels=None):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32), init_shapes(model, size, channels))


def test_a_grey_stem_is_the_rgb_kernel_summed_over_input_channels():
    rgb = create_model("resnet20", **TINY_RESNET)
    grey = create_model("resnet20", in_channels=1, **TINY_RESNET)
    source = random_variables(rgb, 32)
    merged, notes = merge_weights(grey, random_variables(grey, 32, seed=1), source)
    kernel = np.asarray(source["params"]["conv1"]["kernel"])
    np.testing.assert_array_equal(merged["params"]["conv1"]["kernel"], kernel.sum(axis=2, keepdims=True))
    assert notes == [
        "conv1/kernel adapted from 3 to 1 input channels (timm's adapt_input_conv: summed over them for 1 channel)"
    ]
    x = np.random.default_rng(2).standard_normal((2, 32, 32, 1), np.float32)
    np.testing.assert_allclose(
        grey.apply(merged, x), rgb.apply(source, np.repeat(x, 3, axis=-1)), rtol=1e-4, atol=1e-4
    )  # a grey image through the adapted stem is the RGB image with equal channels through the source


def test_other_input_channels_are_spread_over_the_kernel_as_timm_does():
    kernel = np.random.default_rng(0).standard_normal((3, 3, 3, 4), np.float32)
    adapted = adapt_input_conv(kernel, 5)
    expected = np.concatenate([kernel, kernel[:, :, :2]], axis=2) * np.float32(3 / 5)
    np.testing.assert_array_equal(adapted, expected)


def test_layers_that_do_not_fit_are_listed_with_both_shapes():
    small = create_model("resnet20", **TINY_RESNET)
    wide = create_model("resnet20", **{**TINY_RESNET, "widths": [4, 8, 16]})
    with pytest.raises(ValueError) as err:
        merge_weights(wide, random_variables(wide, 32), random_variables(small, 32))
    message = str(err.value)
    assert "layer3_block0/conv1/kernel (source (3, 3, 8, 8), model (3, 3, 8, 16))" in message
    assert "params/fc/kernel (source (8, 10), model (16, 10))" in message  # not a new classifier: same classes
    assert "\n" not in message
