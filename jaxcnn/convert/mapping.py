"""torchvision state_dict <-> jaxcnn variables.

Every leaf of a model's variables maps to one torchvision tensor (or, for blocks stacked by
``nn.scan``, to one tensor per block): ``kernel``/``scale`` <-> ``weight``, ``bias`` <->
``bias``, ``batch_stats`` ``mean``/``var`` <-> ``running_mean``/``running_var``. Conv kernels
are OIHW in torch and HWIO here; linear weights are ``(out, in)`` there and ``(in, out)``
here; a linear layer reading a flattened feature map also has its rows permuted from
torch's NCHW flatten order to our NHWC order.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxcnn.convert.families import Family, family_of, model_from_name

_TORCH_LEAF = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One leaf of the variables and the torchvision tensor(s) it is made of.

    ``path`` is ``(collection, *modules, leaf)``; ``shape`` is the Flax shape, with the
    stacking axis first when ``stacked``; ``keys`` has one torch name per stacked block.
    ``flattened`` is the ``(H, W)`` of the NCHW feature map a linear layer reads, or ``None``.
    """

    path: tuple[str, ...]
    shape: tuple[int, ...]
    keys: tuple[str, ...]
    stacked: bool
    flattened: tuple[int, int] | None

    @property
    def layer_shape(self) -> tuple[int, ...]:
        return self.shape[1:] if self.stacked else self.shape

    @property
    def torch_shape(self) -> tuple[int, ...]:
        shape = self.layer_shape
        if len(shape) == 4:  # HWIO -> OIHW
            return (shape[3], shape[2], shape[0], shape[1])
        return shape[::-1]  # (in, out) -> (out, in); vectors stay


def kernel_to_flax(weight: np.ndarray, flattened: tuple[int, int] | None = None) -> np.ndarray:
    """A torch weight in jaxcnn's layout: OIHW -> HWIO; ``(out, in) -> (in, out)`` with the rows
    of an NCHW flatten of an ``(H, W)`` map reordered to NHWC; 1-D arrays unchanged."""
    if weight.ndim == 4:
        return weight.transpose(2, 3, 1, 0)
    if weight.ndim == 2 and flattened:  # permute within rows first: far faster than one big gather
        (h, w), out = flattened, weight.shape[0]
        return weight.reshape(out, -1, h, w).transpose(0, 2, 3, 1).reshape(out, -1).T
    return weight.T if weight.ndim == 2 else weight


def kernel_to_torch(kernel: np.ndarray, flattened: tuple[int, int] | None = None) -> np.ndarray:
    """The inverse of ``kernel_to_flax``."""
    if kernel.ndim == 4:
        return kernel.transpose(3, 2, 0, 1)
    if kernel.ndim == 2 and flattened:
        (h, w), out = flattened, kernel.shape[1]
        return kernel.T.reshape(out, h, w, -1).transpose(0, 3, 1, 2).reshape(out, -1)
    return kernel.T if kernel.ndim == 2 else kernel


def expected_shapes(model: nn.Module) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Flat ``{(collection, *modules, leaf): shape}`` of ``model``'s variables, without FLOPs."""
    size = max(model.min_input_size, 32)
    x = jax.ShapeDtypeStruct((1, size, size, model.in_channels), jnp.float32)
    abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape, x.dtype)))
    return {path: tuple(leaf.shape) for path, leaf in traverse_util.flatten_dict(abstract).items()}


def entries(model: nn.Module, family: Family) -> list[Entry]:
    """The ``Entry`` of every leaf of ``model``'s variables."""
    found = []
    for path, shape in expected_shapes(model).items():
        collection, modules, leaf = path[0], path[1:-1], path[-1]
        stacked = "scan" in modules
        names = family.module_names(model, modules, shape[0] if stacked else 1)
        keys = tuple(f"{name}.{_TORCH_LEAF[collection, leaf]}" for name in names)
        found.append(Entry(path, shape, keys, stacked, family.flattened.get(modules)))
    return found


def batch_counters(table: Iterable[Entry]) -> list[str]:
    """torch's ``num_batches_tracked`` of every batch-norm layer (not needed by jaxcnn)."""
    return [key.replace("running_mean", "num_batches_tracked") for e in table if e.path[-1] == "mean" for key in e.keys]


