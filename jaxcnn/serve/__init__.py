"""Using trained weights: ``Predictor`` classifies image files, ``export`` writes the evaluation
forward pass as a ``jax.export`` artefact that runs without jaxcnn."""

from .export import PLATFORMS, describe, export, export_forward
from .inputs import Preprocessing, served_inputs
from .predict import Prediction, Predictor, eval_forward, expand_paths

__all__ = [
    "PLATFORMS",
    "describe",
    "export",
    "export_forward",
    "Prediction",
    "Predictor",
    "Preprocessing",
    "eval_forward",
    "expand_paths",
    "served_inputs",
]
