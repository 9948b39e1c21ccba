"""The course's design considerations for CNN classifiers, checked on a measured forward pass.

Each check returns warnings of one sentence that give the rule's reason and the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jaxcnn.inspect.field import Field
from jaxcnn.inspect.walker import Row

MIN_CONVS = 6
MAX_FINAL_SIZE = 9  # "spatial resolution reduced to < 10"
DIMENSIONS = ("height", "width")


def design_warnings(rows: Sequence[Row], input_hw: tuple[int, int], out: Field, num_classes: int | None) -> list[str]:
    """All warnings for a network whose output has field ``out`` at input size ``input_hw``."""
    return [
        *input_divisibility(input_hw, rows),
        *final_size(out),
        *depth(out),
        *large_kernels(rows),
        *shrinking_feature_maps(rows),
        *classifier(rows, out, num_classes),
    ]


def number(value: float) -> str:
    """``7.0 -> '7'``, ``37.333 -> '37.33'``: fields and jumps as people write them."""
    return str(int(value)) if value == int(value) else f"{value:.2f}"


def _halvings(jump: float) -> int:
    """Stride-2 reductions in a total stride: the exponent of 2 in it (0 if not whole)."""
    return (int(jump) & -int(jump)).bit_length() - 1 if jump >= 1 and jump == int(jump) else 0


def input_divisibility(input_hw: tuple[int, int], rows: Sequence[Row]) -> list[str]:
    """Input height/width divisible by 2^k for the k stride-2 reductions of the deepest layer."""
    failing = {}  # (size, k) -> dimensions
    for d, (dim, size) in enumerate(zip(DIMENSIONS, input_hw)):
        k = max((_halvings(row.jump[d]) for row in rows), default=0)
        if size % 2**k:
            failing.setdefault((size, k), []).append(dim)
    warnings = []
    for (size, k), dims in failing.items():
        multiple = 2**k
        below, above = size // multiple * multiple, (size // multiple + 1) * multiple
        warnings.append(
            f"Input {' and '.join(dims)} {size} {'is' if len(dims) == 1 else 'are'} not divisible by "
            f"2^{k} = {multiple} although the network halves {'it' if len(dims) == 1 else 'them'} "
            f"{k} time{'s' if k != 1 else ''}, "
            f"so some feature maps get non-integral sizes and lose or pad border pixels; "
            f"the nearest sizes that are: {f'{below} and {above}' if below else above}."
        )
    return warnings


def final_size(out: Field) -> list[str]:
    """The feature map before the classifier should be under 10x10."""
    largest = max(out.size)
    if largest <= MAX_FINAL_SIZE:
        return []
    halvings, size = 0, largest
    while size > MAX_FINAL_SIZE:
        size, halvings = math.ceil(size / 2), halvings + 1
    return [
        f"The feature map before the classifier is {out.size[0]}x{out.size[1]}, not under 10x10: "
        f"{halvings} more stride-2 reduction{'s' if halvings > 1 else ''} would make it {size}x{size} "
        f"and so reduce computation and the final feature vector, enlarge the receptive field and "
        f"add robustness to small translations."
    ]


def depth(out: Field) -> list[str]:
    """At least 6 conv layers."""
    if out.convs >= MIN_CONVS:
        return []
    return [
        f"The longest path from input to output has {out.convs} conv layer{'s' if out.convs != 1 else ''}, "
        f"fewer than the {MIN_CONVS} that most tasks need for enough levels of abstraction."
    ]


def _stack_of_3x3(row: Row) -> tuple[int, str, str] | None:
    """``(conv weights, conv formula, stack text)`` when a stack of 3x3 convs with the same
    receptive field has fewer weights than ``row``'s large kernel, else ``None``.

    The stack changes the width once, in the layer where that is cheapest, and keeps the
    smaller of the two widths in between.
    """
    (kh, kw), (cin, cout), g = row.kernel, row.features, row.groups
    layers, small = math.ceil((max(kh, kw) - 1) / 2), min(kh, 3) * min(kw, 3)
    narrow = min(cin, cout)
    conv = kh * kw * (cin // g) * cout
    stack = small * (cin // g) * cout + (layers - 1) * small * (narrow // g) * narrow
    if stack >= conv:
        return None
    if cin == cout:
        formula = f"{layers * small}·{cin // g}·{cout}"
    else:
        formula = f"{small}·{cin // g}·{cout} + {(layers - 1) * small}·{narrow // g}·{narrow}"
    stack_text = (
        f"a stack of {layers} {min(kh, 3)}x{min(kw, 3)} convs with the same {kh}x{kw} receptive field "
        f"has {formula} = {stack:,}"
    )
    return conv, f"{kh * kw}·{cin // g}·{cout}", stack_text


def large_kernels(rows: Sequence[Row]) -> list[str]:
    """Stacks of 3x3 convs instead of one large kernel, except a stride-2 first layer."""
    warnings = []
    for row in rows:
        if row.kind != "conv" or max(row.kernel) <= 3 or (row.stem and min(row.stride) >= 2):
            continue
        compared = _stack_of_3x3(row)
        if compared:
            conv, conv_formula, stack_text = compared
            warnings.append(
                f"{row.name} has a {row.kernel[0]}x{row.kernel[1]} kernel with {conv_formula} = {conv:,} weights, "
                f"where {stack_text} and more non-linearities; only a stride-2 first layer is the usual exception."
            )
    return warnings


def shrinking_feature_maps(rows: Sequence[Row]) -> list[str]:
    """The number of feature maps should grow with depth (64 -> 256 or 512).

    A stage is every conv or merge output at one total stride (jump); its width is the most
    feature maps (last axis) among them, so bottleneck reductions inside a stage do not count.
    """
    widths: dict[int, tuple[int, str]] = {}
    for row in rows:
        if row.kind in ("conv", "concat", "add") and len(row.shape) == 4:
            jump = max(row.jump)
            if row.shape[-1] > widths.get(jump, (0, ""))[0]:
                widths[jump] = (row.shape[-1], row.name)
    widest = None
    for jump in sorted(widths):
        width, name = widths[jump]
        if widest and width < widest[0]:
            return [
                f"Feature maps shrink with depth: {widest[0]} at stride {number(widest[1])} but at most {width} "
                f"at stride {number(jump)} ({name}); they should grow as resolution falls (64 at first, 256 or "
                f"512 at the end) so that deeper layers can represent more kinds of features."
            ]
        widest = max(widest or (0, 0), (width, jump))
    return []


def _described(row: Row) -> str:
    return row.op if row.name == row.op else f"{row.op} ({row.name})"


def classifier(rows: Sequence[Row], out: Field, num_classes: int | None) -> list[str]:
    """The last layer is a dense layer with T = num_classes outputs."""
    target = f"T = {num_classes}" if num_classes else "T"
    if out.row is None or rows[out.row].kind != "dense":
        last = "no layer" if out.row is None else _described(rows[out.row])
        return [
            f"The last layer is {last}, not a dense layer with {target} outputs: a classifier ends with a "
            f"linear layer that gives one score per class."
        ]
    outputs = rows[out.row].features[1]
    if num_classes and outputs != num_classes:
        return [
            f"The last dense layer ({rows[out.row].name}) has {outputs} outputs but num_classes is "
            f"{num_classes}: a classifier needs one score per class."
        ]
    return []
