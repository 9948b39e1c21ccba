"""`Value`: a scalar node of a computational graph, and the expressions that build graphs.

Every expression creates one node that stores its forward value, its parents (the inputs
of the expression) and the local derivatives d(node)/d(parent), evaluated in the forward
pass. The course's fundamental expressions and their local derivatives:

    x1 * x2        ->  x2, x1
    x1 + x2        ->  1, 1
    max(x1, x2)    ->  1 if x1 >= x2 else 0,  1 if x2 >= x1 else 0

plus what a loss needs: negation, subtraction, division, exp and log.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence


class Value:
    """One float in a computational graph.

    A leaf is created from a number, ``Value(2.0, label="a")``. An inner node is what an
    expression returns, or what you build yourself to add an expression: pass its
    ``parents`` and the ``local_grads`` d(this)/d(parent), one per parent edge. The same
    parent may appear several times (one edge each), as in the course's X -> Y -> Z graph.

    Args:
      data: the forward value, a real Python or NumPy number (stored as a Python float).
      parents: the nodes this one is computed from.
      local_grads: d(this)/d(parents[i]) for every i, as real numbers.
      op: the expression's name, shown by ``to_dot``.
      label: an optional name, shown by ``to_dot``.
    """

    __slots__ = ("data", "parents", "local_grads", "op", "label")

    def __init__(
        self,
        data: float,
        parents: Sequence[Value] = (),
        local_grads: Sequence[float] = (),
        op: str = "",
        label: str = "",
    ):
        self.data = _as_float(data, "Value data")
        self.parents = tuple(parents)
        self.local_grads = tuple(_as_float(g, "a local gradient") for g in local_grads)
        self.op = op
        self.label = label
        for parent in self.parents:
            if not isinstance(parent, Value):
                raise TypeError(
                    f"Value parents must be Value nodes; got {type(parent).__name__}. "
                    "Wrap numbers with Value(number) first."
                )
        if len(self.parents) != len(self.local_grads):
            raise ValueError(
                f"a node needs one local gradient per parent edge; got {len(self.parents)} "
                f"parents and {len(self.local_grads)} local gradients."
            )

    def __repr__(self) -> str:
        name = f", label={self.label!r}" if self.label else ""
        kind = f", op={self.op!r}" if self.op else ""
        return f"Value({self.data!r}{kind}{name})"

    def __add__(self, other) -> Value:
        other = as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other) -> Value:
        other = as_value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")

    def __sub__(self, other) -> Value:
        other = as_value(other)
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __truediv__(self, other) -> Value:
        other = as_value(other)
        if other.data == 0.0:
            raise ZeroDivisionError(
                f"division of {self!r} by {other!r}, which is 0; the quotient and its derivative are undefined there."
            )
        quotient = self.data / other.data
        return Value(quotient, (self, other), (1.0 / other.data, -quotient / other.data), "/")

    def __radd__(self, other) -> Value:
        return as_value(other) + self

    def __rmul__(self, other) -> Value:
        return as_value(other) * self

    def __rsub__(self, other) -> Value:
        return as_value(other) - self

    def __rtruediv__(self, other) -> Value:
        return as_value(other) / self


def as_value(x) -> Value:
    """Return ``x`` if it is a `Value`, else a new leaf holding the real number ``x``."""
    return x if isinstance(x, Value) else Value(x)


def exp(x) -> Value:
    """e**x; local derivative e**x."""
    x = as_value(x)
    result = math.exp(x.data)
    return Value(result, (x,), (result,), "exp")


def log(x) -> Value:
    """Natural logarithm of a positive ``x``; local derivative 1/x.

    Raises:
      ValueError: if ``x`` is not positive.
    """
    x = as_value(x)
    if x.data <= 0.0:
        raise ValueError(
            f"log needs a positive input; got {x.data!r} from {x!r}. "
            "Cross-entropy takes the log of a softmax sum, which is positive; "
            "check the graph that computes the argument."
        )
    return Value(math.log(x.data), (x,), (1.0 / x.data,), "log")


def maximum(x1, x2) -> Value:
    """max(x1, x2) with the course's local derivatives.

    d/dx1 = 1 if x1 >= x2 else 0, and d/dx2 = 1 if x2 >= x1 else 0. So at a tie
    (x1 == x2) BOTH arguments get local derivative 1, as the course's ``>=`` says;
    ``jax.grad(jnp.maximum)`` splits a tie as 0.5 and 0.5 instead.
    """
    x1, x2 = as_value(x1), as_value(x2)
    local_grads = (float(x1.data >= x2.data), float(x2.data >= x1.data))
    return Value(max(x1.data, x2.data), (x1, x2), local_grads, "max")


def _as_float(x, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        shape = getattr(x, "shape", None)
        if shape == ():
            hint = "; convert a 0-d array with float(x)"
        elif shape is not None:
            hint = f" of shape {tuple(shape)}; make one Value per element"
        else:
            hint = ""
        raise TypeError(f"{what} must be a real number; got {type(x).__name__}{hint}.")
    return float(x)
