"""draw_graph: one box per node with its value and d(output)/d(node), one arrow per edge with its
local gradient; the gradients are the course's hand-computed ones."""

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
