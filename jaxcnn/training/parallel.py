"""One step function, three ways to run it: one device, a sharded Mesh('data'), or pmap."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxcnn.data import data_sharding

PMAP_AXIS = "batch"


@dataclasses.dataclass(frozen=True)
class Parallel:
    """How states and batches are laid out on devices for one parallel mode.

    ``none``: everything on the default device. ``sharded``: state replicated and batch split
    along a 1-D mesh 'data' over all devices of all processes; jit computes on the global
    batch (batch norm included). ``pmap``: state copied to every local device, batch
    reshaped to [devices, B/devices, ...], steps made with ``axis_name=PMAP_AXIS``.
    """

    mode: str

    @property
    def axis_name(self) -> str | None:
        """The axis name the step functions need (pmap only)."""
        return PMAP_AXIS if self.mode == "pmap" else None

    @property
    def devices(self) -> int:
        """How many devices share one global batch."""
        return 1 if self.mode == "none" else jax.device_count()

    def prefetch_kwargs(self) -> dict:
        """Arguments of ``jaxcnn.data.prefetch`` that place batches for this mode."""
        return {"sharding": data_sharding() if self.mode == "sharded" else None, "pmap": self.mode == "pmap"}

    def compile(self, train_step: Callable, eval_step: Callable) -> tuple[Callable, Callable]:
        """The jitted (or pmapped) steps; the train step donates the state it is given."""
        if self.mode == "pmap":
            return (
                jax.pmap(train_step, axis_name=PMAP_AXIS, donate_argnums=0),
                jax.pmap(eval_step, axis_name=PMAP_AXIS),
            )
        if self.mode == "sharded":
            replicated = _replicated()
            return (
                jax.jit(
                    train_step, in_shardings=(replicated, data_sharding()), out_shardings=replicated, donate_argnums=0
                ),
                jax.jit(eval_step, in_shardings=(replicated, data_sharding()), out_shardings=replicated),
            )
        return jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)

    def place(self, tree: Any) -> Any:
        """Host (numpy or jax) pytree -> the layout the compiled steps take."""
        if self.mode == "pmap":
            devices = jax.local_devices()
            stacked = jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (len(devices), *np.shape(x))), tree)
            return jax.device_put(stacked, data_sharding(devices))
        if self.mode == "sharded":
            sharding = _replicated()
            return jax.tree.map(
                lambda x: jax.make_array_from_callback(np.shape(x), sharding, lambda i: np.asarray(x)[i]), tree
            )
        return jax.device_put(tree)

    def fetch(self, tree: Any) -> Any:
        """The layout of ``place`` -> one host copy (numpy), on every process."""

        def one(x):
            local = np.asarray(x.addressable_data(0))
            return local.reshape(np.shape(x)[1:]) if self.mode == "pmap" else local

        return jax.tree.map(one, tree)


def _replicated() -> NamedSharding:
    return NamedSharding(data_sharding().mesh, PartitionSpec())


def add_metrics(total: dict | None, metrics: dict) -> dict:
    """Running sums of step metrics (the minimum for the ``nonfinite_*`` steps), on device: no host sync."""
    if total is None:
        return metrics
    return {k: (jnp.minimum if k.startswith("nonfinite_") else jnp.add)(total[k], v) for k, v in metrics.items()}


SHARED_CHECK = ".process0"  # the file process 0 writes into the run folder for the other processes to read


def check_shared_folder(out: str | Path) -> None:
    """Refuse a multi-process run whose processes do not all see the run folder ``out`` that
    process 0 created: every process writes checkpoint shards into it, so a folder local to each
    host would give half checkpoints (or a hang) later. Process 0 writes a random token into
    ``out``; after a barrier each process reads it back; all processes then raise together.

    Raises:
      ValueError: on every process, naming ``out`` and the processes that do not see process 0's file.
    """
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    token = int(multihost_utils.broadcast_one_to_all(np.int32(secrets.randbits(31))))
    path = Path(out) / SHARED_CHECK
    if jax.process_index() == 0:
        path.write_text(str(token))
    multihost_utils.sync_global_devices("jaxcnn: run folder written")
    try:
        sees = path.read_text() == str(token)
    except OSError:
        sees = False
    seen = multihost_utils.process_allgather(np.array(sees))
    multihost_utils.sync_global_devices("jaxcnn: run folder read")
    if jax.process_index() == 0:
        path.unlink(missing_ok=True)
    blind = [str(i) for i, ok in enumerate(np.ravel(seen)) if not ok]
    if blind:
        raise ValueError(
            f"the output folder {out} is not shared by the run's processes: process {', '.join(blind)} "
            "cannot read what process 0 wrote there; every process writes checkpoints into it, so put "
            "--out on a file system that every host mounts at the same path"
        )
