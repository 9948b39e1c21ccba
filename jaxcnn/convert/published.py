"""Published trained weights by name: found in the cache or downloaded and verified
(``weights_cache``), converted once.

``create_model("resnet50", weights="IMAGENET1K_V2")`` gives the model and its variables. The
facts of each published file (where, its sha256, its evaluation transform) are the registry's
(``jaxcnn.models.list_weights``). The variables converted from a file are cached beside it
(``converted/``), so a second load reads one ``.npz``. A read-only cache folder, filled by hand
(for clusters without internet access), is read and never written. Nothing here imports or needs
PyTorch: ``.pth``/``.th`` files are read by ``jaxcnn.convert.torch_files``, which runs no code
from them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxcnn.convert.io import read_state_dict
from jaxcnn.convert.mapping import expected_shapes, from_torchvision
from jaxcnn.convert.merge import merge_weights
from jaxcnn.convert.weights_cache import cache_dir, sha256_of, weights_file
from jaxcnn.data.imagenet import imagenet_classes
from jaxcnn.models import PublishedWeights, get_weights
from jaxcnn.models import create_model as create_architecture

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def class_names(weights: PublishedWeights) -> tuple[str, ...]:
    """The label names of ``weights``' classifier: ImageNet's 1,000 or CIFAR-10's 10."""
    return imagenet_classes() if weights.classes == "imagenet" else CIFAR10_CLASSES


def weights_model(weights: PublishedWeights, **kwargs) -> nn.Module:
    """The architecture ``weights`` were trained as: the registry's model with the weights' classes
    and ``overrides`` (``transform_input``, ``channel_padding``), then ``kwargs``."""
    num_classes = len(class_names(weights))
    return create_architecture(weights.model, **{"num_classes": num_classes, **weights.overrides, **kwargs})


def published_variables(weights: PublishedWeights) -> dict:
    """``{'params', 'batch_stats'}`` (numpy float32) of ``weights_model(weights)``: read from the
    converted cache, else converted from the verified file (and cached where the folder is writable).

    Raises:
      ValueError: a cached file whose sha256 is not the published one (names it: delete it).
    """
    model = weights_model(weights)
    layout = hashlib.sha256(repr(sorted(expected_shapes(model).items())).encode()).hexdigest()[:12]
    converted = cache_dir() / "converted" / f"{Path(weights.file).stem}-{layout}.npz"
    if converted.is_file():
        with contextlib.suppress(OSError, ValueError, EOFError, zipfile.BadZipFile):  # damaged: convert again
            with np.load(converted, allow_pickle=False) as archive:
                return traverse_util.unflatten_dict({tuple(key.split("/")): archive[key] for key in archive.files})
    path = weights_file(weights)
    digest = sha256_of(path)
    if not digest.startswith(weights.sha256):
        raise ValueError(
            f"{path} has sha256 {digest}, but {weights.name} is published with sha256 {weights.sha256}...: "
            "it is not the publisher's file; delete it so that it is downloaded again"
        )
    variables = jax.tree.map(np.asarray, from_torchvision(model, _state_dict(path, weights), drop_aux=True))
    _save_converted(converted, variables)
    return variables


def _state_dict(path: Path, weights: PublishedWeights) -> dict[str, np.ndarray]:
    """The file's state_dict under torchvision's names (the release's prefix and renames undone)."""
    renamed = {}
    for key, value in read_state_dict(path).items():
        parts = key.removeprefix(weights.prefix).split(".")
        renamed[".".join(weights.renames.get(part, part) for part in parts)] = value
    return renamed


def _save_converted(path: Path, variables: dict) -> None:
    """Write ``variables`` to ``path`` atomically; a read-only cache is left as it is."""
    flat = {"/".join(key): value for key, value in traverse_util.flatten_dict(variables).items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **flat)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_model(
    name: str,
    *,
    weights: str | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    **kwargs,
) -> nn.Module | tuple[nn.Module, dict]:
    """A registered model, with published trained weights when ``weights`` names them.

    Args:
      name: a name from ``jaxcnn.list_models()``; ``'resnet50:IMAGENET1K_V2'`` names the weights too.
      weights: a tag of ``jaxcnn.list_weights(name)`` (``'IMAGENET1K_V1'``, ``'IMAGENET1K_V2'``),
        or ``'DEFAULT'`` (torchvision's default: the best published); None: no weights.
      num_classes: outputs of the classifier; with weights of another number of classes the
        classifier is new (initialised from ``seed``), every other layer the published one's.
      **kwargs: ``dtype``, ``backend`` and model attributes, as ``jaxcnn.models.create_model``.

    Returns:
      Without weights, the ``flax.linen.Module`` (as ``jaxcnn.models.create_model``); with them,
      ``(model, variables)``: ``variables`` is ``{'params', 'batch_stats'}`` of numpy float32 for
      ``model.apply(variables, x[N, H, W, 3], train=False)``, ``x`` transformed as
      ``get_weights(...)`` says (resize, crop, mean, std).

    Raises:
      ValueError: an unknown model or tag (listing the known ones); a downloaded or cached file
        that is not the publisher's (by sha256).
      WeightsUnavailableError: not cached and no download possible (names the URL and the path).
    """
    name, _, tag = name.partition(":")
    if weights is None and not tag:
        return create_architecture(name, num_classes=num_classes, **kwargs)
    published = get_weights(name, weights or tag)
    variables = published_variables(published)
    model = weights_model(published, **({"num_classes": num_classes} if num_classes else {}), **kwargs)
    if num_classes in (None, len(class_names(published))) and not kwargs and published.classifier:
        return model, variables
    return model, _fit_to(model, variables, seed)


def _fit_to(model: nn.Module, variables: dict, seed: int) -> dict:
    size = max(model.min_input_size, 32)
    fresh = model.init(jax.random.key(seed), jnp.zeros((1, size, size, model.in_channels)))
    return fit_weights(model, jax.tree.map(np.asarray, dict(fresh)), variables)[0]


def fit_weights(model: nn.Module, fresh: dict, variables: dict) -> tuple[dict, list[str]]:
    """``merge_weights(model, fresh, variables)``: ``variables`` in ``model``'s fresh variables (a new
    classifier for other classes, an adapted stem for other channels), except that layers whose
    published values are not finite (a classifier published without trained values, as VGG-16's
    ``IMAGENET1K_FEATURES``) keep their fresh values. Returns ``(variables, notes)``."""
    flat_fresh, flat_given = traverse_util.flatten_dict(dict(fresh)), traverse_util.flatten_dict(variables)
    untrained = [path for path, value in flat_given.items() if path in flat_fresh and not np.isfinite(value).all()]
    kept = {path: flat_fresh[path] if path in untrained else value for path, value in flat_given.items()}
    merged, notes = merge_weights(model, fresh, traverse_util.unflatten_dict(kept))
    layers = sorted({"/".join(path[1:-1]) for path in untrained})
    if layers:
        notes.append(f"{', '.join(layers)} start fresh: the published weights hold no trained values there")
    return merged, notes
