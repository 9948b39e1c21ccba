"""``Backend``: which convolution and max pool a model computes with, chosen when it is built."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax

from .conv import cpu_backend_conv, xla_conv
from .pool import cpu_max_pool, xla_max_pool


@dataclasses.dataclass(frozen=True)
class Backend:
    """The operations a model's convolutions and max pools run; every backend computes the same
    functions, with the same parameters.

    Attributes:
      name: ``"xla"`` or ``"cpu"`` for the two built in (``XLA``, ``CPU``).
      conv: ``conv(x [N, H, W, I], kernel [kh, kw, I, O], strides, padding) -> [N, H', W', O]``,
        NHWC/HWIO, ``padding`` as ``((top, bottom), (left, right))``.
      max_pool: ``max_pool(x [N, H, W, C], window, strides, padding) -> [N, H', W', C]``, padding
        with -inf.
    """

    name: str
    conv: Callable = dataclasses.field(repr=False)
    max_pool: Callable = dataclasses.field(repr=False)


XLA = Backend("xla", xla_conv, xla_max_pool)
"""XLA's own operations (``conv_general_dilated``, ``reduce_window``): the choice on GPUs and TPUs."""

CPU = Backend("cpu", cpu_backend_conv, cpu_max_pool)
"""XLA's forward operations with backward passes written for XLA:CPU, and matrix-product
convolutions on small maps: the choice on a CPU."""

BACKENDS = {backend.name: backend for backend in (XLA, CPU)}


def resolve_backend(requested: Backend | str | None = None) -> Backend:
    """The backend for ``requested``: a ``Backend`` as it is, a name from ``BACKENDS``, or
    for ``None`` the name in ``$JAXCNN_CONV``, else ``"cpu"`` when JAX's default device is a CPU
    and ``"xla"`` otherwise. ``ValueError`` for an unknown name."""
    if isinstance(requested, Backend):
        return requested
    name = requested or os.environ.get("JAXCNN_CONV") or ("cpu" if jax.default_backend() == "cpu" else "xla")
    if name not in BACKENDS:
        raise ValueError(
            f"backend must be one of {tuple(BACKENDS)} (create_model's backend= or $JAXCNN_CONV); got {name!r}"
        )
    return BACKENDS[name]
