"""jaxcnn: VGGNet, Inception and ResNet as pure-function Flax modules.

Every public name is imported on first use (``jaxcnn.lazy``): ``import jaxcnn`` loads no jax, so
``jaxcnn --help`` answers at once. ``jaxcnn.autodiff``, the course's backpropagation code, is
loaded the same way: the library itself never needs it (nor the plotting it brings).
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from jaxcnn import convert, data, serve
    from jaxcnn.convert.published import create_model
    from jaxcnn.inspect import Summary, summary
    from jaxcnn.models import count_params, features, get_weights, list_models, list_weights, model_info, to_nnx
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
    "get_weights",
    "list_models",
    "list_weights",
    "load_checkpoint",
    "load_source",
    "model_info",
    "serve",
    "summary",
    "to_nnx",
]

__getattr__, __dir__ = lazy_exports(__name__, modules=("autodiff",))
