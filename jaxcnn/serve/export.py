"""The evaluation forward pass as one file: uint8 NHWC images in (any batch size), float32 logits
out, normalisation and weights inside. Two formats: a ``jax.export`` artefact (StableHLO) that any
JAX process runs with ``jax.export.deserialize(data).call(images)``, and an ONNX model that
onnxruntime (or any ONNX runtime) runs without JAX. Neither needs jaxcnn. A JSON file beside it
says what goes in and what comes out, and holds the file's sha256 for the consumer to check before
it loads the file (a changed bit may still load, and give other logits)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.ops.backend import XLA
from jaxcnn.training import Source, load_source
from jaxcnn.training.runfolder.lock import atomic_write, writing

from .inputs import Preprocessing, served_inputs
from .predict import eval_forward

PLATFORMS = ("cpu", "cuda", "tpu")  # jax.export lowers for each without its device
FORMATS = ("jax", "onnx")
ONNX_TOLERANCE = 1e-4  # relative_error of onnxruntime's logits against JAX's, checked before writing


def export_forward(
    model: nn.Module, variables, preprocessing: Preprocessing, platforms: tuple[str, ...] = PLATFORMS
) -> jax.export.Exported:
    """``jax.export`` of ``eval_forward`` with ``variables`` as constants, for uint8
    [b, crop, crop, channels] with a symbolic batch ``b``, lowered for ``platforms`` (no device of
    those kinds needed); the model uses XLA's own convolutions (``jaxcnn.ops.XLA``), the choice
    that suits every platform."""
    forward = functools.partial(eval_forward(model.clone(backend=XLA), preprocessing), variables)
    return jax.export.export(jax.jit(forward), platforms=platforms)(_symbolic_input(preprocessing))


def onnx_forward(model: nn.Module, variables, preprocessing: Preprocessing):
    """``eval_forward`` as an ``onnx.ModelProto`` (``jaxcnn.serve.onnx_graph.translate``): input
    ``images`` uint8 [batch, crop, crop, channels] with a symbolic ``batch``, output ``logits``
    float32 [batch, classes]; the model in float32 with XLA's convolutions, whatever it trained with.

    Raises:
      UnsupportedOperation: the model uses an operation with no ONNX translation (named).
    """
    from .onnx_graph import translate

    forward = functools.partial(eval_forward(_onnx_model(model), preprocessing), variables)
    return translate(forward, _symbolic_input(preprocessing))


def _onnx_model(model: nn.Module) -> nn.Module:
    """The model as its ONNX graph computes it: float32, XLA's convolutions."""
    return model.clone(backend=XLA, dtype=jnp.float32)


def check_onnx(onnx_model, model: nn.Module, variables, preprocessing: Preprocessing, batch: int = 3) -> float:
    """``relative_error`` of onnxruntime's logits against ``eval_forward``'s in JAX on ``batch``
    seeded random images; ValueError when over ``ONNX_TOLERANCE`` (a translation to distrust)."""
    import onnxruntime

    from jaxcnn.convert.testing import relative_error

    side, channels = preprocessing.crop, preprocessing.channels
    images = np.random.default_rng(0).integers(0, 256, (batch, side, side, channels), dtype=np.uint8)
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": images})
    expected = jax.jit(eval_forward(_onnx_model(model), preprocessing))(variables, images)
    error = relative_error(logits, expected)
    if not error <= ONNX_TOLERANCE:
        raise ValueError(f"the ONNX graph's logits differ from JAX's by {error:.1e} (relative), over {ONNX_TOLERANCE}")
    return error


