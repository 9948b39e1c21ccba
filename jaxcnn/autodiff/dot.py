"""The graph of a `Value` as Graphviz DOT text."""

from __future__ import annotations

from jaxcnn.autodiff.backprop import backprop, topological_order
from jaxcnn.autodiff.value import Value


def to_dot(output: Value) -> str:
    """Graphviz DOT text of the graph of ``output``, inputs on the left.

    Each node shows its name (label, else expression, else "input"), its forward value and
    d(output)/d(node) from one reverse-mode pass; each edge parent -> child shows the local
    gradient d(child)/d(parent). Render with ``dot -Tsvg``.
    """
    order = topological_order(output)
    grads = backprop(output).grads
    names = {node: f"n{i}" for i, node in enumerate(order)}
    lines = ["digraph backprop {", "  rankdir=LR;", "  node [shape=box];"]
    for node in order:
        title = _escape(node.label or node.op or "input")
        text = f"{title}\\nvalue {node.data:.6g}\\ngrad {grads[node]:.6g}"
        lines.append(f'  {names[node]} [label="{text}"];')
    for node in order:
        for parent, local_grad in zip(node.parents, node.local_grads):
            lines.append(f'  {names[parent]} -> {names[node]} [label="{local_grad:.6g}"];')
    lines.append("}")
    return "\n".join(lines)


def _escape(title: str) -> str:
    """Escape the quotes and backslashes a user's label may contain."""
    return title.replace("\\", "\\\\").replace('"', '\\"')
