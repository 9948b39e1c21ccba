import pytest

from jaxcnn.data import load
from jaxcnn.training import fit
from tests.training.runs import subset, tiny_config


@pytest.fixture(scope="session")
def tiny_data():
    """(train, test): 256 and 100 images of the embedded fashion_mnist_small."""
    return subset(load("fashion_mnist_small", "train"), 256), subset(load("fashion_mnist_small", "test"), 100)


@pytest.fixture(scope="session")
def source_run(tmp_path_factory, tiny_data):
    """A finished tiny resnet20 run (``tiny_config``) of one epoch (2 steps of 32) on 64 images,
    all ten classes: the weights other runs start from."""
    train, test = tiny_data
    out = tmp_path_factory.mktemp("source") / "run"
    fit(tiny_config(out, epochs=1), train=subset(train, 64), test=subset(test, 50))
    return out
