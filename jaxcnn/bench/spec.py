"""What one benchmark runs (``Spec``), resolved against the registry, and the timing loop."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from jaxcnn.models import create_model, model_info
from jaxcnn.training.config import DTYPES
from jaxcnn.validate import NON_NEGATIVE_INT, POSITIVE_INT, one_of

from .rows import LAYOUTS, MODES, Row


@dataclasses.dataclass(frozen=True)
class Spec:
    """One configuration: ``model`` at ``batch`` images of ``image_size`` x ``image_size`` x
    ``in_channels`` (None: the model's own input size and channels, 3), ``num_classes`` outputs
    (None: the model's own), compute ``dtype``, ``mode`` (train | eval | fit) and ``layout``
    (default | scan | unrolled repeated blocks, for the ResNets). Timing: ``warmup`` untimed
    steps, then ``repeats`` timed blocks of ``steps`` steps each. ``overrides``: extra model
    attributes for ``create_model`` (``{"head": "gap"}`` for a VGG with global average pooling);
    rows name them in their note."""

    model: str
    mode: str = "train"
    batch: int = 32
    dtype: str = "float32"
    image_size: int | None = None
    in_channels: int | None = None
    num_classes: int | None = None
    layout: str = "default"
    warmup: int = 3
    steps: int = 10
    repeats: int = 3
    overrides: dict = dataclasses.field(default_factory=dict)

    def resolved(self) -> Spec:
        """The same spec with every None filled from the registry; ``ValueError`` for an unknown
        model, mode, dtype or layout, a non-positive count, a layout the model does not have, or
        an override the model does not take."""
        info = model_info(self.model)
        for name, allowed in (("mode", MODES), ("dtype", DTYPES), ("layout", LAYOUTS)):
            one_of(allowed).require(name, getattr(self, name))
        for name in ("batch", "steps", "repeats"):
            POSITIVE_INT.require(name, getattr(self, name))
        NON_NEGATIVE_INT.require("warmup", self.warmup)
        spec = dataclasses.replace(
            self,
            image_size=self.image_size or info.input_size,
            in_channels=self.in_channels or 3,
            num_classes=self.num_classes or info.num_classes,
        )
        if spec.layout != "default" and not hasattr(create_model(spec.model), "scan"):
            raise ValueError(f"{spec.model} has no scanned blocks; --layout {spec.layout} applies to the ResNets only")
        if spec.overrides:
            if "scan" in spec.overrides and spec.layout != "default":
                raise ValueError(f"overrides set scan and layout is {spec.layout!r}; choose one of the two")
            try:
                create_model(spec.model, **spec.overrides)
            except TypeError as err:
                raise ValueError(f"overrides {spec.overrides!r} do not fit {spec.model}: {err}") from None
        return spec

    @property
    def model_overrides(self) -> dict:
        """The model attributes ``overrides`` and the layout set (``{'scan': True}`` ...), for ``TrainConfig``."""
        return {**self.overrides, **({} if self.layout == "default" else {"scan": LAYOUTS[self.layout]})}

    def row(self, framework: str, variant: str, **fields: Any) -> Row:
        """An empty row describing this (resolved) spec; its note names the overrides (``head=gap``)."""
        if self.overrides and "note" not in fields:
            fields["note"] = ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        names = ("model", "mode", "batch", "dtype", "image_size", "in_channels", "num_classes", "layout")
        counts = ("warmup", "steps", "repeats")
        return Row(framework, variant, **{n: getattr(self, n) for n in names + counts}, **fields)


def time_blocks(
    run: Callable[[Any], Any], carry: Any, spec: Spec, sync: Callable[[Any], Any]
) -> tuple[list[float], Any]:
    """``time_calls`` with the spec's ``warmup``, ``steps`` and ``repeats``."""
    return time_calls(run, carry, sync, warmup=spec.warmup, steps=spec.steps, repeats=spec.repeats)


def time_calls(
    run: Callable[[Any], Any], carry: Any, sync: Callable[[Any], Any], *, warmup: int, steps: int, repeats: int
) -> tuple[list[float], Any]:
    """Seconds of each of ``repeats`` blocks of ``steps`` calls ``carry = run(carry)``, after
    ``warmup`` untimed calls. ``sync(carry)`` waits for the device (for jax:
    ``jax.block_until_ready``) before each clock reading. Returns (seconds, last carry)."""
    for _ in range(warmup):
        carry = run(carry)
    sync(carry)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            carry = run(carry)
        sync(carry)
        seconds.append(time.perf_counter() - start)
    return seconds, carry
