"""Walk the jaxpr of a forward pass and turn its operations into summary rows.

Every array of the jaxpr is either *data* (computed from the input image; it carries a
``~jaxcnn.inspect.field.Field``) or a *constant* (computed from parameters and batch
statistics only; it carries the set of parameter pieces it was computed from). Where a constant
meets data, its parameters are counted: on the row of that operation when it is a row (a conv
kernel, a dense matrix), otherwise on the row the data came from (a conv's bias, the BatchNorm
scale and offset after it). Calls (``jit``, ``custom_jvp``, ``remat``) are entered; ``scan`` is
entered once per iteration, so a ResNet stage compiled with ``nn.scan`` gives the same rows as
its unrolled twin.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from jax.extend.core import Literal

from jaxcnn.inspect import field as fields
from jaxcnn.inspect.field import Field, Window
from jaxcnn.inspect.jaxprs import open_jaxpr, scan_layout


@dataclasses.dataclass
class Row:
    """One convolution, pooling, dense or merge operation of the forward pass.

    Attributes:
      name: the flax module path (``layer1_block0/conv1``); operations written in a module's
        own code get their kind appended (``inception3a/concat``); a ``scan`` iteration is
        marked ``scan[i]``.
      op: readable operation with its window and stride (``conv 7x7/2``, ``max_pool 3x3/2``).
      kind: ``conv``, ``dense``, ``matmul``, ``pool``, ``global_pool``, ``concat`` or ``add``.
      shape: output shape.
      params: parameters the operation reads (kernel) plus those applied to its output before
        the next row (bias, BatchNorm scale and offset).
      macs: multiply-accumulates (convolutions and dense layers; 0 for the others).
      rf, jump: receptive field and jump of the output, in input pixels, ``(height, width)``.
      kernel, stride: window and stride of a conv or pool, ``(height, width)``.
      features: ``(in, out)`` channels of a conv or dense layer.
      groups: a conv's feature groups (channels per group = in / groups).
      stem: a conv that reads the input image directly (no conv before it on its path).
    """

    name: str
    op: str
    kind: str
    shape: tuple[int, ...]
    params: int
    macs: int
    rf: tuple[int, int]
    jump: tuple[int, int]
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    features: tuple[int, int] | None = None
    groups: int = 1
    stem: bool = False


@dataclasses.dataclass(frozen=True)
class Const:
    """An array computed without the input: the parameter pieces it depends on."""

    origins: frozenset = frozenset()


NO_PARAMS = Const()
WINDOW_POOLS = {
    "reduce_window_max": "max_pool",
    "reduce_window_sum": "avg_pool",
    "reduce_window_min": "min_pool",
    "reduce_window": "pool",
}
GLOBAL_POOLS = {"reduce_sum": "global_avg_pool", "reduce_max": "global_max_pool", "reduce_min": "global_min_pool"}


def _subjaxpr(eqn) -> tuple[Any, list] | None:
    """``(jaxpr, consts)`` of a call-like equation whose inner inputs are its own inputs."""
    for value in eqn.params.values():
        inner, consts = open_jaxpr(value)
        if hasattr(inner, "eqns") and len(inner.invars) == len(eqn.invars) and len(inner.outvars) == len(eqn.outvars):
            return inner, consts
    return None


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _named(prefix: str, inner: str, tag: str) -> str:
    """Full name stack of an equation: the caller's ``prefix``, then the equation's own; a scan
    iteration ``tag`` (``[i]``) marks the first component of the body's own names."""
    if not inner:
        return prefix + tag
    head, _, rest = inner.partition("/")
    return _join(prefix, head + tag, rest)


def _pair(values: Sequence[int]) -> tuple[int, int]:
    return (int(values[0]), int(values[-1]))


