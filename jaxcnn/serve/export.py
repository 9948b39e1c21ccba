"""The evaluation forward pass as a ``jax.export`` artefact: uint8 NHWC images in (any batch size),
float32 logits out, normalisation and weights inside; serialized to one file that any JAX process
runs with ``jax.export.deserialize(data).call(images)``, without jaxcnn. A JSON file beside it says
what goes in and what comes out, and holds the file's sha256 for the consumer to check before it
loads the file (a changed bit still deserializes, and gives other logits)."""

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

from jaxcnn.ops.backend import XLA
from jaxcnn.training import Source, load_source
from jaxcnn.training.runfolder.lock import atomic_write, writing

from .inputs import Preprocessing, served_inputs
from .predict import eval_forward

PLATFORMS = ("cpu", "cuda", "tpu")  # jax.export lowers for each without its device


def export_forward(
    model: nn.Module, variables, preprocessing: Preprocessing, platforms: tuple[str, ...] = PLATFORMS
) -> jax.export.Exported:
    """``jax.export`` of ``eval_forward`` with ``variables`` as constants, for uint8
    [b, crop, crop, channels] with a symbolic batch ``b``, lowered for ``platforms`` (no device of
    those kinds needed); the model uses XLA's own convolutions (``jaxcnn.ops.XLA``), the choice
    that suits every platform."""
    forward = functools.partial(eval_forward(model.clone(backend=XLA), preprocessing), variables)
    side, channels = preprocessing.crop, preprocessing.channels
    shape = jax.export.symbolic_shape(f"b, {side}, {side}, {channels}")
    return jax.export.export(jax.jit(forward), platforms=platforms)(jax.ShapeDtypeStruct(shape, jnp.uint8))


def export(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str | None = None,
    step: int | None = None,
    platforms: tuple[str, ...] = PLATFORMS,
) -> dict:
    """Write the evaluation forward pass of a run folder or torchvision weight file (see
    ``jaxcnn.load_source``) to ``out`` (``Exported.serialize()``) and its description, with the
    file's sha256, beside it with the suffix ``.json`` (``m.jax`` -> ``m.json``); returns that
    description.

    Both files are written whole or not at all: to temporary files in ``out``'s folder, renamed
    into place when complete, deleted on failure, so a failed export leaves an earlier one as it
    was.

    Raises:
      ValueError: ``out`` ends in ``.json`` (the description's name) or is a folder.
      RuntimeError: ``flatbuffers`` (the ``export`` extra) is not installed.
      DiskFullError, PermissionError: the files cannot be written (one line: the files, the
        space needed and free).
    """
    out = Path(out)
    if out.suffix == ".json":
        raise ValueError(f"{out}: the description is written to FILE.json; name the export otherwise")
    if out.is_dir():
        raise ValueError(f"{out} is a folder; --out names the export file to write, e.g. {out / 'model.jax'}")
    if importlib.util.find_spec("flatbuffers") is None:  # what Exported.serialize needs
        raise RuntimeError("writing a jax.export file needs flatbuffers: pip install 'jaxcnn[export]'")
    source = load_source(src, model, step=step)
    preprocessing, classes = served_inputs(source)
    exported = export_forward(source.model, jax.device_get(source.variables), preprocessing, tuple(platforms))
    data = exported.serialize()
    description = {**describe(exported, preprocessing, classes, source), "sha256": hashlib.sha256(data).hexdigest()}
    with writing(out, then="export again"):
        out.parent.mkdir(parents=True, exist_ok=True)
    text = (json.dumps(description, indent=1) + "\n").encode()
    atomic_write({out: bytes(data), out.with_suffix(".json"): text}, then="export again")
    return description


def describe(exported: jax.export.Exported, preprocessing: Preprocessing, classes, source: Source) -> dict:
    """The JSON description of an export: its input and output, how files become inputs, the class
    names, the source, the platforms and the versions that wrote it."""
    side, channels = preprocessing.crop, preprocessing.channels
    return {
        "format": "jax.export",
        "call": "jax.export.deserialize(bytes).call(images) -> logits",
        "input": {"shape": ["b", side, side, channels], "dtype": "uint8", "layout": "NHWC"},
        "output": {"shape": ["b", len(classes)], "dtype": "float32", "meaning": "logits"},
        "preprocessing": preprocessing.to_json(),
        "classes": list(classes),
        "model": source.name,
        "source": str(source.path),
        "step": source.step,
        "platforms": list(exported.platforms),
        "calling_convention_version": exported.calling_convention_version,
        "versions": {"jaxcnn": _jaxcnn_version(), "jax": jax.__version__},
    }


def _jaxcnn_version() -> str:
    try:
        return version("jaxcnn")
    except PackageNotFoundError:
        return "0+unknown"
