"""Reading weights back: a jaxcnn run folder, a torchvision weight file or published weights by
name (``resnet50:IMAGENET1K_V2``) into one ``Source``
(model, variables, classes, and how inputs were prepared), so that training from weights,
prediction and export read them the same way; a run folder's model and variables
(``load_checkpoint``; ``loop.evaluate`` evaluates them). Readers never write into a run folder:
they may read one that a live run holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np

from jaxcnn.convert import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    eval_resize,
    load_torchvision,
    merge_weights,
    model_from_variables,
)
from jaxcnn.convert.published import class_names, fit_weights, published_variables, weights_model
from jaxcnn.convert.weights_cache import cache_dir
from jaxcnn.models import get_weights, init_shapes, is_weights_name, model_info

from .config import TrainConfig
from .parts import build_model
from .runfolder.checkpoints import Checkpoints, check_finite_weights
from .runfolder.record import (
    DataInfo,
    read_config,
    read_data_info,
)
from .step import TrainState

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".npz")


@dataclasses.dataclass(frozen=True)
class Source:
    """Weights and what is known about them.

    Attributes:
      path: the run folder or weight file read.
      name: the registered model name (``'resnet20'``).
      model: the ``nn.Module`` the variables belong to (the run's classes and channels, or
        torchvision's ``num_classes`` and auxiliary heads).
      variables: ``{'params', 'batch_stats'}`` of numpy float32 arrays.
      classes: the class names (a run's dataset's), or None where the source does not say.
      step: the checkpoint step of a run; None for a weight file.
      image_size: the model's input side (a run's padded size; torchvision's ``input_size``).
      in_channels: input channels the weights expect.
      mean, std: per-channel input normalisation in 0..1 units (a run's training statistics,
        ImageNet's for torchvision weights).
      resize: shorter side before the centre crop of ``image_size`` for files of another size
        (torchvision: 256 for 224); None: ``image_size``.
      config, data: a run's ``TrainConfig`` and ``DataInfo``; None for a weight file.
    """

    path: Path
    name: str
    model: nn.Module
    variables: dict
    classes: tuple[str, ...] | None
    step: int | None
    image_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None = None
    config: TrainConfig | None = None
    data: DataInfo | None = None

    @property
    def num_classes(self) -> int:
        """Outputs of the source's classifier."""
        return self.model.num_classes


def load_source(src: str | Path, model: str | None = None, *, step: int | None = None, ema: bool = False) -> Source:
    """The weights at ``src``: a jaxcnn run folder (its checkpoint at ``step``, default the newest
    that restores; ``ema``: the moving average of its weights a ``--model-ema`` run kept), a
    torchvision weight file (``.pth``/``.pt``/``.th``, ``.safetensors``, ``.npz``) converted by
    ``jaxcnn.convert`` for the torchvision model ``model``, or published weights by name
    (``'resnet50:IMAGENET1K_V2'``, ``'resnet50:DEFAULT'``; downloaded and cached on first use, see
    ``jaxcnn.convert.published``).

    Raises:
      FileNotFoundError: ``src`` does not exist.
      ValueError: ``ema`` for what is not a run folder; a weight file without ``model``; a
        ``model`` that differs from a run's or the published weights'; a file of another kind;
        weights that do not fit the model (naming the layers); an unknown weights tag.
      jaxcnn.convert.WeightsUnavailableError: published weights not cached and not downloadable.
    """
    if ema and not Path(src).is_dir():
        raise ValueError(f"{src}: only a run folder keeps a moving average of its weights (--ema)")
    if is_weights_name(str(src)):
        return _published_source(str(src), model, step)
    path = Path(src)
    if path.is_dir():
        return _run_source(path, model, step, ema)
    if not path.exists():
        raise FileNotFoundError(f"{src}: no such run folder or weight file")
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"{src}: expected a jaxcnn run folder or a torchvision weight file ({', '.join(WEIGHT_SUFFIXES)})"
        )
    if model is None:
        raise ValueError(f"{src}: a weight file does not say which model it is; name it (--model resnet50)")
    if step is not None:
        raise ValueError(f"{src}: a weight file has no checkpoint steps; --step is for run folders")
    return _file_source(path, model)


def _run_source(path: Path, model: str | None, step: int | None, ema: bool = False) -> Source:
    config, info = read_config(path), read_data_info(path)
    if model is not None and model != config.model:
        raise ValueError(f"{path} is a run of {config.model}, not {model}; leave out --model for a run folder")
    module, variables, step = restore_run(path, step, ema=ema)
    return Source(
        path=path,
        name=config.model,
        model=module,
        variables=variables,
        classes=tuple(info.classes) or None,
        step=step,
        image_size=info.image_size,
        in_channels=info.in_channels,
        mean=info.mean,
        std=info.std,
        config=config,
        data=info,
    )


def _file_source(path: Path, name: str) -> Source:
    variables = jax.tree.map(np.asarray, load_torchvision(name, path))
    check_finite_weights(variables, str(path))
    size = model_info(name).input_size
    return Source(
        path=path,
        name=name,
        model=model_from_variables(name, variables),
        variables=variables,
        classes=None,
        step=None,
        image_size=size,
        in_channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        resize=eval_resize(size),
    )


def _published_source(spec: str, model: str | None, step: int | None) -> Source:
    weights = get_weights(spec)
    if model is not None and model != weights.model:
        raise ValueError(f"{spec} are weights of {weights.model}, not of {model}; leave out --model or name {model}'s")
    if step is not None:
        raise ValueError(f"{spec}: published weights have no checkpoint steps; --step is for run folders")
    if not weights.classifier:
        raise ValueError(
            f"{spec} holds no trained classifier (published so); start a training from it with --init-from, or "
            "read its features with jaxcnn.create_model(..., weights=...) and jaxcnn.features"
        )
    variables = published_variables(weights)
    check_finite_weights(variables, weights.name)
    return Source(
        path=cache_dir() / weights.file,
        name=weights.model,
        model=weights_model(weights),
        variables=variables,
        classes=class_names(weights),
        step=None,
        image_size=weights.crop,
        in_channels=3,
        mean=weights.mean,
        std=weights.std,
        resize=weights.resize,
    )


def restore_run(out: str | Path, step: int | None, *, ema: bool = False) -> tuple[nn.Module, dict, int]:
    """``load_checkpoint``'s model and variables (``ema``: their ``--model-ema`` average), and the
    step they were saved at.

    Raises:
      NonFiniteWeightsError: the checkpoint holds NaN or infinite values (names the step and the
        other saved steps)."""
    config, info = read_config(out), read_data_info(out)
    model = build_model(config, info.num_classes, info.in_channels)
    template = init_shapes(model, info.image_size, info.in_channels)
    checkpoints = Checkpoints(Path(out) / "checkpoints")
    try:
        variables, step = checkpoints.restore_variables_and_step(template, step, ema=ema)
        others = [saved for saved in checkpoints.steps() if saved != step]
        hint = f"; choose an earlier step with --step (saved: {', '.join(map(str, others))})" if others else ""
        check_finite_weights(variables, f"checkpoint step {step} in {checkpoints.directory}", hint)
        return model, variables, step
    finally:
        checkpoints.close()


def start_from(src: str | Path, model: nn.Module, name: str, state: TrainState, report) -> TrainState:
    """``state`` with its variables merged from the weights at ``src`` (``load_source``; a weight
    file is read for the model ``name``; published weights of ``name`` by
    ``jaxcnn.convert.published.fit_weights``) by ``jaxcnn.convert.merge_weights``; each of its
    notes goes to ``report`` as one line."""
    if is_weights_name(str(src)):
        variables, notes = fit_weights(model, state.variables, published_variables(get_weights(str(src))))
    else:
        source = load_source(src, None if Path(src).is_dir() else name)
        variables, notes = merge_weights(model, state.variables, source.variables)
    for note in notes:
        report(f"init-from {src}: {note}")
    return state.replace(params=variables["params"], batch_stats=variables.get("batch_stats", {}))


def load_checkpoint(out: str | Path, step: int | None = None, *, ema: bool = False) -> tuple[nn.Module, dict]:
    """The model and ``{'params', 'batch_stats'}`` (numpy) of a run folder's checkpoint at ``step``
    (default: the newest that can be restored; newer ones that cannot are reported on stderr with
    their folder), restored by layer name without building the optimizer; ``ema``: the moving
    average a ``--model-ema`` run kept instead."""
    model, variables, _ = restore_run(out, step, ema=ema)
    return model, variables
