"""``jaxcnn export``: a file that a JAX process without jaxcnn runs, giving ``model.apply``'s
logits for any batch size; every family lowers with a symbolic batch."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.cli import main
from jaxcnn.convert.testing import relative_error
from jaxcnn.data.named import FASHION_CLASSES
from jaxcnn.models import create_model, init_shapes
from jaxcnn.serve import Preprocessing, eval_forward

# What a user's process runs: JAX alone, never jaxcnn.
PLAIN_JAX = """
import sys
import jax, numpy as np
exported = jax.export.deserialize(open(sys.argv[1], "rb").read())
for batch in sys.argv[2:]:
    np.save(f"{batch}.logits.npy", np.asarray(exported.call(np.load(f"{batch}.npy"))))
assert "jaxcnn" not in sys.modules, "the exported model needed jaxcnn"
"""


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    assert main(["export", str(trained_run.out), "--out", str(folder / "model.jax")]) == 0
    return folder / "model.jax"


def test_a_plain_jax_process_gives_model_apply_logits_for_any_batch(exported, plain_process_logits):
    env = {"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"}
    for logits, expected in plain_process_logits(PLAIN_JAX, exported, env):
        assert logits.shape == expected.shape and logits.shape[1] == 10 and logits.dtype == np.float32
        assert relative_error(logits, expected) < 1e-6


def test_the_description_says_what_goes_in_and_comes_out(exported, trained_run):
    description = json.loads(exported.with_suffix(".json").read_text())
    data = json.loads((trained_run.out / "config.json").read_text())["data"]
    assert description["input"] == {"shape": ["b", 28, 28, 1], "dtype": "uint8", "layout": "NHWC"}
    assert description["output"]["shape"] == ["b", 10]
    assert description["classes"] == list(FASHION_CLASSES)
    assert description["preprocessing"]["mean"] == data["mean"] and description["preprocessing"]["std"] == data["std"]
    assert description["preprocessing"]["input_size"] == data["image_size"] == 32
    assert description["platforms"] == ["cpu", "cuda", "tpu"]
    assert description["versions"]["jax"] == jax.__version__
    exported_again = jax.export.deserialize(exported.read_bytes())
    assert exported_again.platforms == ("cpu", "cuda", "tpu")


def test_export_refuses_a_json_name_and_a_missing_source(trained_run, tmp_path, capsys):
    assert main(["export", str(trained_run.out), "--out", str(tmp_path / "model.json")]) == 1
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "model.jax")]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "model.json" in errors[0] and "nothing" in errors[1]


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("resnet20", {}),
        ("resnet18", {}),
        ("vgg11_bn", {}),
        ("googlenet", {"aux_logits": True}),
        ("inception_v3", {"aux_logits": True}),
    ],
)
def test_every_family_lowers_for_every_platform_with_a_symbolic_batch(name, kwargs):
    """Batch norm, VGG's flatten, Inception's branches and auxiliary heads, with ``b`` unknown."""
    model = create_model(name, num_classes=7, **kwargs)
    size = model.min_input_size
    variables = init_shapes(model, size)
    preprocessing = Preprocessing(size, size, 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    forward = eval_forward(model, preprocessing)
    images = jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"b, {size}, {size}, 3"), jnp.uint8)
    exported = jax.export.export(jax.jit(forward), platforms=("cpu", "cuda", "tpu"))(variables, images)
    assert str(exported.out_avals[0].shape) == "(b, 7)" and exported.out_avals[0].dtype == jnp.float32