class Walker:
    """Collects ``Row`` s from a jaxpr; see the module docstring.

    ``piece_sizes`` maps every parameter piece (initially a leaf index) to its scalar count.
    """

    def __init__(self, piece_sizes: dict[Any, int]):
        self.rows: list[Row] = []
        self.sizes = dict(piece_sizes)
        self.claimed: set = set()
        self.unplaced = 0  # parameters met before the first row; they go to the next one

    # -- the walk -------------------------------------------------------------------------
    def walk(self, jaxpr, consts: Sequence[Any], inputs: Sequence[Any], prefix: str = "", tag: str = "") -> list[Any]:
        """Infos (``Field`` or ``Const``) of ``jaxpr``'s outputs given those of its inputs."""
        env = dict(zip(jaxpr.constvars, [NO_PARAMS] * len(consts)))
        env.update(zip(jaxpr.invars, inputs))

        def read(var):
            return NO_PARAMS if isinstance(var, Literal) else env[var]

        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            name = _named(prefix, str(eqn.source_info.name_stack), tag)
            if not any(isinstance(i, Field) for i in ins):
                outs = [Const(frozenset().union(*(i.origins for i in ins)))] * len(eqn.outvars)
            elif eqn.primitive.name == "scan":
                outs = self.scan(eqn, ins, name)
            elif (sub := _subjaxpr(eqn)) is not None:
                outs = self.walk(sub[0], sub[1], ins, name)
            else:
                outs = [self.operation(eqn, ins, name)] * len(eqn.outvars)
            env.update(zip(eqn.outvars, outs))
        return [read(v) for v in jaxpr.outvars]

    def scan(self, eqn, ins: list, name: str) -> list:
        """Each iteration in turn: carries flow on, sliced inputs get their own parameter pieces."""
        layout = scan_layout(eqn)
        n_consts, n_carry, length = layout.consts, layout.carry, layout.length
        consts, carry, xs = ins[:n_consts], ins[n_consts : n_consts + n_carry], ins[n_consts + n_carry :]
        stacked = [None] * (len(eqn.outvars) - n_carry)
        for i in range(length):
            inputs = consts + carry + [self.sliced(x, i, length) for x in xs]
            outs = self.walk(layout.body, layout.body_consts, inputs, name, f"[{i}]")
            carry, ys = outs[:n_carry], outs[n_carry:]
            stacked = [y if s is None else _combine(s, y) for s, y in zip(stacked, ys)]
        return carry + [_shifted(y, +1) if y is not None else NO_PARAMS for y in stacked]

    def sliced(self, info: Any, i: int, length: int) -> Any:
        """Iteration ``i``'s slice of a scanned-over input."""
        if isinstance(info, Field):
            return _shifted(info, -1)
        pieces = frozenset((origin, i) for origin in info.origins)
        for origin in info.origins:
            self.sizes[(origin, i)] = self.sizes[origin] // length
        return Const(pieces)

    # -- one operation on data --------------------------------------------------------------
    def operation(self, eqn, ins: list, name: str) -> Field:
        """The output field of one primitive applied to data; adds a row where it is one."""
        data = [i for i in ins if isinstance(i, Field)]
        out_shape = tuple(eqn.outvars[0].aval.shape)
        out, row = _RULES.get(eqn.primitive.name, _elementwise)(eqn, ins, data, out_shape)
        params = self.claim(ins)
        if row is None:
            self.credit(params, out.row)
            return out
        row = Row(name=name, shape=out_shape, params=params + self.unplaced, rf=out.rf, jump=out.jump, **row)
        if row.kind not in ("conv", "dense"):  # written in a module's own code: say what it is
            row.name = _join(name, row.op.split()[0])
        self.unplaced = 0
        self.rows.append(row)
        return dataclasses.replace(out, row=len(self.rows) - 1, convs=out.convs + (row.kind == "conv"))

    def claim(self, ins: list) -> int:
        """Scalars of the parameter pieces first used here."""
        pieces = frozenset().union(*(i.origins for i in ins if isinstance(i, Const))) - self.claimed
        self.claimed |= pieces
        return sum(self.sizes[p] for p in pieces)

    def credit(self, params: int, row: int | None) -> None:
        if row is None:
            self.unplaced += params
        else:
            self.rows[row].params += params


def _combine(a: Any, b: Any) -> Any:
    return fields.merge([a, b]) if isinstance(a, Field) else Const(a.origins | b.origins)


def _shifted(info: Any, by: int) -> Any:
    """The field of a scan slice (``by=-1``) or of the stacked outputs (``by=+1``)."""
    if not isinstance(info, Field):
        return info
    return dataclasses.replace(info, axes=tuple(None if a is None else a + by for a in info.axes), removed=(None, None))


# -- the rules, one per primitive: (eqn, infos, data infos, out shape) -> (Field, row or None) --
def _data_shape(eqn, ins) -> tuple[int, ...]:
    first = next(i for i, info in enumerate(ins) if isinstance(info, Field))
    return tuple(eqn.invars[first].aval.shape)


