"""``StreamingFolder``: image files decoded again every epoch, for data sets too large to decode once.

Training examples get torchvision's ``RandomResizedCrop`` + horizontal flip (``train_transform``),
drawn from ``numpy.random.default_rng([seed, epoch, example])``: an example's crop depends on
the seed, the epoch and its position in the file list alone, never on the worker count, the
batch size, the process count or what was read before, so a run resumed mid-epoch reads the
same pixels. Evaluation examples get ``eval_transform`` (Resize + CenterCrop, the pixels of the
decoded-once path and of prediction).

The work runs in worker processes, each a fresh interpreter (never a fork of this process, whose
JAX runs threads of its own; a worker imports numpy, Pillow and this module, no jax). Every batch
is split into one contiguous chunk of rows per worker; the workers decode their rows straight
into a small ring of shared-memory batches (``SLOTS``: the batch being copied out and ``AHEAD``
batches in flight), and the reader copies each finished batch into a fresh array before it
yields it, so nothing handed out is ever overwritten. Threads were the engine before: Pillow
releases the GIL while it decodes and resamples, but the Python between its calls holds it, so
a second thread added much less than a second process does (``benchmarks/input_pipeline.py
--folder`` measures both, beside grain's and torchvision's ``DataLoader``; docs/data.md).

The processes start at a folder's first read and serve all its epochs; ``close()`` (also at
garbage collection, at exit, at the end of ``fit``, and by ``with``) ends them, and a reader
closed with work in flight (an error, an interrupt, a consumer stopping mid-epoch) ends them at
once. They ignore SIGINT and run in a session of their own: a Ctrl-C reaches the training loop
alone, which stops the reader, which ends them; no worker is left behind or prints a traceback.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path

import numpy as np

from jaxcnn.validate import BOOL, NON_NEGATIVE_INT, POSITIVE_INT

from .dataset import Dataset, _check_classes, _check_label_range, _check_labels, channel_stats
from .transforms import DECODE_ERRORS, cannot_decode, eval_transform, open_rgb, train_transform

AHEAD = 2  # batches decoded ahead of the one being consumed
SLOTS = AHEAD + 1  # shared-memory batches of a pool: the one being copied out and those ahead


class StreamingFolder:
    """Labelled image files, decoded batch by batch in worker processes, every epoch again.

    Args:
      files: the image files, one per example.
      labels: int32 [N], each in 0..len(classes)-1.
      classes: class names; label k means ``classes[k]``.
      image_size: the side S of every decoded image.
      train: True: ``RandomResizedCrop(S)`` + flip, fresh per (seed, epoch, example); False:
        ``Resize(resize)`` + ``CenterCrop(S)``.
      workers: decoding processes (default: the CPU count), started by the first read and kept
        until ``close()`` (or ``with``, garbage collection, exit, the end of ``fit``).
      skip_bad: a file that fails to decode is counted (one warning per epoch naming the first)
        and, in a training batch, replaced by the next decodable file of the list (with its label),
        in an evaluation batch left out (masked); False: one ``ValueError`` naming the file.
      seed: keys the random crops and flips.
      resize: the shorter side before the evaluation crop (default ``round(S / 0.875)``, 256 for
        224, torchvision's ImageNet evaluation).
      stats_sample: how many images, evenly spaced in the list, ``channel_stats`` decodes.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        labels: np.ndarray,
        classes: tuple[str, ...],
        *,
        image_size: int = 224,
        train: bool = True,
        workers: int | None = None,
        skip_bad: bool = False,
        seed: int = 0,
        resize: int | None = None,
        stats_sample: int = 256,
    ):
        _check_labels(labels)
        _check_classes(classes)
        if len(files) != len(labels) or not len(files):
            raise ValueError(
                f"expected one label per file and at least one file, got {len(files)} files, {len(labels)} labels"
            )
        _check_label_range(labels, len(classes))
        for name, check, value in (
            ("image_size", POSITIVE_INT, image_size),
            ("workers", POSITIVE_INT.or_none(), workers),
            ("seed", NON_NEGATIVE_INT, seed),
            ("stats_sample", POSITIVE_INT, stats_sample),
            ("train", BOOL, train),
            ("skip_bad", BOOL, skip_bad),
        ):
            check.require(name, value)
        resize = round(image_size / 0.875) if resize is None else resize
        if not POSITIVE_INT.accepts(resize) or resize < image_size:
            raise ValueError(f"resize must be an integer >= image_size {image_size}, got {resize!r}")
        self.files = [Path(f) for f in files]
        self.labels, self.classes = labels, classes
        self.image_size, self.train, self.skip_bad, self.seed, self.resize = image_size, train, skip_bad, seed, resize
        self.workers = workers or os.cpu_count() or 1
        self.stats_sample = stats_sample
        self.source = os.path.commonpath([str(f.absolute()) for f in self.files])
        self._pool: _Pool | None = None  # the worker processes, started by the first read
        self._pool_lock = threading.Lock()

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image a batch holds: (S, S, 3)."""
        return (self.image_size, self.image_size, 3)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        kind = "train: random resized crops" if self.train else f"eval: resize {self.resize}, centre crop"
        return (
            f"StreamingFolder({len(self)} files to {self.image_size}x{self.image_size} ({kind}), "
            f"{self.num_classes} classes, {self.workers} workers, source={self.source!r})"
        )

    def decode(self, example: int, epoch: int) -> np.ndarray:
        """Example ``example``'s pixels in ``epoch``: uint8 [S, S, 3]; raises ``ValueError`` naming
        the file when it cannot be decoded."""
        return self._decode(example, epoch, self.train)

    def _decode(self, example: int, epoch: int, train: bool) -> np.ndarray:
        path = self.files[example]
        try:
            if train:
                rng = np.random.default_rng([self.seed, epoch, example])
                return train_transform(path, self.image_size, rng)
            return eval_transform(open_rgb(path), self.image_size, self.resize)
        except DECODE_ERRORS as err:
            raise cannot_decode(path, err) from err

    def read(self, requests: Iterable[np.ndarray], epoch: int, *, substitute: bool) -> Iterator[dict]:
        """Decode batches of examples in the worker processes, ``AHEAD`` batches ahead, in order.

        The processes start at the first read and serve every later one (``close`` ends them);
        a reader closed with work in flight (an error, an interrupt, a consumer that stops
        mid-epoch) ends them at once, and the next read starts new ones.

        Args:
          requests: int arrays [B] of example numbers; -1 marks a padding row (zeros, label 0).
          epoch: keys the random crops.
          substitute: with ``skip_bad``, a bad file is replaced by the next decodable one (True,
            for training) or masked out (False, for evaluation).

        Yields:
          dicts with 'image' uint8 [B, S, S, 3], 'label' int32 [B] and 'mask' bool [B] (False
          for padding rows and skipped files); fresh arrays, never the workers' shared memory.
        """
        return _Reader(self, epoch, substitute, self.train).batches(iter(requests))

    def channel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and standard deviation in 0..1 units of up to ``stats_sample`` images
        evenly spaced in the list, through the evaluation transform (``Resize`` + ``CenterCrop``;
        the same for every epoch and process). Returns two float32 arrays [3]."""
        picks = np.unique(np.linspace(0, len(self) - 1, min(self.stats_sample, len(self))).astype(np.int64))
        with contextlib.closing(_Reader(self, 0, False, train=False).batches(iter([picks]))) as batches:
            batch = next(batches)
        kept = batch["mask"]
        return channel_stats(Dataset(batch["image"][kept], batch["label"][kept], self.classes, self.source))

    def close(self) -> None:
        """End the worker processes (the next read starts new ones). Also done when the folder is
        garbage-collected, at interpreter exit, and by ``with StreamingFolder(...) as folder:``."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __enter__(self) -> StreamingFolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextlib.contextmanager
    def _workers(self) -> Iterator[_Pool]:
        """The folder's pool for one reader (started now if none runs), or, while another reader
        of this folder holds it, a pool of the reader's own that ends with it."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = _Pool(self)
                weakref.finalize(self, self._pool.close)
            pool, own = self._pool, not self._pool.busy
            pool.busy |= own
        if not own:
            pool = _Pool(self)
        try:
            yield pool
        finally:
            if not own:
                pool.close()
            elif pool.unanswered:  # stopped with work in flight: end the workers rather than wait
                self.close()
            else:
                pool.busy = False

    def _worker_state(self) -> dict:
        """What a worker process needs to decode: this folder's settings, the files as strings
        (quicker to send than paths)."""
        state = {k: v for k, v in vars(self).items() if not k.startswith("_pool")}
        return {**state, "files": [str(f) for f in self.files]}


