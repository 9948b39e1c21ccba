import pytest

from jaxcnn.data import load
from tests.training.runs import subset


@pytest.fixture(scope="session")
def tiny_data():
    """(train, test): 256 and 100 images of the embedded fashion_mnist_small."""
    return subset(load("fashion_mnist_small", "train"), 256), subset(load("fashion_mnist_small", "test"), 100)
