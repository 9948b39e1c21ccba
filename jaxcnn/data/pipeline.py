"""Host-side batching: seeded, resumable shuffling and fixed-size batches, in numpy.

The order of an epoch depends only on (seed, epoch) (with repeated augmentation, on the
device count too), so a run resumed at (epoch, batch) sees exactly the batches it would have seen. Every example of a
batch carries ``index``, its position in the whole run's stream of training
examples, which keys its augmentation: an example's random crop and flip do not
depend on the batch size per device, the device count or the process count.

With several processes each one yields its contiguous slice of every global
batch (process p gets rows [p*B/P, (p+1)*B/P)), the layout
``jax.make_array_from_process_local_data`` expects for a batch sharded over
all devices in process order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from jaxcnn.validate import NON_NEGATIVE_INT, POSITIVE_INT

from .dataset import Dataset
from .streaming import StreamingFolder

_INT32_MAX = np.iinfo(np.int32).max


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Training batches per epoch: ``n // batch_size`` (the remainder is dropped)."""
    POSITIVE_INT.require("batch_size", batch_size)
    return n // batch_size


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of one epoch: a permutation of 0..n-1 (int64 [n]).

    Seeded by (seed, epoch) alone, through numpy's SeedSequence.
    """
    for name, value in (("n", n), ("seed", seed), ("epoch", epoch)):
        NON_NEGATIVE_INT.require(name, value)
    return np.random.default_rng([seed, epoch]).permutation(n)


def repeated_order(order: np.ndarray, batch_size: int, repetitions: int, replicas: int = 1) -> np.ndarray:
    """An epoch's order with repeated augmentation, as torchvision's ``RASampler`` deals it out:
    each example of ``order`` repeated ``repetitions`` times in a row, the copies dealt to the
    ``replicas`` devices in turn (device r takes copies r, r + R, r + 2R, ...), each device's
    share truncated so that the epoch keeps its length. A global batch holds device 0's next
    B/R examples, then device 1's, ..., the layout every parallel mode splits it by.

    Args:
      order: int [N], the epoch's permutation (``epoch_order``).
      batch_size: the global batch size B, a multiple of ``replicas``.
      repetitions: copies of each example, >= 1 (1: ``order`` itself).
      replicas: the devices the global batch is split over.

    Returns:
      int64 [N // B * B]: the example at each position of the epoch; the first N // k or so
      examples of ``order``, each ``repetitions`` times.
    """
    for name, value in (("repetitions", repetitions), ("replicas", replicas)):
        POSITIVE_INT.require(name, value)
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {replicas} devices")
    positions = np.arange(len(order) // batch_size * batch_size)
    step, within = np.divmod(positions, batch_size)
    device, row = np.divmod(within, batch_size // replicas)
    dealt = (step * (batch_size // replicas) + row) * replicas + device  # the copy's place in the repeated list
    return np.asarray(order)[dealt // repetitions]


def train_batches(
    ds: Dataset | StreamingFolder,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    start_batch: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    repetitions: int = 1,
    replicas: int = 1,
) -> Iterator[dict]:
    """One epoch of shuffled training batches; the last partial batch is dropped.

    Args:
      ds: the training set; a ``StreamingFolder`` decodes each batch from its files (its random
        crops keyed by (its seed, ``epoch``, example)).
      batch_size: the global batch size (all processes together).
      seed, epoch: pick the order (``epoch_order``).
      start_batch: the first batch to yield, to resume mid-epoch.
      process_index, process_count: this process's slice of every global batch.
      repetitions, replicas: repeated augmentation, each example ``repetitions`` times in an
        epoch of the same length, dealt over ``replicas`` devices (``repeated_order``); every copy
        has its own ``index`` and so its own augmentation.

    Yields:
      dicts with 'image' uint8 [B/P, H, W, C], 'label' int32 [B/P] and 'index'
      int32 [B/P]: the example's position in the run's stream of training
      examples, ``(epoch * steps_per_epoch + batch) * batch_size + row``.
    """
    steps = steps_per_epoch(len(ds), batch_size)
    if steps == 0:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {len(ds)} training examples; use a smaller batch size"
        )
    if not 0 <= start_batch <= steps:
        raise ValueError(f"start_batch must be in 0..{steps} (batches per epoch), got {start_batch}")
    rows = _local_rows(batch_size, process_index, process_count)
    order = epoch_order(len(ds), seed, epoch)
    if repetitions > 1:
        order = repeated_order(order, batch_size, repetitions, replicas)
    first = epoch * steps * batch_size
    if first + steps * batch_size - 1 > _INT32_MAX:
        raise ValueError(
            f"epoch {epoch} runs past 2**31 examples, the range of the int32 "
            "'index' that keys augmentation; start a new seed instead"
        )
    # Validation above runs at the call; the batches are produced lazily.
    positions = [batch * batch_size + rows for batch in range(start_batch, steps)]
    if isinstance(ds, StreamingFolder):
        return _stream_train(ds, order, positions, first, epoch)
    return _gather_train(ds, order, positions, first)


def _gather_train(ds, order, positions, first) -> Iterator[dict]:
    for where in positions:
        chosen = order[where]
        yield {"image": ds.images[chosen], "label": ds.labels[chosen], "index": (first + where).astype(np.int32)}


def _stream_train(ds, order, positions, first, epoch) -> Iterator[dict]:
    decoded = ds.read((order[where] for where in positions), epoch, substitute=True)
    with contextlib.closing(decoded):  # closing this generator stops the workers at once
        for where, batch in zip(positions, decoded):
            yield {"image": batch["image"], "label": batch["label"], "index": (first + where).astype(np.int32)}


def eval_batches(
    ds: Dataset | StreamingFolder, batch_size: int, *, process_index: int = 0, process_count: int = 1
) -> Iterator[dict]:
    """The dataset in order, in batches of ``batch_size``; every example exactly once.

    The last batch is padded to full size with zero images and label 0, marked
    False in 'mask', so all batches share one shape (one compilation). A ``StreamingFolder``
    decodes each batch from its files; a file it skips (``skip_bad``) is marked False too.

    Yields:
      dicts with 'image' uint8 [B/P, H, W, C], 'label' int32 [B/P], 'index' int32
      [B/P] (the example's position in ``ds``) and 'mask' bool [B/P].
    """
    rows = _local_rows(batch_size, process_index, process_count)
    if isinstance(ds, StreamingFolder):
        return _stream_eval(ds, rows, batch_size)
    return _gather_eval(ds, rows, batch_size)


def _stream_eval(ds, rows, batch_size) -> Iterator[dict]:
    starts = range(0, len(ds), batch_size)
    requests = (np.where(start + rows < len(ds), start + rows, -1) for start in starts)
    with contextlib.closing(ds.read(requests, 0, substitute=False)) as decoded:
        for start, batch in zip(starts, decoded):
            yield {**batch, "index": (start + rows).astype(np.int32)}


def _gather_eval(ds, rows, batch_size) -> Iterator[dict]:
    n = len(ds)
    for start in range(0, n, batch_size):
        positions = start + rows
        mask = positions < n
        real = positions[mask]
        image = np.zeros((len(rows), *ds.images.shape[1:]), np.uint8)
        label = np.zeros(len(rows), np.int32)
        image[mask], label[mask] = ds.images[real], ds.labels[real]
        yield {"image": image, "label": label, "index": positions.astype(np.int32), "mask": mask}


def _local_rows(batch_size: int, process_index: int, process_count: int) -> np.ndarray:
    """The rows of a global batch that belong to this process."""
    POSITIVE_INT.require("batch_size", batch_size)
    POSITIVE_INT.require("process_count", process_count)
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in 0..{process_count - 1}, got {process_index}")
    if batch_size % process_count:
        raise ValueError(
            f"batch_size {batch_size} is not divisible by process_count "
            f"{process_count}; use a multiple of {process_count}"
        )
    local = batch_size // process_count
    return np.arange(process_index * local, (process_index + 1) * local)