class _Reader:
    """One pass of ``StreamingFolder.read``: the batches in flight and the bad files met."""

    def __init__(self, folder: StreamingFolder, epoch: int, substitute: bool, train: bool):
        self.folder, self.epoch, self.substitute, self.train = folder, epoch, substitute, train
        self.bad: dict[int, str] = {}  # example -> why it failed, merged from the workers' answers

    def batches(self, requests: Iterator[np.ndarray]) -> Iterator[dict]:
        pending: collections.deque = collections.deque()
        try:
            with self.folder._workers() as pool:
                for number, request in enumerate(requests):
                    pending.append(self._submit(pool, number % SLOTS, np.asarray(request)))
                    if len(pending) > AHEAD:
                        yield self._collect(pool, *pending.popleft())
                while pending:
                    yield self._collect(pool, *pending.popleft())
        finally:
            self._report()

    def _submit(self, pool: _Pool, slot: int, request: np.ndarray) -> tuple:
        """Hand each worker one contiguous chunk of ``request``'s rows, decoded into ``slot``."""
        shape = (len(request), *self.folder.image_shape)
        name = pool.slot(slot, int(np.prod(shape)))
        chunks = np.array_split(np.arange(len(request)), pool.count)
        busy = [worker for worker, rows in enumerate(chunks) if len(rows)]
        for worker in busy:
            rows = chunks[worker]
            task = (name, shape, int(rows[0]), request[rows], self.epoch, self.train, self.substitute)
            pool.send(worker, task)
        return slot, shape, busy

    def _collect(self, pool: _Pool, slot: int, shape: tuple, busy: list[int]) -> dict:
        """The batch in ``slot`` once its workers have answered, copied out of the shared memory;
        the first error of its rows raised here, in the reader's thread."""
        answers = [pool.receive(worker) for worker in busy]
        for _, _, bad, _ in answers:
            for example, why in bad.items():
                self.bad.setdefault(example, why)
        error = next((error for *_, error in answers if error), None)
        if error:
            raise ValueError(error)
        return {
            "image": pool.image(slot, shape),
            "label": np.concatenate([labels for labels, *_ in answers]),
            "mask": np.concatenate([kept for _, kept, *_ in answers]),
        }

    def _report(self) -> None:
        if self.bad:
            first = min(self.bad)
            warnings.warn(
                f"skipped {len(self.bad)} of {len(self.folder)} files that could not be decoded, "
                f"the first: {self.folder.files[first]} ({self.bad[first]})",
                stacklevel=2,
            )


