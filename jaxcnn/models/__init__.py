"""The three families of image classifiers, each model created by name through ``create_model``.

Its names are imported on first use (``jaxcnn.lazy``): ``list_models`` and ``model_info`` read the
registry's table without importing jax (``jaxcnn models``).
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from jaxcnn.models import inception, resnet, vgg
    from jaxcnn.models.base import Classifier, check_classifier, count_params, init_shapes
    from jaxcnn.models.features import Features, features
    from jaxcnn.models.nnx_bridge import linen_variables, to_nnx
    from jaxcnn.models.registry import (
        ModelInfo,
        PublishedWeights,
        create_model,
        get_weights,
        is_weights_name,
        list_models,
        list_weights,
        model_info,
        register_model,
    )

__all__ = [
    "Classifier",
    "Features",
    "ModelInfo",
    "PublishedWeights",
    "check_classifier",
    "count_params",
    "create_model",
    "features",
    "get_weights",
    "inception",
    "init_shapes",
    "is_weights_name",
    "linen_variables",
    "list_models",
    "list_weights",
    "model_info",
    "register_model",
    "resnet",
    "to_nnx",
    "vgg",
]

__getattr__, __dir__ = lazy_exports(__name__)
