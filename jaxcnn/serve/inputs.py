"""How a file becomes a model's input at evaluation: the pixels of ``open_image`` + ``eval_transform``
(the code training's image folders use), then ``jaxcnn.data.normalize`` (the code training's
evaluation uses) with a run's statistics."""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np

from jaxcnn.data import load, normalize
from jaxcnn.data.imagenet import imagenet_classes
from jaxcnn.data.transforms import eval_transform, open_image
from jaxcnn.training import Source


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """A model's evaluation input pipeline.

    Attributes:
      crop: side of the square ``eval_transform`` cuts from a file (a run's data side).
      input_size: side the model sees; the crop is centre-padded to it (``normalize``'s ``out_size``).
      channels: 1 (files read as grey, see ``open_image``) or 3 (RGB).
      mean, std: per-channel statistics in 0..1 units.
      resize: the shorter side before cropping (torchvision's ``Resize``); None: ``crop``.
      interpolation: the resize's, "bilinear" or "bicubic".
    """

    crop: int
    input_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None = None
    interpolation: str = "bilinear"

    def pixels(self, path: str | os.PathLike) -> np.ndarray:
        """The file at ``path`` as uint8 [crop, crop, channels]; the errors of ``open_image``
        (``jaxcnn.data.transforms.DECODE_ERRORS``) for a missing or damaged file."""
        image = open_image(path, self.channels)
        return eval_transform(image, self.crop, self.resize, self.interpolation).reshape(
            self.crop, self.crop, self.channels
        )

    def normalize(self, images) -> jax.Array:
        """uint8 [B, crop, crop, channels] -> float32 [B, input_size, input_size, channels]."""
        return normalize(images, np.asarray(self.mean), np.asarray(self.std), out_size=self.input_size)

    def to_json(self) -> dict:
        """The fields as a JSON object."""
        return dataclasses.asdict(self)


def served_inputs(source: Source) -> tuple[Preprocessing, tuple[str, ...]]:
    """The evaluation input pipeline and class names of a ``load_source`` result.

    A folder run's files get the evaluation transform its config.json records; a named dataset
    run's are cut to its data's side (its test split's), centre-padded to its input size
    and normalised with its training statistics, as ``evaluate`` does; a torchvision weight file's
    are resized and centre-cropped as torchvision evaluates, with ImageNet's statistics. Class names
    are a run's dataset's; 1,000-class weights without names get ImageNet's (``imagenet_classes``),
    other heads their label numbers.
    """
    crop, resize, classes = source.image_size, source.resize, source.classes
    interpolation = "bilinear"
    folder = source.data.folder if source.data is not None else None
    if folder is not None:
        crop, resize = folder["eval"]["crop"], folder["eval"]["resize"]
        interpolation = folder["eval"].get("interpolation", interpolation)
    elif source.config is not None:
        test = load(source.config.data, "test", root=source.config.data_root)
        crop, classes = test.images.shape[1], classes or test.classes
    if classes is None:
        count = source.model.num_classes
        classes = imagenet_classes() if count == len(imagenet_classes()) else tuple(map(str, range(count)))
    statistics = source.in_channels, source.mean, source.std
    preprocessing = Preprocessing(crop, source.image_size, *statistics, resize, interpolation)
    return preprocessing, tuple(classes)
