"""Classify image files with a run's or torchvision's weights: decode with the evaluation
transform, batch, one jitted forward pass, top-k class names with probabilities."""

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
    """A model's jitted evaluation forward pass with its input pipeline and class names.

    Args:
      model: a jaxcnn classifier (rebuilt here with the platform's convolution backend).
      variables: its ``{'params', 'batch_stats'}``.
      preprocessing: how files become its inputs.
      classes: the name of each label.
    """

    def __init__(self, model: nn.Module, variables, preprocessing: Preprocessing, classes: tuple[str, ...]):
        self.model = model.clone(backend=resolve_backend())
        self.preprocessing, self.classes = preprocessing, tuple(classes)
        self.variables = jax.device_put(variables)
        forward = eval_forward(self.model, preprocessing)
        self._top = jax.jit(lambda v, x, k: jax.lax.top_k(jax.nn.softmax(forward(v, x)), k), static_argnums=2)

    @classmethod
    def from_source(cls, src: str | os.PathLike, model: str | None = None, *, step: int | None = None) -> Predictor:
        """The predictor of a run folder (its checkpoint at ``step``, default the newest) or of a
        torchvision weight file of ``model`` (see ``jaxcnn.load_source``)."""
        source = load_source(src, model, step=step)
        return cls(source.model, source.variables, *served_inputs(source))

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
            probabilities, labels = jax.device_get(self._top(self.variables, batch, k))
        rows = {i: row for row, i in enumerate(good)}
        for i, path in enumerate(files):
            if i not in rows:
                yield Prediction(path, error=read[i])
                continue
            top = labels[rows[i]].tolist()
            names = tuple(self.classes[label] for label in top)
            yield Prediction(path, tuple(top), names, tuple(map(float, probabilities[rows[i]])))


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
