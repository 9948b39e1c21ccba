"""torchvision <-> jaxcnn weights.

``from_torchvision(name, state_dict)`` gives variables for ``create_model(name)`` from a
torchvision state_dict (numpy arrays or tensors, no torch needed); ``load_torchvision(name,
path)`` reads it from ``.pth``/``.th`` (without torch), ``.safetensors`` or ``.npz`` first;
``to_torchvision(name, variables)`` goes back, so a model trained here loads into torchvision;
``merge_weights(model, variables, source)`` starts a model (another number of classes, other
input channels) from such weights; ``published`` loads the publishers' trained weights by name
(``create_model("resnet50", weights="IMAGENET1K_V2")``), downloaded, verified and cached.

Names are imported on first use (``jaxcnn.lazy``): ``jaxcnn weights`` reads the cache without jax.
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from jaxcnn.convert.families import IMAGENET_MEAN, IMAGENET_STD, TORCHVISION_MODELS, eval_resize
    from jaxcnn.convert.io import load_torchvision, read_safetensors, read_state_dict
    from jaxcnn.convert.mapping import from_torchvision, model_from_variables, to_torchvision
    from jaxcnn.convert.merge import adapt_input_conv, merge_weights
    from jaxcnn.convert.published import class_names, create_model
    from jaxcnn.convert.torch_files import load_torch_file
    from jaxcnn.convert.weights_cache import WeightsUnavailableError, cache_dir, is_cached

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TORCHVISION_MODELS",
    "WeightsUnavailableError",
    "adapt_input_conv",
    "cache_dir",
    "class_names",
    "create_model",
    "eval_resize",
    "from_torchvision",
    "is_cached",
    "load_torch_file",
    "load_torchvision",
    "merge_weights",
    "model_from_variables",
    "read_safetensors",
    "read_state_dict",
    "to_torchvision",
]

__getattr__, __dir__ = lazy_exports(__name__)
