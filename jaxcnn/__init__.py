"""jaxcnn: VGGNet, Inception and ResNet as pure-function Flax modules."""

__version__ = "0.1.0"