def export(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str | None = None,
    step: int | None = None,
    platforms: tuple[str, ...] = PLATFORMS,
    format: str | None = None,
    ema: bool = False,
) -> dict:
    """Write the evaluation forward pass of a run folder, weight file or published weights (see
    ``jaxcnn.load_source``) to ``out`` and its description, with the file's sha256, beside it with
    the suffix ``.json`` (``m.jax`` -> ``m.json``); returns that description. ``ema``: a run's
    moving average of its weights (``--model-ema``) instead of the weights.

    ``format`` "jax": ``Exported.serialize()``, lowered for ``platforms``. "onnx": ``onnx_forward``'s
    model, written only after onnxruntime gave JAX's logits for it (``check_onnx``). None: "onnx"
    when ``out`` ends in ``.onnx``, else "jax".

    Both files are written whole or not at all: to temporary files in ``out``'s folder, renamed
    into place when complete, deleted on failure, so a failed export leaves an earlier one as it
    was.

    Raises:
      ValueError: ``out`` ends in ``.json`` (the description's name) or is a folder; an unknown
        ``format``; an ONNX graph that fails its check.
      UnsupportedOperation: (a ValueError) the model has an operation with no ONNX translation.
      RuntimeError: what the format needs is not installed (``flatbuffers``: the ``export``
        extra; ``onnx`` and ``onnxruntime``: the ``onnx`` extra).
      DiskFullError, PermissionError: the files cannot be written (one line: the files, the
        space needed and free).
    """
    out = Path(out)
    if out.suffix == ".json":
        raise ValueError(f"{out}: the description is written to FILE.json; name the export otherwise")
    if out.is_dir():
        raise ValueError(f"{out} is a folder; --out names the export file to write, e.g. {out / 'model.jax'}")
    format = export_format(out, format)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    check_installed(format)
    source = load_source(src, model, step=step, ema=ema)
    preprocessing, classes = served_inputs(source)
    variables = jax.device_get(source.variables)
    if format == "onnx":
        onnx_model = onnx_forward(source.model, variables, preprocessing)
        check_onnx(onnx_model, source.model, variables, preprocessing)
        data, description = onnx_model.SerializeToString(), describe_onnx(onnx_model, preprocessing, classes, source)
    else:
        exported = export_forward(source.model, variables, preprocessing, tuple(platforms))
        data, description = exported.serialize(), describe(exported, preprocessing, classes, source)
    description["sha256"] = hashlib.sha256(data).hexdigest()
    with writing(out, then="export again"):
        out.parent.mkdir(parents=True, exist_ok=True)
    text = (json.dumps(description, indent=1) + "\n").encode()
    atomic_write({out: bytes(data), out.with_suffix(".json"): text}, then="export again")
    return description


def export_format(out: str | os.PathLike, format: str | None = None) -> str:
    """``format``, or when None the one ``out``'s suffix names: "onnx" for ``.onnx``, else "jax"."""
    return format or ("onnx" if Path(out).suffix == ".onnx" else "jax")


def check_installed(format: str) -> None:
    """RuntimeError, naming the extra to install, when what ``format`` needs is missing."""
    needs = {"jax": ("export", ["flatbuffers"]), "onnx": ("onnx", ["onnx", "onnxruntime"])}  # what serializes, checks
    extra, modules = needs[format]
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"writing a {format} export needs {' and '.join(missing)}: pip install 'jaxcnn[{extra}]'")


def _symbolic_input(preprocessing: Preprocessing) -> jax.ShapeDtypeStruct:
    side, channels = preprocessing.crop, preprocessing.channels
    return jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"b, {side}, {side}, {channels}"), jnp.uint8)


def describe(exported: jax.export.Exported, preprocessing: Preprocessing, classes, source: Source) -> dict:
    """The JSON description of a jax.export file: its input and output, how files become inputs,
    the class names, the source, the platforms and the versions that wrote it."""
    return {
        "format": "jax.export",
        "call": "jax.export.deserialize(bytes).call(images) -> logits",
        **_described_io(preprocessing, classes, source),
        "platforms": list(exported.platforms),
        "calling_convention_version": exported.calling_convention_version,
        "versions": {"jaxcnn": _jaxcnn_version(), "jax": jax.__version__},
    }


def describe_onnx(onnx_model, preprocessing: Preprocessing, classes, source: Source) -> dict:
    """The JSON description of an ONNX file: as ``describe``'s, with the opset instead of platforms."""
    return {
        "format": "onnx",
        "call": "onnxruntime.InferenceSession(path).run(None, {'images': images})[0] -> logits",
        **_described_io(preprocessing, classes, source),
        "opset": onnx_model.opset_import[0].version,
        "versions": {"jaxcnn": _jaxcnn_version(), "jax": jax.__version__, "onnx": version("onnx")},
    }


def _described_io(preprocessing: Preprocessing, classes, source: Source) -> dict:
    side, channels = preprocessing.crop, preprocessing.channels
    return {
        "input": {"shape": ["b", side, side, channels], "dtype": "uint8", "layout": "NHWC"},
        "output": {"shape": ["b", len(classes)], "dtype": "float32", "meaning": "logits"},
        "preprocessing": preprocessing.to_json(),
        "classes": list(classes),
        "model": source.name,
        "source": str(source.path),
        "step": source.step,
    }


def _jaxcnn_version() -> str:
    try:
        return version("jaxcnn")
    except PackageNotFoundError:
        return "0+unknown"
