"""``summary(model, input_shape)``: the per-layer table of any flax linen model, its totals and
the course's design warnings; the ``jaxcnn summary`` command."""

from __future__ import annotations

import collections
import dataclasses
import html
import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.inspect.field import Field, input_field
from jaxcnn.inspect.rules import design_warnings, number
from jaxcnn.inspect.walker import NO_PARAMS, Const, Row, Walker
from jaxcnn.ops import XLA

COLUMNS = ("layer", "op", "output", "params", "MACs", "RF", "jump")


@dataclasses.dataclass
class Summary:
    """What ``summary`` measured.

    Attributes:
      rows: one ``Row`` per convolution, pooling, dense and merge operation, in order.
      total_params: scalars in the ``params`` collection (equals ``count_params``).
      total_macs: multiply-accumulates of convolutions and dense layers for the whole input batch.
      warnings: broken design rules, one sentence each.
      input_shape: ``(N, H, W, C)`` the model was traced at.
      unused_params: parameters the forward pass never reads, by variable path (e.g. the
        auxiliary classifiers of GoogLeNet outside training).
    """

    rows: list[Row]
    total_params: int
    total_macs: int
    warnings: list[str]
    input_shape: tuple[int, ...]
    unused_params: dict[str, int]

    def table(self) -> list[tuple[str, ...]]:
        """The rows as strings, in ``COLUMNS`` order."""
        return [
            (
                r.name,
                r.op,
                "x".join(map(str, r.shape)),
                f"{r.params:,}",
                f"{r.macs:,}",
                _pair_text(r.rf),
                _pair_text(r.jump),
            )
            for r in self.rows
        ]

    def totals(self) -> str:
        """``'25,557,032 parameters, 4,089,184,256 MACs (4.089 G) at input 1x224x224x3'`` (+ unused)."""
        text = (
            f"{self.total_params:,} parameters, {self.total_macs:,} MACs ({self.total_macs / 1e9:.3f} G) "
            f"at input {'x'.join(map(str, self.input_shape))}"
        )
        if self.unused_params:
            unused = sum(self.unused_params.values())
            text += f"; {unused:,} parameters unused by this forward pass ({', '.join(self.unused_params)})"
        return text

    def __str__(self) -> str:
        cells = [COLUMNS, *self.table()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        numeric = {3, 4, 5, 6}

        def line(row):
            return "  ".join(
                c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            ).rstrip()

        rule = "-" * len(line(COLUMNS))
        out = [line(COLUMNS), rule, *map(line, cells[1:]), rule, "Total: " + self.totals()]
        out += [f"Warning: {w}" for w in self.warnings] or ["No design warnings."]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        def tr(cells, tag="td"):
            return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

        body = "".join(tr(row) for row in self.table())
        warnings = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        return (
            f"<table><thead>{tr(COLUMNS, 'th')}</thead><tbody>{body}</tbody></table>"
            f"<p>Total: {html.escape(self.totals())}</p>"
            + (f"<p>Warnings:</p><ul>{warnings}</ul>" if warnings else "<p>No design warnings.</p>")
        )


def _pair_text(pair: tuple[float, float]) -> str:
    """``7`` for a square field, ``7x1`` otherwise."""
    return number(pair[0]) if pair[0] == pair[1] else f"{number(pair[0])}x{number(pair[1])}"


def _check_arguments(model, input_shape) -> tuple[int, int, int, int]:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"summary expects a flax.linen Module such as jaxcnn.create_model('resnet50'); got {type(model).__name__}. "
            f"Wrap a plain function in a Module's __call__."
        )
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) != 4 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(
            f"summary expects input_shape (N, H, W, C): four positive ints, NHWC; got {input_shape!r}. "
            f"For one 224x224 RGB image pass (1, 224, 224, 3)."
        )
    return shape


def _display_names(paths: Sequence[str]) -> list[str]:
    """Module paths without the root module and flax's method scopes (``block0.bypass``);
    repeats get ``_2``, ``_3`` ... so every row has its own name."""
    cleaned = ["/".join(c for c in path.split("/")[1:] if "." not in c) or path.split("/")[0] for path in paths]
    seen: collections.Counter = collections.Counter()
    names = []
    for name in cleaned:
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def summary(model: nn.Module, input_shape: Sequence[int], *, num_classes: int | None = None) -> Summary:
    """Per-layer output shapes, parameters, MACs and receptive fields of ``model``, with warnings.

    Measures what ``model.apply(variables, x)`` computes (eval mode) for ``x`` float32 of
    ``input_shape`` by walking its jaxpr; nothing is computed and no parameter is allocated. A
    model with a ``backend`` attribute (every jaxcnn model) is traced with ``jaxcnn.ops.XLA``: the
    same function, with each convolution and pool one recognisable operation (the CPU backend's
    matrix-product convolutions would hide their windows).

    Args:
      model: any ``flax.linen`` Module taking NHWC images.
      input_shape: ``(N, H, W, C)``; MACs count the whole batch of ``N``.
      num_classes: if given, the last layer is checked to be a dense layer with that many outputs.

    Returns:
      a ``Summary``. Input the model cannot take raises the model's own error.
    """
    shape = _check_arguments(model, input_shape)
    model = with_xla_ops(model)
    key = jax.random.key(0)
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    variables = jax.eval_shape(lambda x: model.init({"params": key, "dropout": key}, x), x)
    params = variables.get("params", {})
    others = {k: v for k, v in variables.items() if k != "params"}

    def forward(params, others, x):
        return model.apply({"params": params, **others}, x, rngs={"dropout": key})

    closed = jax.make_jaxpr(forward)(params, others, x)
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    walker = Walker({i: math.prod(leaf.shape) for i, (_, leaf) in enumerate(leaves)})
    inputs = (
        [Const(frozenset({i})) for i in range(len(leaves))]
        + [NO_PARAMS] * len(jax.tree.leaves(others))
        + [input_field(shape[1], shape[2])]
    )
    out = walker.walk(closed.jaxpr, closed.consts, inputs)[0]
    rows = walker.rows
    for row, name in zip(rows, _display_names([r.name for r in rows])):
        row.name = name
    warnings = design_warnings(rows, shape[1:3], out, num_classes) if isinstance(out, Field) else []
    return Summary(
        rows=rows,
        total_params=sum(walker.sizes[i] for i in range(len(leaves))),
        total_macs=sum(r.macs for r in rows),
        warnings=warnings,
        input_shape=shape,
        unused_params=_unused(leaves, walker),
    )


def with_xla_ops(model: nn.Module) -> nn.Module:
    """``model`` computing with ``jaxcnn.ops.XLA`` where it has a ``backend`` attribute; else itself."""
    has_backend = any(field.name == "backend" for field in dataclasses.fields(model))
    return model.clone(backend=XLA) if has_backend else model


def _unused(leaves, walker: Walker) -> dict[str, int]:
    """Parameters never read where data flows, by path."""
    used: collections.Counter = collections.Counter()
    for piece in walker.claimed:
        root = piece
        while isinstance(root, tuple):
            root = root[0]
        used[root] += walker.sizes[piece]
    unused = {}
    for i, (path, _) in enumerate(leaves):
        if used[i] < walker.sizes[i]:
            unused["/".join(str(getattr(k, "key", k)) for k in path)] = walker.sizes[i] - used[i]
    return unused