def check_names(
    expected: Mapping[str, tuple],
    given: Mapping[str, tuple],
    *,
    subject: str,
    optional: Iterable[str] = (),
    hints: Iterable[str] = (),
) -> None:
    """Compare names and shapes; raise one ``ValueError`` listing every missing, unexpected and
    ill-shaped name (``optional`` names may be present or not)."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected) - set(optional))
    wrong = [
        f"{k}: expected {tuple(expected[k])}, got {tuple(given[k])}"
        for k in sorted(expected)
        if k in given and tuple(given[k]) != tuple(expected[k])
    ]
    if not (missing or unexpected or wrong):
        return
    lines = [f"{subject}:"]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            lines.append(f"  {len(items)} {label}: " + ", ".join(items))
    lines.extend(f"  {hint}" for hint in hints)
    raise ValueError("\n".join(lines))


def _describe(model: nn.Module, family: Family) -> str:
    fields = [f"num_classes={model.num_classes}"]
    fields += [f"aux_logits={model.aux_logits}"] if family.aux else []
    fields += [f"scan={model.scan}"] if family.scans else []
    return f"{type(model).__name__}({', '.join(fields)})"


def as_numpy(value: Any, key: str) -> np.ndarray:
    """A state_dict value (numpy array, torch tensor, anything array-like) as a numpy array."""
    if hasattr(value, "detach"):  # a torch tensor; numpy has no bfloat16, so widen it first
        value = value.detach().cpu()
        value = (value.float() if value.is_floating_point() else value).numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"state_dict[{key!r}] should be a numeric array; got {type(value).__name__} of dtype {array.dtype}."
        )
    return array


def _aux_keys(keys: Iterable[str], family: Family) -> list[str]:
    return [k for k in keys if k.split(".")[0] in family.aux]


def _import_hints(family: Family, missing: set[str], unexpected: set[str], named: bool) -> list[str]:
    hints = []
    if any(k.startswith("module.") for k in unexpected):
        hints.append("Keys start with 'module.' (saved from DataParallel): strip that prefix first.")
    if _aux_keys(unexpected, family):
        hints.append(
            "The state_dict has auxiliary classifiers: pass drop_aux=True to drop them"
            + ("." if named else " or create the model with aux_logits=True to keep them.")
        )
    if _aux_keys(missing, family):
        hints.append(
            "The state_dict lacks auxiliary classifier weights: create the model with aux_logits=False "
            "(pass drop_aux=True if it holds some of them)."
        )
    if not named:
        hints.append(
            "Pass the model's name instead of a model to infer num_classes and aux_logits from the state_dict."
        )
    return hints


def from_torchvision(model: str | nn.Module, state_dict: Mapping[str, Any], *, drop_aux: bool = False) -> dict:
    """Variables for a jaxcnn model from a torchvision ``state_dict``.

    Args:
      model: a torchvision model name (``'resnet50'``; ``num_classes`` and whether the
        auxiliary classifiers are kept are then read from the state_dict, and ResNets stack
        their repeated blocks as ``create_model`` does by default) or a jaxcnn model to fit.
      state_dict: torchvision's names -> arrays (numpy, torch tensors or array-likes) in
        torch layouts; ``num_batches_tracked`` entries are accepted and ignored.
      drop_aux: ignore the auxiliary classifiers (GoogLeNet ``aux1``/``aux2``, Inception v3
        ``AuxLogits``) when the model has none; without it they count as unexpected keys.

    Returns:
      ``{'params': ..., 'batch_stats': ...}`` (no ``batch_stats`` for VGG without BN): nested
      dicts of float32 ``jax.Array`` for ``model.apply(variables, x[N, H, W, 3])``.

    Raises:
      ValueError: listing every missing, unexpected and ill-shaped key at once.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"state_dict should be a mapping of torchvision names to arrays; got {type(state_dict).__name__}."
        )
    arrays = {key: as_numpy(value, key) for key, value in state_dict.items()}
    named = isinstance(model, str)
    if named:
        model = model_from_name(model, **_model_kwargs_from_torch(model, arrays, drop_aux))
    family = family_of(model)
    table = entries(model, family)
    if drop_aux and not model.aux_heads:
        arrays = {k: v for k, v in arrays.items() if k not in _aux_keys(arrays, family)}
    expected = {key: e.torch_shape for e in table for key in e.keys}
    given = {key: a.shape for key, a in arrays.items()}
    check_names(
        expected,
        given,
        subject=f"state_dict does not fit {_describe(model, family)}",
        optional=batch_counters(table),
        hints=_import_hints(family, set(expected) - set(given), set(given) - set(expected), named),
    )
    flat = {}
    for e in table:
        layers = [kernel_to_flax(np.asarray(arrays[key], np.float32), e.flattened) for key in e.keys]
        flat[e.path] = jnp.asarray(np.stack(layers) if e.stacked else layers[0])
    return traverse_util.unflatten_dict(flat)