class _Pool:
    """A folder's decoding processes and the shared-memory batches they write into.

    Each worker is a fresh interpreter (``python -c``, like multiprocessing's spawn: nothing of
    this process is inherited, no jax is imported) in a session of its own (a Ctrl-C at the
    terminal does not reach it; it ignores SIGINT besides). It reads pickled tasks from its
    stdin and answers each, in order, on its stdout; at the end of its stdin (the reader closed
    it, or this process died) it exits.
    """

    def __init__(self, folder: StreamingFolder):
        self.count, self.source = folder.workers, folder.source
        self.busy, self.unanswered = False, 0
        self.slots: list[shared_memory.SharedMemory | None] = [None] * SLOTS
        state = pickle.dumps(sys.path) + pickle.dumps(folder._worker_state(), pickle.HIGHEST_PROTOCOL)
        self.processes = [self._start(state) for _ in range(self.count)]

    @staticmethod
    def _start(state: bytes) -> subprocess.Popen:
        """A worker, sent this process's module path and then the folder's state."""
        command = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
        command += "from jaxcnn.data.streaming import _serve; _serve()"
        process = subprocess.Popen(
            [sys.executable, "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        process.stdin.write(state)
        process.stdin.flush()
        return process

    def slot(self, number: int, size: int) -> str:
        """The name of shared-memory batch ``number``, grown to at least ``size`` bytes."""
        memory = self.slots[number]
        if memory is None or memory.size < size:
            if memory is not None:
                _release(memory)
            memory = self.slots[number] = shared_memory.SharedMemory(create=True, size=size)
        return memory.name

    def image(self, number: int, shape: tuple) -> np.ndarray:
        """A copy of the uint8 ``shape`` images in shared-memory batch ``number``."""
        return np.ndarray(shape, np.uint8, buffer=self.slots[number].buf).copy()

    def send(self, worker: int, task: tuple) -> None:
        self.unanswered += 1  # counted first: an interrupt mid-send leaves the count high, never low
        try:
            pickle.dump(task, self.processes[worker].stdin, pickle.HIGHEST_PROTOCOL)
            self.processes[worker].stdin.flush()
        except BrokenPipeError:
            raise self._ended(worker) from None

    def receive(self, worker: int) -> tuple:
        """Worker ``worker``'s answer to its oldest unanswered task."""
        try:
            answer = pickle.load(self.processes[worker].stdout)
        except EOFError:
            raise self._ended(worker) from None
        self.unanswered -= 1
        return answer

    def _ended(self, worker: int) -> RuntimeError:
        code = self.processes[worker].wait()
        return RuntimeError(
            f"a decoding worker of {self.source} ended (exit code {code}); see its message above, if any"
        )

    def close(self) -> None:
        """End the workers (at once, whatever they were doing) and free the shared memory."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait()
            for pipe in (process.stdin, process.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()
        for memory in self.slots:
            if memory is not None:
                _release(memory)
        self.processes, self.slots = [], [None] * SLOTS


def _release(memory: shared_memory.SharedMemory) -> None:
    memory.close()
    memory.unlink()


def _serve() -> None:
    """A worker's loop: the folder's state first, then tasks until the end of stdin; answers go
    to the original stdout, and anything printed goes to stderr instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tasks, answers = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    folder = StreamingFolder.__new__(StreamingFolder)
    vars(folder).update(pickle.load(tasks))
    if sys.version_info < (3, 13):  # no SharedMemory(track=False) yet: an attached batch would be
        resource_tracker.register = lambda name, rtype: None  # unlinked by this worker's own tracker
    with contextlib.suppress(EOFError, BrokenPipeError):
        while True:
            answer = _decode_chunk(folder, *pickle.load(tasks))
            pickle.dump(answer, answers, pickle.HIGHEST_PROTOCOL)
            answers.flush()


def _attach(name: str) -> shared_memory.SharedMemory:
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name, track=False)
    return shared_memory.SharedMemory(name)


def _decode_chunk(folder: StreamingFolder, name, shape, start, examples, epoch, train, substitute) -> tuple:
    """Decode ``examples`` into rows ``start``... of the shared batch ``name`` (uint8 ``shape``).

    Returns:
      (labels int32 [R], kept bool [R], {bad example: why}, the first error's line or None).
    """
    memory = _attach(name)
    try:
        images = np.ndarray(shape, np.uint8, buffer=memory.buf)[start : start + len(examples)]
        answer = _fill(folder, images, examples, epoch, train, substitute)
        del images
    finally:
        memory.close()
    return answer


def _fill(folder: StreamingFolder, images: np.ndarray, examples: np.ndarray, epoch, train, substitute) -> tuple:
    labels, kept, bad = np.zeros(len(examples), np.int32), examples >= 0, {}
    images[~kept] = 0
    for row in np.flatnonzero(kept):
        for tried in range(len(folder)):
            candidate = (int(examples[row]) + tried) % len(folder)
            try:
                images[row] = folder._decode(candidate, epoch, train)
                labels[row] = folder.labels[candidate]
                break
            except ValueError as err:
                if not folder.skip_bad:
                    return labels, kept, bad, str(err)
                bad.setdefault(candidate, str(err.__cause__))
                if not substitute:
                    images[row], kept[row] = 0, False
                    break
        else:
            return labels, kept, bad, f"none of the {len(folder)} files of {folder.source} could be decoded"
    return labels, kept, bad, None
