"""Backpropagation from first principles, checked against ``jax.grad``.

* `Value` and the expressions `+ - * /`, negation, `exp`, `log`, `maximum`: scalar
  computational graphs whose nodes know their local derivatives.
* `grad` (reverse mode, each edge touched once; `backprop` also counts the edges) and
  `path_grad` (the naive sum over all paths, with their count); `to_dot` describes the graph
  in Graphviz DOT and `draw_graph` draws it with matplotlib.
* `conv2d`: a convolution whose backward pass is itself written as convolutions.
"""

from jaxcnn.autodiff.backprop import Backprop, backprop, grad, path_grad, topological_order
from jaxcnn.autodiff.convolution import conv2d, conv2d_input_grad, conv2d_kernel_grad
from jaxcnn.autodiff.dot import to_dot
from jaxcnn.autodiff.draw import draw_graph
from jaxcnn.autodiff.value import Value, as_value, exp, log, maximum

__all__ = [
    "Backprop",
    "Value",
    "as_value",
    "backprop",
    "conv2d",
    "conv2d_input_grad",
    "conv2d_kernel_grad",
    "draw_graph",
    "exp",
    "grad",
    "log",
    "maximum",
    "path_grad",
    "to_dot",
    "topological_order",
]
