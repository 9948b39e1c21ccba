"""Reading jaxprs the same way on every supported JAX (0.10 to 0.12).

The parameters of JAX's primitives are not a stable API: ``scan`` stored its operand counts
(``num_consts``, ``num_carry``) and a closed body until JAX 0.11, and an open body with
flattened-tree descriptions of its operands since. What is stable is the structure itself: a
scan's operands are ``consts + carry + xs`` and its results ``carry + ys``, where a carry or a
const has the shape of the body's variable and a scanned-over array (``xs``, ``ys``) has the
scan's ``length`` in front. This module reads that structure, so the walker asks no
version-dependent parameter.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class ScanLayout:
    """How a ``scan`` equation's operands split: ``consts``, ``carry`` counts and its ``length``;
    ``body`` is the per-iteration jaxpr and ``body_consts`` the values of its constvars."""

    consts: int
    carry: int
    length: int
    body: Any
    body_consts: list


def open_jaxpr(value: Any) -> tuple[Any, list]:
    """``(jaxpr, consts)`` of a closed jaxpr, or of an open one (no consts)."""
    if hasattr(value, "consts"):
        return value.jaxpr, list(value.consts)
    return value, []


def scan_layout(eqn) -> ScanLayout:
    """The ``ScanLayout`` of a ``scan`` equation, read from shapes alone."""
    length = int(eqn.params["length"])
    body, body_consts = open_jaxpr(eqn.params["jaxpr"])
    carry = sum(_shape(outer) == _shape(inner) for outer, inner in zip(eqn.outvars, body.outvars))
    xs = sum(_shape(outer) == (length, *_shape(inner)) for outer, inner in zip(eqn.invars, body.invars))
    return ScanLayout(len(eqn.invars) - carry - xs, carry, length, body, body_consts)


def _shape(var) -> tuple[int, ...]:
    return tuple(var.aval.shape)