def _elementwise(eqn, ins, data, out_shape):
    """Anything position by position; ``add`` of two data arrays is a merge (a shortcut).

    An unknown primitive that changes the shape is taken to mix all positions (conservative).
    """
    out, in_shape = fields.merge(data), _data_shape(eqn, ins)
    if in_shape != out_shape:
        return fields.reduced(out, [a for a in out.axes if a is not None], in_shape), None
    if eqn.primitive.name == "add" and len(data) == 2:
        return out, dict(op="add", kind="add", macs=0)
    return out, None


def _same_axes(eqn, ins, data, out_shape):
    """Dynamic slices, splits, reversals: axes stay where they are, sizes change."""
    return fields.relocated(fields.merge(data), data[0].axes, out_shape), None


def _conv(eqn, ins, data, out_shape):
    """A convolution: every output reads ``kernel area x in-channels / groups`` inputs.

    A transposed conv (``lhs_dilation``, written ``conv_transpose k/s``) is a conv over an input
    with zeros inserted; only the taps that meet input values count, ``1 / s`` of them per axis.
    """
    p = eqn.params
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    rhs = eqn.invars[1].aval.shape
    kernel = tuple(rhs[d] for d in rhs_spec[2:])
    windows = {
        a: Window((k - 1) * r + 1, s, pad[0], lhs_dil)
        for a, k, r, s, pad, lhs_dil in zip(
            lhs_spec[2:], kernel, p["rhs_dilation"], p["window_strides"], p["padding"], p["lhs_dilation"]
        )
    }
    axis_map = {lhs_spec[0]: out_spec[0], lhs_spec[1]: out_spec[1], **dict(zip(lhs_spec[2:], out_spec[2:]))}
    field = data[0]
    out = fields.windowed(field, windows, axis_map, out_shape)
    features = (eqn.invars[0].aval.shape[lhs_spec[1]], out_shape[out_spec[1]])
    stride, upsampling = _pair(p["window_strides"]), _pair(p["lhs_dilation"])
    name, step = ("conv_transpose", upsampling) if max(upsampling) > 1 else ("conv", stride)
    op = f"{name} " + "x".join(map(str, kernel)) + (f"/{step[0]}" if max(step) > 1 else "")
    if p["feature_group_count"] > 1:
        op += f" groups={p['feature_group_count']}"
    macs = math.prod(out_shape) * math.prod(rhs) // rhs[rhs_spec[0]] // math.prod(p["lhs_dilation"])
    return out, dict(
        op=op,
        kind="conv",
        macs=macs,
        kernel=_pair(kernel),
        stride=stride,
        features=features,
        groups=p["feature_group_count"],
        stem=field.convs == 0,
    )


def _window_pool(eqn, ins, data, out_shape):
    p = eqn.params
    windows = {
        a: Window((w - 1) * wd + 1, s, pad[0], bd)
        for a, (w, s, pad, wd, bd) in enumerate(
            zip(p["window_dimensions"], p["window_strides"], p["padding"], p["window_dilation"], p["base_dilation"])
        )
    }
    out = fields.windowed(data[0], windows, {a: a for a in range(len(out_shape))}, out_shape)
    spatial = [a for a in data[0].axes if a is not None]
    if all(windows[a] == Window(1) for a in spatial):
        return out, None
    kernel = _pair([windows[a].extent for a in spatial])
    stride = _pair([windows[a].stride for a in spatial])
    op = WINDOW_POOLS[eqn.primitive.name] + f" {kernel[0]}x{kernel[1]}" + (f"/{stride[0]}" if max(stride) > 1 else "")
    return out, dict(op=op, kind="pool", macs=0, kernel=kernel, stride=stride)


def _reduce(eqn, ins, data, out_shape):
    """``sum``/``max``/... over axes; over every spatial axis left it is global pooling."""
    in_shape = eqn.invars[0].aval.shape
    axes = eqn.params["axes"]
    out = fields.reduced(data[0], axes, in_shape)
    spatial = [a for a in data[0].axes if a is not None]
    if spatial and all(a in axes for a in spatial) and eqn.primitive.name in GLOBAL_POOLS:
        return out, dict(op=GLOBAL_POOLS[eqn.primitive.name], kind="global_pool", macs=0)
    return out, None


