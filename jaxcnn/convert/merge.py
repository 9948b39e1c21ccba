"""Starting a model from other weights: every layer whose path and shape fit is taken from the
source; the classifier of another number of classes and auxiliary heads the source lacks keep the
model's fresh initialisation; a stem for other input channels is adapted (timm's
``adapt_input_conv``); anything else that does not fit is one error naming every layer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import traverse_util

from jaxcnn.models import Classifier, check_classifier

Path = tuple[str, ...]


def adapt_input_conv(kernel: np.ndarray, in_channels: int) -> np.ndarray:
    """A conv kernel ``[kh, kw, I, O]`` for ``in_channels`` inputs, as timm's ``adapt_input_conv``:
    1 channel: the sum over the ``I`` input channels (a grey image through RGB weights gives what
    the RGB image with equal channels gave); otherwise the channels repeated cyclically and
    scaled by ``I / in_channels``. float32 in, float32 out."""
    kernel = np.asarray(kernel, np.float32)
    if in_channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeats = math.ceil(in_channels / kernel.shape[2])
    tiled = np.tile(kernel, (1, 1, repeats, 1))[:, :, :in_channels]
    return tiled * np.float32(kernel.shape[2] / in_channels)


def merge_weights(model: Classifier, variables: Mapping[str, Any], source: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """``variables`` (the model's fresh ``{'params', 'batch_stats'}``) with every leaf that the
    ``source`` variables hold at the same path and shape replaced by the source's (bit for bit).

    Besides equal layers, three differences are accepted, each said in one line of the returned
    notes: the classifier layers (``model.classifier_paths``) of another number of classes stay
    fresh; auxiliary heads the source lacks stay fresh, and those the model lacks are left out;
    the stem's kernel for other input channels (1-channel data into RGB weights) is adapted by
    ``adapt_input_conv``.

    Returns:
      ``(variables, notes)``: nested dicts of numpy arrays; the notes, one line per difference.

    Raises:
      ValueError: one message listing every other layer that is missing, extra or of another
        shape, with both shapes.
    """
    check_classifier(model, "merge_weights")
    ours, theirs = traverse_util.flatten_dict(dict(variables)), traverse_util.flatten_dict(dict(source))
    merged, fresh, adapted, problems = {}, [], [], []
    for path, leaf in ours.items():
        merged[path] = np.asarray(leaf)
        if path not in theirs:
            (fresh if _in_aux_head(model, path) else problems).append(path)
            continue
        mine, given = tuple(np.shape(leaf)), tuple(np.shape(theirs[path]))
        if mine == given:
            merged[path] = np.asarray(theirs[path])
        elif _in_classifier(model, path) and mine[:-1] == given[:-1]:  # another number of classes
            fresh.append(path)
        elif _is_input_conv(model, path, mine, given):
            merged[path] = adapt_input_conv(theirs[path], model.in_channels)
            adapted.append((path, given[2]))
        else:
            problems.append(path)
    dropped = [path for path in theirs if path not in ours]
    problems += [path for path in dropped if not _in_aux_head(model, path)]
    if problems:
        raise ValueError(_mismatch(problems, ours, theirs))
    return traverse_util.unflatten_dict(merged), _notes(model, fresh, adapted, dropped, theirs)


def _in_classifier(model: Classifier, path: Path) -> bool:
    return any(path[1 : 1 + len(layer)] == layer for layer in model.classifier_paths)


def _in_aux_head(model: Classifier, path: Path) -> bool:
    """A layer of an auxiliary head (one the model or the source may have been built without)."""
    return path[1] in model.aux_names


def _is_input_conv(model: Classifier, path: Path, mine: tuple, given: tuple) -> bool:
    """The stem: a conv kernel that differs only in its input channels, ``model.in_channels`` here."""
    return (
        path[-1] == "kernel"
        and len(mine) == len(given) == 4
        and mine[2] == model.in_channels
        and mine[:2] + mine[3:] == given[:2] + given[3:]
    )


def _name(path: Path) -> str:
    return "/".join(path)


def _mismatch(problems: list[Path], ours: dict, theirs: dict) -> str:
    described = []
    for path in problems:
        if path not in theirs:
            described.append(f"{_name(path)} (model {tuple(np.shape(ours[path]))}, not in the source)")
        elif path not in ours:
            described.append(f"{_name(path)} (source {tuple(np.shape(theirs[path]))}, not in the model)")
        else:
            described.append(
                f"{_name(path)} (source {tuple(np.shape(theirs[path]))}, model {tuple(np.shape(ours[path]))})"
            )
    return f"the source weights do not fit the model in {len(problems)} layers: {'; '.join(described)}"


def _notes(model: Classifier, fresh: list[Path], adapted: list, dropped: list[Path], theirs: dict) -> list[str]:
    notes = []
    heads = sorted({_name(path[1:-1]) for path in fresh if _in_classifier(model, path)})
    if heads:
        classes = np.shape(theirs[("params", *model.classifier_paths[0], "bias")])[-1]
        notes.append(
            f"{', '.join(heads)} initialised fresh: the source has {classes} classes, the model {model.num_classes}"
        )
    aux = sorted({path[1] for path in fresh if not _in_classifier(model, path)})
    if aux:
        notes.append(f"{', '.join(aux)} initialised fresh: the source has no auxiliary heads")
    if dropped:
        notes.append(f"the source's {', '.join(sorted({path[1] for path in dropped}))} left out: the model has none")
    for path, channels in adapted:
        notes.append(
            f"{_name(path[1:])} adapted from {channels} to {model.in_channels} input channels "
            "(timm's adapt_input_conv: summed over them for 1 channel)"
        )
    return notes
