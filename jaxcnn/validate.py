"""The checks jaxcnn applies to values at its boundaries, each defined once with the phrase its
errors use, so that the CLI, ``TrainConfig``, ``jaxcnn.bench`` and the data functions say the
same thing about the same mistake.

A Python function refuses a value with ``ValueError("{name} must be {expected}, got {value!r}")``
(``Check.require``); a command-line flag with argparse's ``argument --flag: expected
{expected}, got '{text}'`` (``argument_type``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any


def is_int(value: Any) -> bool:
    """An integer (Python's or numpy's), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """A finite real number (int or float, Python's or numpy's), and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class Check:
    """A test of one value and what it expects, as a phrase (``"a positive integer"``)."""

    accepts: Callable[[Any], bool]
    expected: str

    def require(self, name: str, value: Any) -> Any:
        """``value`` if accepted; else ``ValueError("{name} must be {expected}, got {value!r}")``."""
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.expected}, got {value!r}")
        return value

    def or_none(self) -> Check:
        """The same check that also accepts ``None``."""
        return Check(lambda value: value is None or self.accepts(value), f"None or {self.expected}")


POSITIVE_INT = Check(lambda v: is_int(v) and v >= 1, "a positive integer")
NON_NEGATIVE_INT = Check(lambda v: is_int(v) and v >= 0, "an integer >= 0")
POSITIVE_NUMBER = Check(lambda v: is_finite_number(v) and v > 0, "a finite number > 0")
NON_NEGATIVE_NUMBER = Check(lambda v: is_finite_number(v) and v >= 0, "a finite number >= 0")
FRACTION = Check(lambda v: is_finite_number(v) and 0 <= v < 1, "a number in [0, 1)")
BOOL = Check(lambda v: isinstance(v, bool), "true or false")


def one_of(allowed: Iterable[Any]) -> Check:
    """A check accepting the values of ``allowed`` (names, usually): ``"one of sgd, adamw"``."""
    allowed = tuple(allowed)
    return Check(lambda value: value in allowed, f"one of {', '.join(map(str, allowed))}")


def argument_type(check: Check, convert: Callable[[str], Any] = int) -> Callable[[str], Any]:
    """An argparse ``type=``: ``convert(text)`` when ``check`` accepts it, else an argparse error
    ``expected {check.expected}, got '{text}'`` (exit 2)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not check.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {check.expected}, got {text!r}")
        return value

    parse.__name__ = convert.__name__  # argparse names the type in its own messages
    return parse