def _dot(eqn, ins, data, out_shape):
    """A dense layer (data times parameters) or a product of two data arrays.

    The output's axes are the batch axes, then the free axes of the left, then of the right operand.
    """
    (contract_l, contract_r), (batch_l, batch_r) = eqn.params["dimension_numbers"]
    lhs, rhs = (v.aval.shape for v in eqn.invars)
    lhs_free = len(lhs) - len(contract_l) - len(batch_l)
    side = 0 if isinstance(ins[0], Field) else 1
    shape, contract, batch = (lhs, contract_l, batch_l) if side == 0 else (rhs, contract_r, batch_r)
    free = [a for a in range(len(shape)) if a not in contract and a not in batch]
    start = len(batch) + (0 if side == 0 else lhs_free)
    out_axis = {a: i for i, a in enumerate(batch)} | {a: start + i for i, a in enumerate(free)}
    out = fields.reduced(fields.merge(data), contract, shape, out_axis)
    macs = math.prod(out_shape) * math.prod(lhs[a] for a in contract_l)
    if len(data) == 2:
        return out, dict(op="matmul", kind="matmul", macs=macs)
    other_free = out_shape[len(batch) + lhs_free :] if side == 0 else out_shape[len(batch) : len(batch) + lhs_free]
    features = (math.prod(shape[a] for a in contract), math.prod(other_free))
    return out, dict(op="dense", kind="dense", macs=macs, features=features)


def _reshape(eqn, ins, data, out_shape):
    in_shape = eqn.invars[0].aval.shape
    kept, inserted = fields.reshape_axis_map(in_shape, out_shape)
    return fields.rearranged(data[0], in_shape, kept, inserted, out_shape), None


def _broadcast(eqn, ins, data, out_shape):
    kept = dict(enumerate(eqn.params["broadcast_dimensions"]))
    inserted = [a for a in range(len(out_shape)) if a not in kept.values() and out_shape[a] == 1]
    return fields.rearranged(data[0], eqn.invars[0].aval.shape, kept, inserted, out_shape), None


def _squeeze(eqn, ins, data, out_shape):
    in_shape = eqn.invars[0].aval.shape
    gone = set(eqn.params["dimensions"])
    kept = {a: a - sum(g < a for g in gone) for a in range(len(in_shape)) if a not in gone}
    return fields.rearranged(data[0], in_shape, kept, [], out_shape), None


def _transpose(eqn, ins, data, out_shape):
    perm = list(eqn.params["permutation"])
    return fields.relocated(data[0], [None if a is None else perm.index(a) for a in data[0].axes], out_shape), None


def _slice(eqn, ins, data, out_shape):
    """A strided slice (``x[:, ::2, ::2]``, the option-A shortcut) subsamples: the jump grows."""
    strides = eqn.params["strides"] or (1,) * len(out_shape)
    windows = {a: Window(1, s, -begin) for a, (s, begin) in enumerate(zip(strides, eqn.params["start_indices"]))}
    return fields.windowed(data[0], windows, {a: a for a in range(len(out_shape))}, out_shape), None


def _pad(eqn, ins, data, out_shape):
    """Padding moves the first position outwards (interior padding spreads the positions)."""
    windows = {a: Window(1, 1, low, interior + 1) for a, (low, _, interior) in enumerate(eqn.params["padding_config"])}
    return fields.windowed(data[0], windows, {a: a for a in range(len(out_shape))}, out_shape), None


def _concatenate(eqn, ins, data, out_shape):
    """Joining branches along channels is a merge row; along a spatial axis it is tiling."""
    axis = eqn.params["dimension"]
    if axis in data[0].axes:
        lengths = [v.aval.shape[axis] for v, i in zip(eqn.invars, ins) if isinstance(i, Field)]
        return fields.tiled(data, lengths, axis, out_shape), None
    out = fields.relocated(fields.merge(data), data[0].axes, out_shape)
    return out, (dict(op="concat", kind="concat", macs=0) if len(data) > 1 else None)


_RULES = {
    "conv_general_dilated": _conv,
    "dot_general": _dot,
    "reshape": _reshape,
    "broadcast_in_dim": _broadcast,
    "squeeze": _squeeze,
    "transpose": _transpose,
    "slice": _slice,
    "concatenate": _concatenate,
    "pad": _pad,
    **{name: _same_axes for name in ("dynamic_slice", "split", "rev")},
    **{name: _window_pool for name in WINDOW_POOLS},
    **{name: _reduce for name in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin")},
}
