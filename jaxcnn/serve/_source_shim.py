"""TEMPORARY stand-in for jaxcnn.training.load_source (helper 24a); removed at the merge."""

from __future__ import annotations

import types
from pathlib import Path

import jax
import numpy as np

from jaxcnn.convert import load_torchvision
from jaxcnn.models import create_model, model_info
from jaxcnn.training import load_checkpoint, read_config
from jaxcnn.training.runfolder import read_data_info


def load_source(src, model=None, *, step=None):
    path = Path(src)
    if path.is_dir():
        config, info = read_config(path), read_data_info(path)
        module, variables = load_checkpoint(path, step)
        return types.SimpleNamespace(
            path=path,
            name=config.model,
            model=module,
            variables=variables,
            classes=None,
            step=step,
            image_size=info.image_size,
            in_channels=info.in_channels,
            mean=info.mean,
            std=info.std,
            resize=None,
            config=config,
            data=info,
        )
    variables = jax.tree.map(np.asarray, load_torchvision(model, path))
    size = model_info(model).input_size
    return types.SimpleNamespace(
        path=path,
        name=model,
        model=create_model(model),
        variables=variables,
        classes=None,
        step=None,
        image_size=size,
        in_channels=3,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        resize={224: 256, 299: 342}.get(size, size),
        config=None,
        data=None,
    )
