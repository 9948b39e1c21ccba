"""The graph of a `Value` as Graphviz DOT text."""

from __future__ import annotations

from jaxcnn.autodiff.backprop import backprop, topological_order
from jaxcnn.autodiff.value import Value


def to_dot(output: Value) -> str:
    """Graphviz DOT text of the graph of ``output``, inputs on the left.

    Each node shows its name (``node_title``), its forward value and d(output)/d(node) from one
    reverse-mode pass; constants (unlabelled leaves) are dashed. Each edge parent -> child shows
    the local gradient d(child)/d(parent). Render with ``dot -Tsvg``.
    """
    order = topological_order(output)
    grads = backprop(output).grads
    names = {node: f"n{i}" for i, node in enumerate(order)}
    lines = ["digraph backprop {", "  rankdir=LR;", "  node [shape=box];"]
    for node in order:
        text = f"{_escape(node_title(node))}\\nvalue {node.data:.6g}\\ngrad {grads[node]:.6g}"
        style = ", style=dashed" if is_constant(node) else ""
        lines.append(f'  {names[node]} [label="{text}"{style}];')
    for node in order:
        for parent, local_grad in zip(node.parents, node.local_grads):
            lines.append(f'  {names[parent]} -> {names[node]} [label="{local_grad:.6g}"];')
    lines.append("}")
    return "\n".join(lines)


def is_constant(node: Value) -> bool:
    """Whether ``node`` is a constant: a leaf without a label, such as the number 1 that
    ``b + 1`` wraps with ``as_value``. Label the inputs you differentiate by."""
    return not node.parents and not node.label


def node_title(node: Value) -> str:
    """The first line of a node's box: its label, else its expression ("+"), else "constant"
    for a constant and "node" for an unnamed inner node."""
    return node.label or node.op or ("constant" if is_constant(node) else "node")


def _escape(title: str) -> str:
    """Escape the quotes and backslashes a user's label may contain."""
    return title.replace("\\", "\\\\").replace('"', '\\"')
