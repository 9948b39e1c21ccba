"""jaxcnn: VGGNet, Inception and ResNet as pure-function Flax modules."""

from importlib.metadata import PackageNotFoundError, version

from jaxcnn import autodiff, convert, data
from jaxcnn.inspect import Summary, summary
from jaxcnn.models import count_params, create_model, list_models, model_info
from jaxcnn.training import TrainConfig, evaluate, fit, load_checkpoint

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
    "fit",
    "list_models",
    "load_checkpoint",
    "model_info",
    "summary",
]
