"""Receptive fields: what each array of a forward pass sees of the input image.

A ``Field`` travels with every array computed from the input and is updated by each
operation by the textbook recursion: a window of ``k`` with stride ``s`` over an input padded
by ``p`` turns ``(rf, jump, start)`` into ``(rf + (k - 1) * jump, jump * s, start + ((k - 1) / 2 - p) * jump)``;
an elementwise operation or a merge of branches takes the largest field over its inputs; a
reduction or a flatten over a spatial axis sees that whole axis. Height and width are tracked
separately (Inception's 1x7 and 7x1 convs). ``start``, the centre of the first position, is
what makes tiles joined along a spatial axis (adaptive pooling) come out right.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

Pair = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Field:
    """What one array sees of the input, per spatial dimension ``(height, width)``, in input pixels.

    Attributes:
      rf: receptive field size of one position.
      jump: distance between neighbouring positions (the product of strides).
      start: centre of position 0 (input pixel ``i`` has centre ``i``).
      axes: where height and width are in this array; ``None`` once an axis is reduced away.
      size: the spatial extent the last time it was larger than 1 (so after global pooling it
        still tells how large the final feature map was).
      removed: the position an axis had when it was reduced away, so that a ``keepdims``
        re-insertion of a unit axis at that position gives it back.
      convs: convolutions on the longest path from the input.
      row: index of the last summary row on the path (``None`` before the first).
    """

    rf: Pair
    jump: Pair
    start: Pair
    axes: tuple[int | None, int | None]
    size: tuple[int, int]
    removed: tuple[int | None, int | None] = (None, None)
    convs: int = 0
    row: int | None = None


class Window(NamedTuple):
    """A sliding window along one axis: its extent (dilation included), stride, low-side padding
    and input dilation (a transposed conv's ``lhs_dilation``)."""

    extent: int
    stride: int = 1
    pad_low: int = 0
    dilation: int = 1


def input_field(height: int, width: int, axes: tuple[int, int] = (1, 2)) -> Field:
    """The field of the input image itself: one pixel, jump 1."""
    return Field(rf=(1, 1), jump=(1, 1), start=(0, 0), axes=axes, size=(height, width))


def merge(fields: Sequence[Field]) -> Field:
    """Several inputs combined position by position (add, multiply, concatenate along
    channels): the largest field over the paths; placement is the first input's."""
    return dataclasses.replace(
        fields[0],
        rf=tuple(max(f.rf[d] for f in fields) for d in range(2)),
        jump=tuple(max(f.jump[d] for f in fields) for d in range(2)),
        convs=max(f.convs for f in fields),
        row=max((f.row for f in fields if f.row is not None), default=None),
    )


def _sizes(field: Field, axes: Sequence[int | None], shape: Sequence[int]) -> tuple[int, int]:
    return tuple(shape[a] if a is not None and shape[a] > 1 else field.size[d] for d, a in enumerate(axes))


def relocated(field: Field, axes: Sequence[int | None], shape: Sequence[int]) -> Field:
    """The same field at new axis positions in an array of ``shape``."""
    axes = tuple(axes)
    return dataclasses.replace(field, axes=axes, size=_sizes(field, axes, shape), removed=(None, None))


def windowed(field: Field, windows: dict[int, Window], axis_map: dict[int, int], shape: Sequence[int]) -> Field:
    """Sliding windows (convolution, pooling, slicing, padding) on the input axes in ``windows``;
    ``axis_map`` tells where each input axis lands in the output of ``shape``."""
    rf, jump, start = list(field.rf), list(field.jump), list(field.start)
    for d, axis in enumerate(field.axes):
        if axis in windows:
            w = windows[axis]
            jump[d] /= w.dilation
            rf[d] += (w.extent - 1) * jump[d]
            start[d] += ((w.extent - 1) / 2 - w.pad_low) * jump[d]
            jump[d] *= w.stride
    axes = tuple(None if a is None else axis_map[a] for a in field.axes)
    return dataclasses.replace(
        field,
        rf=tuple(rf),
        jump=tuple(jump),
        start=tuple(start),
        axes=axes,
        size=_sizes(field, axes, shape),
        removed=(None, None),
    )


def reduced(
    field: Field, reduced_axes: Sequence[int], in_shape: Sequence[int], out_axis: dict[int, int] | None = None
) -> Field:
    """Axes summed, maxed, contracted or flattened into others: a spatial axis among them is
    seen whole (a window over its full extent) and is gone from the array.

    ``out_axis`` maps the surviving input axes to output axes (default: they close up in order).
    """
    reduced_axes = set(reduced_axes)
    if out_axis is None:
        out_axis = {a: a - sum(r < a for r in reduced_axes) for a in range(len(in_shape)) if a not in reduced_axes}
    rf, start, axes, removed = list(field.rf), list(field.start), list(field.axes), list(field.removed)
    for d, axis in enumerate(field.axes):
        if axis is None:
            continue
        if axis in reduced_axes:
            rf[d] += (in_shape[axis] - 1) * field.jump[d]
            start[d] += (in_shape[axis] - 1) / 2 * field.jump[d]
            axes[d], removed[d] = None, axis
        else:
            axes[d] = out_axis[axis]
    return dataclasses.replace(field, rf=tuple(rf), start=tuple(start), axes=tuple(axes), removed=tuple(removed))


def rearranged(
    field: Field,
    in_shape: Sequence[int],
    axis_map: dict[int, int],
    inserted_unit_axes: Sequence[int],
    shape: Sequence[int],
) -> Field:
    """A reshape, broadcast or squeeze that moves input axes by ``axis_map`` to an array of
    ``shape``: a spatial axis it drops or merges is seen whole; a spatial axis reduced away just
    before comes back if a unit axis is inserted where it was (``mean(axis, keepdims=True)``)."""
    removed_before = field.removed
    dropped = [a for a in field.axes if a is not None and a not in axis_map]
    field = reduced(field, dropped, in_shape, axis_map)
    axes = [
        a if a is not None else (removed_before[d] if removed_before[d] in inserted_unit_axes else None)
        for d, a in enumerate(field.axes)
    ]
    return relocated(field, axes, shape)


def tiled(fields: Sequence[Field], lengths: Sequence[int], axis: int, shape: Sequence[int]) -> Field:
    """Arrays joined along a spatial ``axis`` (the bins of an adaptive pool).

    Tiles may differ in field size, so the result is placed to span exactly what they span:
    its first position's field starts where the first tile's does and its last position's
    ends where the last tile's does, with the largest tile field; a later reduction over the
    axis then sees exactly the union of the tiles.
    """
    out = merge(fields)
    d = fields[0].axes.index(axis)
    low = fields[0].start[d] - fields[0].rf[d] / 2
    high = fields[-1].start[d] + (lengths[-1] - 1) * fields[-1].jump[d] + fields[-1].rf[d] / 2
    positions = sum(lengths)
    jump, start = list(out.jump), list(out.start)
    if positions > 1:
        jump[d] = (high - low - out.rf[d]) / (positions - 1)
    start[d] = low + out.rf[d] / 2
    return relocated(dataclasses.replace(out, jump=tuple(jump), start=tuple(start)), out.axes, shape)


def reshape_axis_map(in_shape: Sequence[int], out_shape: Sequence[int]) -> tuple[dict[int, int], list[int]]:
    """How a row-major reshape treats each axis: ``(kept, inserted)``, the input axes that
    survive intact with their output position, and the output unit axes from no input axis
    (every other input axis is merged with others, split, or a dropped unit axis)."""
    kept, inserted = {}, []
    i = j = 0
    while i < len(in_shape) and j < len(out_shape):
        if in_shape[i] == out_shape[j]:
            kept[i] = j
            i, j = i + 1, j + 1
        elif in_shape[i] == 1:
            i += 1
        elif out_shape[j] == 1:
            inserted.append(j)
            j += 1
        else:  # a group of axes whose sizes multiply to the same number
            in_prod, out_prod = in_shape[i], out_shape[j]
            i, j = i + 1, j + 1
            while in_prod != out_prod:
                if in_prod < out_prod:
                    in_prod, i = in_prod * in_shape[i], i + 1
                else:
                    out_prod, j = out_prod * out_shape[j], j + 1
    inserted.extend(k for k in range(j, len(out_shape)) if out_shape[k] == 1)
    return kept, inserted
