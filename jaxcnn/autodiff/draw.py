"""The graph of a `Value` drawn with matplotlib: the picture `to_dot` describes, without Graphviz."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from jaxcnn.autodiff.backprop import backprop, topological_order
from jaxcnn.autodiff.dot import is_constant, node_title
from jaxcnn.autodiff.value import Value

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_NODE_STYLE = {"boxstyle": "round,pad=0.4", "facecolor": "#fff8dc", "edgecolor": "0.3"}
_CONSTANT_STYLE = {"boxstyle": "round,pad=0.4", "facecolor": "0.92", "edgecolor": "0.5", "linestyle": "--"}
_EDGE_LABEL_STYLE = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"}
EDGE_LABEL_OFFSET = 0.15  # data units (columns and rows are 1 apart): a label sits beside its arrow, not on it
_BEND = 0.6  # arc3 curvature between repeated edges of the same two nodes


def draw_graph(output: Value, ax: Axes | None = None) -> Axes:
    """Draw the graph of ``output`` on ``ax`` (a new figure when None) and return the axes.

    Inputs sit in the leftmost column and every node one column right of its deepest parent.
    Each node shows its name (``node_title``: label, else expression, else "constant"), its
    forward value and d(output)/d(node) from one reverse-mode pass; constants (unlabelled
    leaves, such as the 1 of ``b + 1``) get a grey dashed box. Each edge is an arrow parent ->
    child with the local gradient d(child)/d(parent) in a white box beside its middle,
    ``EDGE_LABEL_OFFSET`` away from the arrow. Repeated edges between the same two nodes are
    bent apart so that each label stays readable.
    """
    order = topological_order(output)
    grads = backprop(output).grads
    position = _layout(order)
    if ax is None:
        import matplotlib.pyplot as plt  # pyplot only for a new figure, and only when drawing

        columns = 1 + max(x for x, _ in position.values())
        rows = max(Counter(x for x, _ in position.values()).values())
        _, ax = plt.subplots(figsize=(2.4 * columns + 0.6, 1.3 * rows + 0.8))
    for node in order:
        _draw_edges(ax, node, position)
    for node in order:
        text = f"{node_title(node)}\nvalue {node.data:.4g}\ngrad {grads[node]:.4g}"
        style = _CONSTANT_STYLE if is_constant(node) else _NODE_STYLE
        ax.text(*position[node], text, ha="center", va="center", fontsize=10, bbox=style, zorder=3)
    xs = [x for x, _ in position.values()]
    ys = [y for _, y in position.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    return ax


def _layout(order: list[Value]) -> dict[Value, tuple[float, float]]:
    """(column, row) of each node: column = longest path from an input, rows centred on 0."""
    column: dict[Value, int] = {}
    for node in order:  # parents come first
        column[node] = 1 + max((column[p] for p in node.parents), default=-1)
    by_column: dict[int, list[Value]] = {}
    for node in order:
        by_column.setdefault(column[node], []).append(node)
    return {
        node: (float(c), (len(nodes) - 1) / 2 - i) for c, nodes in by_column.items() for i, node in enumerate(nodes)
    }


def _draw_edges(ax: Axes, node: Value, position: dict) -> None:
    """Arrows from each parent of ``node`` to it, labelled with the local gradient."""
    repeats = Counter(node.parents)
    seen: Counter = Counter()
    (x2, y2) = position[node]
    for parent, local_grad in zip(node.parents, node.local_grads):
        k, m = seen[parent], repeats[parent]
        seen[parent] += 1
        rad = _BEND * (k - (m - 1) / 2)
        (x1, y1) = position[parent]
        ax.annotate(
            "",
            xy=(x2, y2),
            xytext=(x1, y1),
            arrowprops={
                "arrowstyle": "->",
                "color": "0.4",
                "connectionstyle": f"arc3,rad={rad}",
                "shrinkA": 28,
                "shrinkB": 28,
            },
        )
        ax.text(
            *_edge_label_position((x1, y1), (x2, y2), rad),
            f"{local_grad:.4g}",
            ha="center",
            va="center",
            fontsize=10,
            color="tab:blue",
            bbox=_EDGE_LABEL_STYLE,
            zorder=2,
        )


def _edge_label_position(start: tuple[float, float], end: tuple[float, float], rad: float) -> tuple[float, float]:
    """Where the label of an arc3 arrow ``start`` -> ``end`` of curvature ``rad`` goes: the
    middle of the curve, moved ``EDGE_LABEL_OFFSET`` further out along the chord's normal (on
    the side the curve bends to; above a straight arrow)."""
    (x1, y1), (x2, y2) = start, end
    length = math.hypot(x2 - x1, y2 - y1)
    nx, ny = (y2 - y1) / length, (x1 - x2) / length  # the unit normal right of the chord, where rad > 0 bends
    side = 1.0 if rad > 0 else -1.0
    # the middle of matplotlib's arc3 curve lies rad * length / 2 from the chord's middle
    out = rad * length / 2 + side * EDGE_LABEL_OFFSET
    return (x1 + x2) / 2 + out * nx, (y1 + y2) / 2 + out * ny
