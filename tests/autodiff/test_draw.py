"""draw_graph: one box per node with its value and d(output)/d(node), one arrow per edge with its
local gradient; the gradients are the course's hand-computed ones."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from jaxcnn import autodiff as ad  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_course_example_boxes_and_arrows():
    a, b = ad.Value(2.0, label="a"), ad.Value(1.0, label="b")
    e = (a + b) * (b + 1)  # the course: e = 6, de/da = 2, de/db = 5
    ax = ad.draw_graph(e)
    texts = [t.get_text() for t in ax.texts]
    boxes = [t for t in texts if "\n" in t]
    assert len(boxes) == 6  # a, b, the constant 1, c = a + b, d = b + 1 and e
    assert "a\nvalue 2\ngrad 2" in boxes and "b\nvalue 1\ngrad 5" in boxes
    assert "constant\nvalue 1\ngrad 3" in boxes  # the 1 of b + 1 is no input
    assert any(t.endswith("value 6\ngrad 1") for t in boxes)
    edge_labels = sorted(t for t in texts if t and "\n" not in t)  # the arrows are texts without text
    assert edge_labels == ["1", "1", "1", "1", "2", "3"]  # d(e)/d(c) = d = 2, d(e)/d(d) = c = 3
    assert len([c for c in ax.get_children() if isinstance(c, matplotlib.text.Annotation)]) == 6


def test_inputs_left_of_everything_they_feed():
    x = ad.Value(1.0, label="x")
    y = ad.Value(4.0, parents=(x, x, x), local_grads=(2.0, -3.0, 0.5), op="Y")
    ax = ad.draw_graph(y * y)
    box_x = {t.get_text().split("\n")[0]: t.get_position()[0] for t in ax.texts if "\n" in t.get_text()}
    assert box_x["x"] < box_x["Y"] < box_x["*"]


def course_example_drawing():
    """The course's e = (a + b)(b + 1): its axes, and the box texts by their first line."""
    a, b = ad.Value(2.0, label="a"), ad.Value(1.0, label="b")
    ax = ad.draw_graph((a + b) * (b + 1))
    return ax, [t for t in ax.texts if "\n" in t.get_text()]


def test_constants_are_boxed_apart_from_inputs():
    _, boxes = course_example_drawing()
    style = {t.get_text().split("\n")[0]: t.get_bbox_patch() for t in boxes}
    assert style["constant"].get_linestyle() == "--" and style["a"].get_linestyle() == "solid"
    assert tuple(style["constant"].get_facecolor()) != tuple(style["a"].get_facecolor())
    assert {tuple(style[name].get_facecolor()) for name in ("a", "b", "*")} == {tuple(style["a"].get_facecolor())}


def distance_to_segment(point, start, end) -> float:
    (px, py), (x1, y1), (x2, y2) = point, start, end
    t = max(0.0, min(1.0, ((px - x1) * (x2 - x1) + (py - y1) * (y2 - y1)) / ((x2 - x1) ** 2 + (y2 - y1) ** 2)))
    return math.hypot(px - x1 - t * (x2 - x1), py - y1 - t * (y2 - y1))


def test_edge_labels_sit_beside_their_arrows_not_on_them():
    ax, boxes = course_example_drawing()
    box_at = {t.get_text(): t.get_position() for t in boxes}
    node = {
        name: next(position for text, position in box_at.items() if text.endswith(value_and_grad))
        for name, value_and_grad in {
            "a": "value 2\ngrad 2",
            "b": "value 1\ngrad 5",
            "1": "value 1\ngrad 3",
            "c": "value 3\ngrad 2",
            "d": "value 2\ngrad 3",
            "e": "value 6\ngrad 1",
        }.items()
    }
    edges = [(node[parent], node[child]) for parent, child in ("ac", "bc", "bd", "1d", "ce", "de")]
    middles = [((x1 + x2) / 2, (y1 + y2) / 2) for (x1, y1), (x2, y2) in edges]
    labels = [t for t in ax.texts if t.get_text() and "\n" not in t.get_text()]
    assert len(labels) == 6
    for label in labels:
        position = label.get_position()
        # every arrow is straight here, and nodes are 1 apart: the label keeps clear of all arrows ...
        assert min(distance_to_segment(position, *edge) for edge in edges) >= 0.1
        # ... and sits beside the middle of one, in a white box
        assert min(math.dist(position, middle) for middle in middles) <= 0.25
        assert label.get_bbox_patch().get_facecolor() == (1.0, 1.0, 1.0, 1.0)
