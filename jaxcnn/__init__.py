"""jaxcnn: VGGNet, Inception and ResNet as pure-function Flax modules."""

import importlib
from importlib.metadata import PackageNotFoundError, version

from jaxcnn import convert, data, serve
from jaxcnn.inspect import Summary, summary
from jaxcnn.models import count_params, create_model, features, list_models, model_info
from jaxcnn.training import TrainConfig, evaluate, fit, load_checkpoint, load_source

try:
    __version__ = version("jaxcnn")  # pyproject.toml's version, as installed
except PackageNotFoundError:  # a source tree on sys.path that was never pip-installed
    __version__ = "0+unknown"

__all__ = [
    "Summary",
    "TrainConfig",
    "autodiff",
    "convert",
    "count_params",
    "create_model",
    "data",
    "evaluate",
    "features",
    "fit",
    "list_models",
    "load_checkpoint",
    "load_source",
    "model_info",
    "serve",
    "summary",
]


def __getattr__(name: str):
    """``jaxcnn.autodiff``, the course's backpropagation code, imported on first use: the library
    itself never needs it (nor the plotting it brings)."""
    if name == "autodiff":
        return importlib.import_module("jaxcnn.autodiff")
    raise AttributeError(f"module 'jaxcnn' has no attribute {name!r}")
