"""The three families of image classifiers, each model created by name through ``create_model``."""

from jaxcnn.models import inception, resnet, vgg
from jaxcnn.models.base import Classifier, check_classifier, count_params, init_shapes
from jaxcnn.models.features import Features, features
from jaxcnn.models.registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = [
    "Classifier",
    "Features",
    "ModelInfo",
    "check_classifier",
    "count_params",
    "create_model",
    "features",
    "inception",
    "init_shapes",
    "list_models",
    "model_info",
    "register_model",
    "resnet",
    "vgg",
]
