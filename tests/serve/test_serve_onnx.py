"""ONNX: onnxruntime gives ``model.apply``'s logits for every family at any batch size, a written
file runs in a process without JAX, ``predict --runtime onnx`` answers as JAX does, and what
cannot be translated or checked is refused in one line with nothing written."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.cli import main
from jaxcnn.convert.testing import random_variables, relative_error
from jaxcnn.data import normalize
from jaxcnn.models import create_model
from jaxcnn.serve import Predictor, Preprocessing, UnsupportedOperation, onnx_forward
from jaxcnn.serve.onnx_graph import translate

onnxruntime = pytest.importorskip("onnxruntime")

# What a serving process runs: onnxruntime and numpy, never jax or jaxcnn.
PLAIN_ONNXRUNTIME = """
import sys
import numpy as np, onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
for batch in sys.argv[2:]:
    np.save(f"{batch}.logits.npy", session.run(None, {"images": np.load(f"{batch}.npy")})[0])
assert "jax" not in sys.modules and "jaxcnn" not in sys.modules, "the ONNX file needed jax"
"""


def onnx_logits(onnx_model, images: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": images})[0]


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("resnet20", {"channel_padding": "both"}),  # option A shortcuts: strided slices, channel pads
        ("resnet110", {}),  # scanned stages, unrolled in the graph
        ("resnet18", {}),  # the ImageNet stem's padded max pool, projection shortcuts
        # flatten before the classifier, in NHWC order; VGG-11's stages at 1/32 of their widths
        ("vgg11_bn", {"stages": ((1, 2), (1, 4), (2, 8), (2, 16), (2, 16))}),
        ("inception_v3", {"transform_input": True}),  # concatenations, average pools, asymmetric kernels
    ],
)
def test_onnxruntime_gives_model_apply_logits_for_every_family(name, kwargs):
    model = create_model(name, num_classes=10, **kwargs)
    size = max(model.min_input_size, 32)  # no degenerate 1x1 maps
    variables = random_variables(model, size)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    onnx_model = onnx_forward(model, variables, Preprocessing(size, size, 3, mean, std))
    images = np.random.default_rng(1).integers(0, 256, (8, size, size, 3), dtype=np.uint8)
    expected = model.apply(variables, normalize(images, np.array(mean), np.array(std)), train=False)
    for batch in (slice(0, 1), slice(1, 8)):  # batch sizes 1 and 7 through one graph
        logits = onnx_logits(onnx_model, images[batch])
        assert logits.shape == expected[batch].shape and logits.dtype == np.float32
        assert relative_error(logits, expected[batch]) < 1e-5


@pytest.fixture(scope="module")
def exported_onnx(trained_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    assert main(["export", str(trained_run.out), "--out", str(folder / "model.onnx")]) == 0
    return folder / "model.onnx"


def test_a_process_without_jax_gives_model_apply_logits(exported_onnx, plain_process_logits):
    for logits, expected in plain_process_logits(PLAIN_ONNXRUNTIME, exported_onnx, {"PATH": "/usr/bin:/bin"}):
        assert relative_error(logits, expected) < 1e-5


def test_the_onnx_description_names_its_format_input_and_checksum(exported_onnx):
    import hashlib

    description = json.loads(exported_onnx.with_suffix(".json").read_text())
    assert description["format"] == "onnx" and description["opset"] == 17
    assert description["input"] == {"shape": ["b", 28, 28, 1], "dtype": "uint8", "layout": "NHWC"}
    assert description["sha256"] == hashlib.sha256(exported_onnx.read_bytes()).hexdigest()
    session = onnxruntime.InferenceSession(str(exported_onnx), providers=["CPUExecutionProvider"])
    (images,) = session.get_inputs()
    assert (images.name, images.shape, images.type) == ("images", ["b", 28, 28, 1], "tensor(uint8)")


def test_predict_through_onnxruntime_answers_as_jax_does(trained_run, test_pngs):
    in_jax, in_onnx = (
        list(Predictor.from_source(trained_run.out, runtime=runtime).predict(test_pngs[:20], top_k=3, batch_size=8))
        for runtime in ("jax", "onnx")
    )
    assert [p.labels for p in in_onnx] == [p.labels for p in in_jax]
    for ours, theirs in zip(in_onnx, in_jax):
        np.testing.assert_allclose(ours.probabilities, theirs.probabilities, rtol=1e-5, atol=1e-7)


def test_an_operation_without_translation_is_named_in_one_line():
    with pytest.raises(UnsupportedOperation, match="'cumsum'") as raised:
        translate(lambda x: jnp.cumsum(x.astype(jnp.float32), axis=1), jax.ShapeDtypeStruct((2, 5), jnp.uint8))
    assert "\n" not in str(raised.value)


def test_a_graph_that_fails_its_check_is_not_written(trained_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.modules["jaxcnn.serve.export"], "ONNX_TOLERANCE", -1.0)  # every graph fails its check
    out = tmp_path / "model.onnx"
    assert main(["export", str(trained_run.out), "--out", str(out)]) == 1
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith("jaxcnn export: error: the ONNX graph's logits differ from JAX's")
    assert list(tmp_path.iterdir()) == []


def test_platforms_are_refused_for_onnx_and_a_missing_runtime_is_named(trained_run, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["export", str(trained_run.out), "--out", str(tmp_path / "m.onnx"), "--platform", "cuda"])
    assert exited.value.code == 2 and "--platform" in capsys.readouterr().err
    import importlib.util

    find_spec = importlib.util.find_spec
    without_onnxruntime = lambda name, *args: None if name == "onnxruntime" else find_spec(name, *args)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", without_onnxruntime)
    assert main(["export", str(trained_run.out), "--out", str(tmp_path / "m.onnx")]) == 1
    (error,) = capsys.readouterr().err.splitlines()
    assert "onnxruntime" in error and "pip install 'jaxcnn[onnx]'" in error
    assert list(tmp_path.iterdir()) == []
