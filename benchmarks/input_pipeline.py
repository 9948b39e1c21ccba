"""Throughput of the input pipeline alone: no model, no train step.

    python benchmarks/input_pipeline.py [--data fashion_mnist_small] [--batch-size 128]
    python benchmarks/input_pipeline.py --folder PATH [--workers 1 2] [--repeats 3] [--out FILE.jsonl]
    python benchmarks/input_pipeline.py --folder PATH --transforms v2   # torchvision's ResNet-50 V2 input

Measures images/s of (1) the host side alone: shuffled batches gathered from
the Dataset (``train_batches``), and (2) the whole pipeline: host batches,
``prefetch`` to the default device and ``augment`` there (random crop with
4-pixel padding, flip, normalisation, 28x28 -> 32x32), as the training loop
runs it. Each figure is the median of ``--repeats`` runs of ``--steps`` batches,
after one untimed run that compiles.

With ``--folder`` (an image folder, e.g. from ``tools/make_jpeg_folder.py``) it measures instead
the streaming pipeline at 224 (``benchmarks/folder_pipeline.py``): the training transform
(RandomResizedCrop + flip) and the evaluation transform (Resize 256 + CenterCrop 224) from the
files, for each worker count, beside grain's and torchvision's DataLoaders in the same run.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import time

import jax

from jaxcnn.data import augment, channel_stats, load, prefetch, train_batches


def host_only(ds, batch_size: int, steps: int, epoch: int) -> float:
    """images/s of gathering shuffled batches on the host."""
    start = time.perf_counter()
    for _ in itertools.islice(train_batches(ds, batch_size, seed=0, epoch=epoch), steps):
        pass
    return steps * batch_size / (time.perf_counter() - start)


def full_pipeline(ds, augment_fn, batch_size: int, steps: int, epoch: int) -> float:
    """images/s of host batches, prefetched to the device and augmented there."""
    key = jax.random.key(0)
    batches = itertools.islice(train_batches(ds, batch_size, seed=0, epoch=epoch), steps)
    start = time.perf_counter()
    for batch in prefetch(batches, size=2):
        out = augment_fn(batch["image"], batch["index"], key)
    out.block_until_ready()
    return steps * batch_size / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist_small")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, help="default: 5 (3 with --folder)")
    parser.add_argument("--out-size", type=int, default=32)
    parser.add_argument("--folder", help="measure the streaming pipeline on this image folder instead")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="with --folder")
    parser.add_argument("--out", help="with --folder: append the rows to this JSONL file")
    parser.add_argument(
        "--transforms",
        nargs="+",
        choices=("train", "eval", "v2"),
        default=["train", "eval"],
        help="with --folder: v2 is the training input of torchvision's ResNet-50 V2 recipe",
    )
    args = parser.parse_args(argv)
    if args.folder:
        from folder_pipeline import measure_folder

        measure_folder(args.folder, args.workers, args.repeats or 3, args.batch_size, args.out, tuple(args.transforms))
        return
    args.repeats = args.repeats or 5

    ds = load(args.data, "train")
    mean, std = channel_stats(ds)
    augment_fn = jax.jit(functools.partial(augment, mean=mean, std=std, pad=4, flip=True, out_size=args.out_size))
    full_pipeline(ds, augment_fn, args.batch_size, 2, epoch=0)  # compile
    host = [host_only(ds, args.batch_size, args.steps, e) for e in range(args.repeats)]
    full = [full_pipeline(ds, augment_fn, args.batch_size, args.steps, e) for e in range(args.repeats)]
    print(
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"data: {args.data}, batch {args.batch_size}, {args.steps} steps x {args.repeats}"
    )
    print(f"host batching only:              {statistics.median(host):12,.0f} images/s")
    print(f"host + prefetch + augment:       {statistics.median(full):12,.0f} images/s")


if __name__ == "__main__":
    main()
