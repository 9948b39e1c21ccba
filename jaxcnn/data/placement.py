"""Putting host batches on devices: one device, a sharded ``Mesh('data')``, or pmap's layout."""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterable, Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxcnn.validate import POSITIVE_INT


def data_sharding(devices=None) -> NamedSharding:
    """Batch sharding along a 1-D mesh named 'data' (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return NamedSharding(Mesh(np.array(devices), ("data",)), PartitionSpec("data"))


def to_device(batch: dict, sharding=None, *, pmap: bool = False) -> dict:
    """Transfer a host batch (a dict of numpy arrays [B, ...]) to devices, asynchronously.

    Args:
      batch: this process's batch, e.g. from ``train_batches``.
      sharding: None (the default device), a ``jax.Device``, or a
        ``jax.sharding.Sharding`` such as ``data_sharding()``. When the sharding
        spans several processes, ``batch`` is this process's slice and the
        result is the global array (``jax.make_array_from_process_local_data``).
      pmap: reshape every array to [D, B/D, ...] for ``jax.pmap`` over D local
        devices: those of ``sharding`` (a NamedSharding) or ``jax.local_devices()``.

    Returns:
      the same dict of ``jax.Array``.
    """
    if pmap:
        devices = _pmap_devices(sharding)
        batch = {k: _split_leading(k, np.asarray(v), len(devices)) for k, v in batch.items()}
        return jax.device_put(batch, data_sharding(devices))
    if sharding is None or isinstance(sharding, jax.Device):
        return jax.device_put(batch, sharding)
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(
            f"sharding must be None, a jax.Device or a jax.sharding.Sharding, got {type(sharding).__name__}"
        )
    if not sharding.is_fully_addressable:
        return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}
    for key, value in batch.items():
        try:
            sharding.shard_shape(np.shape(value))
        except ValueError:
            raise ValueError(
                f"batch[{key!r}] of shape {np.shape(value)} cannot be split over "
                f"{len(sharding.device_set)} devices; use a batch size that is a "
                "multiple of the device count"
            ) from None
    return jax.device_put(batch, sharding)


def prefetch(batches: Iterable[dict], size: int = 2, *, sharding=None, pmap: bool = False) -> Iterator[dict]:
    """Yield ``to_device(batch, sharding, pmap=pmap)`` for each batch, in order, ``size`` batches ahead.

    A background thread pulls batches from ``batches`` (the host gather: numpy copies, which
    release the GIL) and starts their transfers, so neither waits on the caller's loop: right
    after a host sync the next batch is already on the device (gathering in the caller's thread
    would stall the device after every metrics read). At most ``size`` placed batches wait, plus one in preparation. An
    exception raised while producing a batch is raised here, at the ``next`` that would have
    returned it; closing the iterator (or leaving a ``for`` loop and dropping it) stops the
    thread and waits for the transfers of the batches placed but not taken, so nothing it started
    is still running afterwards (not even at interpreter exit); a source generator is closed
    when the thread ends. Errors in the arguments are raised at the call, not at the first ``next``.
    """
    POSITIVE_INT.require("size", size)
    return _prefetch(iter(batches), size, sharding, pmap)


_DONE = object()  # the producer's last item


@dataclasses.dataclass
class _Failed:
    error: BaseException


def _prefetch(source: Iterator[dict], size: int, sharding, pmap: bool) -> Iterator[dict]:
    ready: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in source:
                placed = to_device(batch, sharding, pmap=pmap)
                if not _put(ready, placed, stop):
                    jax.block_until_ready(placed)
                    return
            _put(ready, _DONE, stop)
        except BaseException as error:  # handed to the consumer, raised in its thread
            _put(ready, _Failed(error), stop)
        finally:  # a source with workers of its own (a StreamingFolder's reader) stops them here
            getattr(source, "close", lambda: None)()

    thread = threading.Thread(target=produce, name="jaxcnn-prefetch", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
        _wait_for_untaken(ready)


def _wait_for_untaken(ready: queue.Queue) -> None:
    """Block until the transfers of the batches left in ``ready`` are done."""
    while not ready.empty():
        item = ready.get_nowait()
        if isinstance(item, dict):
            jax.block_until_ready(item)


def _put(ready: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` once there is room; False (item dropped) if ``stop`` is set first."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            pass
    return False


def _pmap_devices(sharding) -> list:
    if sharding is None:
        return jax.local_devices()
    if not isinstance(sharding, NamedSharding) or not sharding.is_fully_addressable:
        raise ValueError(
            f"with pmap=True, sharding must be None or a NamedSharding over this process's devices, got {sharding!r}"
        )
    return list(sharding.mesh.devices.flat)


def _split_leading(key: str, value: np.ndarray, count: int) -> np.ndarray:
    if value.shape[0] % count:
        raise ValueError(
            f"batch[{key!r}] has {value.shape[0]} rows, not divisible by the "
            f"{count} devices pmap runs on; use a multiple of {count}"
        )
    return value.reshape(count, value.shape[0] // count, *value.shape[1:])
