"""``StreamingFolder``: image files decoded again every epoch, for data sets too large to decode once.

Training examples get torchvision's ``RandomResizedCrop`` + horizontal flip (``train_transform``),
drawn from ``numpy.random.default_rng([seed, epoch, example])``: an example's crop depends on
the seed, the epoch and its position in the file list alone, never on the worker count, the
batch size, the process count or what was read before, so a run resumed mid-epoch reads the
same pixels. Evaluation examples get ``eval_transform`` (Resize + CenterCrop, the pixels of the
decoded-once path and of prediction).

The work runs in a pool of threads: Pillow releases the GIL while it decodes and resamples, the
decoded rows are written straight into the batch array (no pickling between processes), and
nothing outlives the epoch's reader: closing it (the training loop does, at a signal too) cancels
the queued work and joins the threads. ``benchmarks/input_pipeline.py --folder`` measures it
against grain's multiprocessing ``DataLoader`` and torchvision's ``DataLoader``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from jaxcnn.validate import BOOL, NON_NEGATIVE_INT, POSITIVE_INT

from . import autoaugment
from .dataset import Dataset, _check_classes, _check_label_range, _check_labels, channel_stats
from .transforms import DECODE_ERRORS, cannot_decode, eval_transform, open_rgb, train_transform

AHEAD = 2  # batches decoded ahead of the one being consumed


class StreamingFolder:
    """Labelled image files, decoded batch by batch in worker threads, every epoch again.

    Args:
      files: the image files, one per example.
      labels: int32 [N], each in 0..len(classes)-1.
      classes: class names; label k means ``classes[k]``.
      image_size: the side S of every decoded image.
      train: True: ``RandomResizedCrop(S)`` + flip, fresh per (seed, epoch, example); False:
        ``Resize(resize)`` + ``CenterCrop(S)``.
      workers: decoding threads (default: the CPU count).
      skip_bad: a file that fails to decode is counted (one warning per epoch naming the first)
        and, in a training batch, replaced by the next decodable file of the list (with its label),
        in an evaluation batch left out (masked); False: one ``ValueError`` naming the file.
      seed: keys the random crops and flips.
      resize: the shorter side before the evaluation crop (default ``round(S / 0.875)``, 256 for
        224, torchvision's ImageNet evaluation).
      stats_sample: how many images, evenly spaced in the list, ``channel_stats`` decodes.
      auto_augment, ra_magnitude, fill: a training image's automatic augmentation after its crop
        and flip (``jaxcnn.data.autoaugment.auto_augment``; None: none).
      interpolation: how crops and resizes resample: "bilinear", "bicubic", or for training
        "random" (see ``train_transform``).
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
        auto_augment: str | None = None,
        ra_magnitude: int = 9,
        fill: tuple[int, ...] | None = None,
        interpolation: str = "bilinear",
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
        if auto_augment is not None and not autoaugment.is_policy(auto_augment):
            raise ValueError(
                f"auto_augment must be one of {', '.join(autoaugment.POLICIES)} or {autoaugment.TIMM_RAND_HELP}, "
                f"got {auto_augment!r}"
            )
        allowed = autoaugment.TRAIN_INTERPOLATIONS if train else autoaugment.INTERPOLATIONS
        if interpolation not in allowed:
            raise ValueError(f"interpolation must be one of {', '.join(allowed)}, got {interpolation!r}")
        self.auto_augment, self.ra_magnitude, self.fill = auto_augment, ra_magnitude, fill
        self.interpolation = interpolation
        self.source = os.path.commonpath([str(f.absolute()) for f in self.files])

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
        path = self.files[example]
        try:
            if self.train:
                rng = np.random.default_rng([self.seed, epoch, example])
                settings = {"interpolation": self.interpolation, "fill": self.fill}
                return train_transform(path, self.image_size, rng, self.auto_augment, self.ra_magnitude, **settings)
            return eval_transform(open_rgb(path), self.image_size, self.resize, self.interpolation)
        except DECODE_ERRORS as err:
            raise cannot_decode(path, err) from err

    def read(self, requests: Iterable[np.ndarray], epoch: int, *, substitute: bool) -> Iterator[dict]:
        """Decode batches of examples in the worker threads, ``AHEAD`` batches ahead, in order.

        Args:
          requests: int arrays [B] of example numbers; -1 marks a padding row (zeros, label 0).
          epoch: keys the random crops.
          substitute: with ``skip_bad``, a bad file is replaced by the next decodable one (True,
            for training) or masked out (False, for evaluation).

        Yields:
          dicts with 'image' uint8 [B, S, S, 3], 'label' int32 [B] and 'mask' bool [B] (False
          for padding rows and skipped files).
        """
        return _Reader(self, epoch, substitute).batches(iter(requests))

    def channel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and standard deviation in 0..1 units of up to ``stats_sample`` images
        evenly spaced in the list, through the evaluation transform (``Resize`` + ``CenterCrop``;
        the same for every epoch and process). Returns two float32 arrays [3]."""
        picks = np.unique(np.linspace(0, len(self) - 1, min(self.stats_sample, len(self))).astype(np.int64))
        evaluation = StreamingFolder(
            self.files,
            self.labels,
            self.classes,
            image_size=self.image_size,
            train=False,
            workers=self.workers,
            skip_bad=self.skip_bad,
            resize=self.resize,
            interpolation="bilinear" if self.interpolation == "random" else self.interpolation,
        )
        batch = next(evaluation.read([picks], 0, substitute=False))
        kept = batch["mask"]
        return channel_stats(Dataset(batch["image"][kept], batch["label"][kept], self.classes, self.source))


class _Reader:
    """One pass of ``StreamingFolder.read``: the thread pool, the batches in flight, the bad files met."""

    def __init__(self, folder: StreamingFolder, epoch: int, substitute: bool):
        self.folder, self.epoch, self.substitute = folder, epoch, substitute
        self.bad: dict[int, ValueError] = {}  # example -> its error, shared by the threads

    def batches(self, requests: Iterator[np.ndarray]) -> Iterator[dict]:
        pool = concurrent.futures.ThreadPoolExecutor(self.folder.workers, thread_name_prefix="jaxcnn-stream")
        pending: collections.deque = collections.deque()
        try:
            for request in requests:
                pending.append(self._submit(pool, request))
                if len(pending) > AHEAD:
                    yield self._collect(*pending.popleft())
            while pending:
                yield self._collect(*pending.popleft())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._report()

    def _submit(self, pool, request: np.ndarray) -> tuple:
        size = self.folder.image_size
        batch = {
            "image": np.zeros((len(request), size, size, 3), np.uint8),
            "label": np.zeros(len(request), np.int32),
            "mask": np.asarray(request) >= 0,
        }
        futures = [
            pool.submit(self._fill, batch, row, int(example)) for row, example in enumerate(request) if example >= 0
        ]
        return batch, futures

    def _collect(self, batch: dict, futures: list) -> dict:
        for future in futures:
            future.result()  # a ValueError naming the file is raised here, in the reader's thread
        return batch

    def _fill(self, batch: dict, row: int, example: int) -> None:
        """Decode ``example`` (or, substituting, the next decodable one) into ``batch``'s ``row``."""
        folder = self.folder
        for tried in range(len(folder)):
            candidate = (example + tried) % len(folder)
            try:
                batch["image"][row] = self._decode(candidate)
                batch["label"][row] = folder.labels[candidate]
                return
            except ValueError as err:
                if not folder.skip_bad:
                    raise
                self.bad.setdefault(candidate, err)
                if not self.substitute:
                    batch["mask"][row] = False
                    return
        raise ValueError(f"none of the {len(folder)} files of {folder.source} could be decoded")

    def _decode(self, example: int) -> np.ndarray:
        known = self.bad.get(example)
        if known is not None:
            raise known
        return self.folder.decode(example, self.epoch)

    def _report(self) -> None:
        if self.bad:
            first = min(self.bad)
            warnings.warn(
                f"skipped {len(self.bad)} of {len(self.folder)} files that could not be decoded, "
                f"the first: {self.folder.files[first]} ({self.bad[first].__cause__})",
                stacklevel=2,
            )
