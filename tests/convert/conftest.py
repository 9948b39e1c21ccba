"""Access to the torchvision fixtures built by tools/make_torchvision_fixtures.py."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest

from jaxcnn.convert.testing import random_images, random_state_dict

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "torchvision"


@dataclasses.dataclass(frozen=True)
class TorchvisionFixture:
    """One model's fixture: torchvision's state_dict keys and shapes, seeds, and its outputs."""

    description: dict
    outputs: dict[str, np.ndarray]

    @property
    def spec(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(key, tuple(shape)) for key, shape in self.description["state_dict"]]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights torchvision ran with, drawn again from the seed."""
        return random_state_dict(self.spec, self.description["weight_seed"])

    def cases(self, module: str = "") -> list[tuple[np.ndarray, np.ndarray]]:
        """``(NHWC input, torchvision's output)`` of every stored case of ``module`` ('' = whole model)."""
        return [
            (random_images(c["seed"], *c["shape"]), self.outputs[c["name"]])
            for c in self.description["cases"]
            if c["module"] == module
        ]


@pytest.fixture(scope="session")
def torchvision_fixture():
    """``load(model_name) -> TorchvisionFixture``."""

    def load(name: str) -> TorchvisionFixture:
        description = json.loads((FIXTURES / f"{name}.json").read_text())
        with np.load(FIXTURES / f"{name}.npz") as outputs:
            return TorchvisionFixture(description, {key: outputs[key] for key in outputs.files})

    return load
