"""jaxcnn: VGGNet, Inception and ResNet as pure-function Flax modules."""

from jaxcnn import autodiff, convert, data
from jaxcnn.inspect import Summary, summary
from jaxcnn.models import count_params, create_model, list_models, model_info

__version__ = "0.1.0"

__all__ = [
    "Summary",
    "autodiff",
    "convert",
    "count_params",
    "create_model",
    "data",
    "list_models",
    "model_info",
    "summary",
]
