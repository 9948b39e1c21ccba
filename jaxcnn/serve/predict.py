"""Classify image files with a run's or published weights: decode with the evaluation transform,
batch, one forward pass (jitted JAX, or onnxruntime), top-k class names with probabilities."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import UnidentifiedImageError

from jaxcnn.data.folder import image_files
from jaxcnn.data.transforms import DECODE_ERRORS
from jaxcnn.ops.backend import resolve_backend
from jaxcnn.training import load_source

from .inputs import Preprocessing, served_inputs

RUNTIMES = ("jax", "onnx")


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One file's result: the ``top_k`` labels, names and probabilities, most probable first, or
    ``error`` (one line naming the file) when it could not be read."""

    path: str
    labels: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    error: str | None = None

    def to_json(self) -> dict:
        """``{"file", "top_k": [{"label", "class", "probability"}, ...]}`` or ``{"file", "error"}``."""
        if self.error is not None:
            return {"file": self.path, "error": self.error}
        top = zip(self.labels, self.names, self.probabilities)
        return {"file": self.path, "top_k": [{"label": k, "class": n, "probability": p} for k, n, p in top]}

    def to_text(self) -> str:
        """``path: name (12.3%), name (4.5%), ...``."""
        return f"{self.path}: " + ", ".join(f"{n} ({100 * p:.1f}%)" for n, p in zip(self.names, self.probabilities))


def eval_forward(model: nn.Module, preprocessing: Preprocessing) -> Callable:
    """``forward(variables, images)``: uint8 [B, crop, crop, C] -> float32 logits [B, classes]; the
    input normalised by ``preprocessing`` (as in training's evaluation), the model in eval mode."""

    def forward(variables, images):
        return model.apply(variables, preprocessing.normalize(images), train=False).astype(jnp.float32)

    return forward


class Predictor:
    """A model's evaluation forward pass with its input pipeline and class names.

    Args:
      model: a jaxcnn classifier (rebuilt here with the platform's convolution backend).
      variables: its ``{'params', 'batch_stats'}``.
      preprocessing: how files become its inputs.
      classes: the name of each label.
      runtime: "jax" (the forward pass jitted) or "onnx" (translated to ONNX, run by onnxruntime:
        on a CPU the faster, see docs/deploy.md; needs the ``onnx`` extra).
    """

    def __init__(
        self, model: nn.Module, variables, preprocessing: Preprocessing, classes: tuple[str, ...], runtime: str = "jax"
    ):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        self.model = model.clone(backend=resolve_backend())
        self.preprocessing, self.classes = preprocessing, tuple(classes)
        self.variables = jax.device_put(variables)
        self._logits = self._onnx_logits() if runtime == "onnx" else self._jax_logits()

    def _jax_logits(self) -> Callable[[np.ndarray], np.ndarray]:
        forward = jax.jit(eval_forward(self.model, self.preprocessing))
        return lambda images: np.asarray(forward(self.variables, images))

    def _onnx_logits(self) -> Callable[[np.ndarray], np.ndarray]:
        from .export import check_installed, onnx_forward

        check_installed("onnx")
        import onnxruntime

        graph = onnx_forward(self.model, jax.device_get(self.variables), self.preprocessing).SerializeToString()
        session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
        return lambda images: session.run(None, {"images": images})[0]

    @classmethod
    def from_source(
        cls,
        src: str | os.PathLike,
        model: str | None = None,
        *,
        step: int | None = None,
        runtime: str = "jax",
        ema: bool = False,
    ) -> Predictor:
        """The predictor of a run folder (its checkpoint at ``step``, default the newest; ``ema``:
        the moving average of its weights), a weight file of ``model`` or published weights (see
        ``jaxcnn.load_source``), run by ``runtime``."""
        source = load_source(src, model, step=step, ema=ema)
        return cls(source.model, source.variables, *served_inputs(source), runtime=runtime)

    def predict(
        self, paths: Iterable[str | os.PathLike], *, top_k: int = 5, batch_size: int = 32, workers: int | None = None
    ) -> Iterator[Prediction]:
        """One ``Prediction`` per image file, in order; a folder stands for its image files (sorted,
        recursively). Files are decoded in ``workers`` threads and run ``batch_size`` at a time (a
        last partial batch is padded, so one compilation serves every batch); a file that cannot
        be read gives a ``Prediction`` with ``error`` and the others go on."""
        k = min(top_k, len(self.classes))
        files = list(expand_paths(paths))
        with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
            for start in range(0, len(files), batch_size):
                chunk = files[start : start + batch_size]
                yield from self._predict_chunk(chunk, list(pool.map(self._read, chunk)), k, batch_size)

    def _read(self, path: str) -> np.ndarray | str:
        try:
            return self.preprocessing.pixels(path)
        except DECODE_ERRORS as err:
            return f"cannot read {path}: {_reason(err)}"

    def _predict_chunk(self, files: list[str], read: list, k: int, batch_size: int) -> Iterator[Prediction]:
        good = [i for i, pixels in enumerate(read) if not isinstance(pixels, str)]
        if good:
            batch = np.zeros((batch_size, *read[good[0]].shape), np.uint8)
            batch[: len(good)] = [read[i] for i in good]
            probabilities, labels = top_k(self._logits(batch), k)
        rows = {i: row for row, i in enumerate(good)}
        for i, path in enumerate(files):
            if i not in rows:
                yield Prediction(path, error=read[i])
                continue
            top = labels[rows[i]].tolist()
            names = tuple(self.classes[label] for label in top)
            yield Prediction(path, tuple(top), names, tuple(map(float, probabilities[rows[i]])))


def top_k(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest softmax probabilities of float [B, classes] ``logits`` (float64 [B, k])
    and their labels (int [B, k]), most probable first; ties to the lower label, as
    ``jax.lax.top_k``."""
    logits = np.asarray(logits, np.float64)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    labels = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    return np.take_along_axis(probabilities, labels, -1), labels


def expand_paths(paths: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Each path as it is, a folder replaced by its image files (``jaxcnn.data.folder.image_files``);
    a folder without any stays, to be reported as unreadable."""
    for path in paths:
        found = image_files(path) if Path(path).is_dir() else []
        yield from map(str, found or [path])


def _reason(err: BaseException) -> str:
    if isinstance(err, IsADirectoryError):
        return "a folder without image files"
    if isinstance(err, UnidentifiedImageError):
        return "not an image file Pillow can decode"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return " ".join(str(err).split()) or type(err).__name__