def _model_kwargs_from_torch(name: str, arrays: Mapping[str, np.ndarray], drop_aux: bool) -> dict:
    family = family_of(model_from_name(name))
    kwargs = {}
    bias = arrays.get(f"{family.classifier[1]}.bias")
    if bias is not None and bias.ndim == 1:
        kwargs["num_classes"] = bias.shape[0]
    if family.aux:
        kwargs["aux_logits"] = bool(_aux_keys(arrays, family)) and not drop_aux
    return kwargs


def _model_kwargs_from_flax(name: str, flat: Mapping[tuple[str, ...], Any]) -> dict:
    family = family_of(model_from_name(name))
    kwargs = {}
    bias = flat.get(("params", *family.classifier[0], "bias"))
    if bias is not None and np.ndim(bias) == 1:
        kwargs["num_classes"] = np.shape(bias)[0]
    if family.aux:
        kwargs["aux_logits"] = any(len(path) > 1 and path[1] in family.aux for path in flat)
    if family.scans:
        unrolled = any(re.fullmatch(r"block\d+", part) for path in flat for part in path)
        stacked = any("scan" in path for path in flat)
        if unrolled != stacked:  # all one layout; a mix is what the default (scan=None) builds
            kwargs["scan"] = stacked
    return kwargs


def model_from_variables(name: str, variables: Mapping[str, Any]) -> nn.Module:
    """``create_model(name, ...)`` with the ``num_classes``, auxiliary classifiers and stacked or
    unrolled ResNet blocks that ``variables`` (``from_torchvision``'s output, say) hold."""
    return model_from_name(name, **_model_kwargs_from_flax(name, traverse_util.flatten_dict(variables)))


def to_torchvision(model: str | nn.Module, variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A torchvision ``state_dict`` (numpy arrays, torch layouts) from a jaxcnn model's variables.

    Args:
      model: a torchvision model name (``num_classes``, auxiliary classifiers and stacked or
        unrolled ResNet blocks are then read from ``variables``) or the jaxcnn model itself.
      variables: ``{'params': ..., 'batch_stats': ...}`` as ``model.init`` or training made them.

    Returns:
      ``{torchvision name: float32 array}``, plus ``num_batches_tracked = 0`` (int64) for every
      batch norm; ``torch.nn.Module.load_state_dict`` takes it after ``torch.from_numpy``.

    Raises:
      ValueError: listing every missing, unexpected and ill-shaped variable at once.
    """
    if not isinstance(variables, Mapping):
        raise TypeError(
            f"variables should be a mapping like {{'params': ..., 'batch_stats': ...}}; got {type(variables).__name__}."
        )
    flat = traverse_util.flatten_dict(variables)
    if isinstance(model, str):
        model = model_from_variables(model, variables)
    family = family_of(model)
    table = entries(model, family)
    check_names(
        {"/".join(e.path): e.shape for e in table},
        {"/".join(p): np.shape(v) for p, v in flat.items()},
        subject=f"variables do not fit {_describe(model, family)}",
    )
    state_dict = {}
    for e in table:
        leaf = np.asarray(flat[e.path], dtype=np.float32)
        for key, layer in zip(e.keys, leaf if e.stacked else [leaf]):
            state_dict[key] = np.require(kernel_to_torch(layer, e.flattened), requirements="CW")  # contiguous, writable
    state_dict.update({key: np.zeros((), np.int64) for key in batch_counters(table)})
    return state_dict
