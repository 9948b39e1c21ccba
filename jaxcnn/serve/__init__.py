"""Using trained weights: ``Predictor`` classifies image files (with JAX or onnxruntime),
``export`` writes the evaluation forward pass as a ``jax.export`` artefact or an ONNX model that
run without jaxcnn."""

from .export import FORMATS, PLATFORMS, check_onnx, describe, describe_onnx, export, export_forward, onnx_forward
from .inputs import Preprocessing, served_inputs
from .onnx_graph import UnsupportedOperation
from .predict import RUNTIMES, Prediction, Predictor, eval_forward, expand_paths, top_k

__all__ = [
    "FORMATS",
    "PLATFORMS",
    "RUNTIMES",
    "UnsupportedOperation",
    "check_onnx",
    "describe",
    "describe_onnx",
    "export",
    "export_forward",
    "onnx_forward",
    "top_k",
    "Prediction",
    "Predictor",
    "Preprocessing",
    "eval_forward",
    "expand_paths",
    "served_inputs",
]
