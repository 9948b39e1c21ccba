"""Derivatives in a graph of `Value` nodes: reverse mode (backpropagation) and the naive
sum over paths it factorises.

The chain rule says d(output)/d(x) is the sum over every path from x to the output of the
product of the local derivatives along the path. `path_grad` computes exactly that, and
the number of paths grows exponentially with the depth of the graph. `backprop` computes
the same numbers by visiting the nodes once in reverse topological order and touching
every edge once: d(output)/d(node) = sum over the node's children c of
d(c)/d(node) * d(output)/d(c).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from jaxcnn.autodiff.value import Value


class Backprop(NamedTuple):
    """The result of one reverse-mode pass.

    Attributes:
      grads: d(output)/d(node) for every node of the graph, keyed by the node itself.
      n_edges: how many edges the pass touched; equals the number of edges of the graph.
    """

    grads: dict[Value, float]
    n_edges: int


def topological_order(output: Value) -> list[Value]:
    """Every node ``output`` depends on (itself included), each parent before its children.

    Iterative depth-first search, so graphs deeper than Python's recursion limit work.
    """
    _check_output(output)
    order: list[Value] = []
    seen = {output}
    stack = [(output, iter(output.parents))]
    while stack:
        node, unvisited_parents = stack[-1]
        for parent in unvisited_parents:
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, iter(parent.parents)))
                break
        else:  # all parents are in `order` already
            stack.pop()
            order.append(node)
    return order


def backprop(output: Value) -> Backprop:
    """Reverse-mode differentiation of ``output`` with respect to every node of its graph.

    Starts at the output with d(output)/d(output) = 1 and walks towards the inputs; at each
    node it passes local gradient * its own gradient to every parent, so each edge is
    touched exactly once.
    """
    order = topological_order(output)
    grads = dict.fromkeys(order, 0.0)
    grads[output] = 1.0
    n_edges = 0
    for node in reversed(order):
        for parent, local_grad in zip(node.parents, node.local_grads):
            grads[parent] += local_grad * grads[node]
            n_edges += 1
    return Backprop(grads, n_edges)


def grad(output: Value, wrt: Sequence[Value]) -> list[float]:
    """d(output)/d(x) for every x in ``wrt``, by reverse mode (see `backprop`).

    Args:
      output: the scalar graph output, e.g. a loss built from `Value` expressions.
      wrt: nodes of that graph, usually its leaves (parameters).

    Returns:
      One Python float per entry of ``wrt``.

    Raises:
      TypeError: ``output`` is not a single `Value`, or ``wrt`` is not a list of them.
      ValueError: a ``wrt`` node is not part of the graph of ``output``.
    """
    grads = backprop(output).grads
    _check_wrt(wrt, grads)
    return [grads[x] for x in wrt]


def path_grad(output: Value, wrt: Sequence[Value]) -> tuple[list[float], int]:
    """d(output)/d(x) for every x in ``wrt`` as the sum over all paths x -> output of the
    product of local gradients: the naive method that `grad` factorises.

    The work grows with the number of paths, which is exponential in the depth of a graph
    whose nodes are reused; use it to check `grad` on small graphs.

    Returns:
      (gradients, n_paths): one float per entry of ``wrt``, and how many paths from a
      ``wrt`` node to the output were multiplied out and summed.

    Raises:
      TypeError: as `grad`.
      ValueError: as `grad`.
    """
    _check_wrt(wrt, set(topological_order(output)))
    totals = dict.fromkeys(wrt, 0.0)
    n_paths = 0
    stack = [(output, 1.0)]  # (node, product of local gradients from the output to it)
    while stack:
        node, product = stack.pop()
        if node in totals:
            totals[node] += product
            n_paths += 1
        stack.extend((parent, product * local_grad) for parent, local_grad in zip(node.parents, node.local_grads))
    return [totals[x] for x in wrt], n_paths


def _check_output(output) -> None:
    if isinstance(output, Value):
        return
    if isinstance(output, (list, tuple)):
        several = f"a {type(output).__name__} of {len(output)} elements"
    elif getattr(output, "shape", ()) != ():
        several = f"an array of shape {tuple(output.shape)}"
    else:
        several = ""
    if several:
        raise TypeError(
            f"the output must be one scalar Value; got {several}. "
            "Sum them into one loss, or differentiate each element."
        )
    raise TypeError(
        f"the output must be a scalar Value built from Value expressions; got "
        f"{type(output).__name__}. Start from leaves like Value(2.0) so that the "
        "expressions record the graph (jax arrays are differentiated with jax.grad)."
    )


def _check_wrt(wrt, graph_nodes) -> None:
    if isinstance(wrt, Value) or not isinstance(wrt, (list, tuple)):
        raise TypeError(
            f"wrt must be a list or tuple of Value nodes; got {type(wrt).__name__}. For one node x pass [x]."
        )
    for i, x in enumerate(wrt):
        if not isinstance(x, Value):
            raise TypeError(f"wrt[{i}] must be a Value; got {type(x).__name__}.")
        if x not in graph_nodes:
            raise ValueError(
                f"wrt[{i}] = {x!r} is not a node of the output's graph: the output was not "
                "computed from it. Pass the Value objects the output was built from "
                "(a new Value with the same number is a different node)."
            )
