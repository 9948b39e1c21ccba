"""The streaming pipeline from image files at 224, side by side with grain and torchvision.

Called by ``python benchmarks/input_pipeline.py --folder PATH``. For the training transform
(RandomResizedCrop(224) + horizontal flip), the evaluation transform (Resize(256) +
CenterCrop(224)) and, with ``--transforms v2``, the training input of torchvision's ResNet-50 V2
recipe (RandomResizedCrop(176) + flip + TrivialAugmentWide), and for each worker count, it times
one epoch of batches from

- jaxcnn's ``StreamingFolder`` (a pool of threads) through ``train_batches``/``eval_batches``;
- grain's ``DataLoader`` (worker processes, ``IndexSampler`` with ``ShardOptions``) running the
  same transform functions (``jaxcnn.data.transforms``);
- torchvision's ``ImageFolder`` + ``DataLoader(num_workers=N)`` with its own transforms
  (``PILToTensor`` last: uint8 batches, as the others give);
- for ``v2`` also torchvision's whole V2 training preset as its ``train.py`` runs it in the
  workers: the above, then ``ConvertImageDtype`` + ``Normalize`` + ``RandomErasing(0.1)``, and
  MixUp/CutMix in the ``collate_fn``: jaxcnn does those three on the device, so they cost its
  host nothing (grain is not run for ``v2``).

Each figure is the median over ``repeats`` epochs (the engines take turns, so that a busy
moment of the machine does not fall on one of them), counted from the first batch (worker
start-up excluded). grain and torchvision are optional: a row says why one is skipped. The
rows go to stdout and, with ``out``, to a JSONL file with the machine, the date and the command.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import PIL

from jaxcnn.bench.device import cpu_name
from jaxcnn.data import StreamingFolder, eval_batches, train_batches
from jaxcnn.data.folder import scan
from jaxcnn.data.transforms import eval_transform, open_rgb, train_transform

SIZE, RESIZE = 224, 256
V2_CROP = 176  # torchvision's ResNet-50 V2 recipe: --train-crop-size 176
H200_IMAGES_PER_SECOND = 6800  # one H200's ResNet-50 bf16 training step (docs/results.md)


def time_epoch(batches) -> tuple[int, float, float]:
    """(images after the first batch, seconds they took, CPU seconds per image of the whole pass)
    of one pass over ``batches``. The CPU time is this process's and its ended children's (the
    worker processes of grain and torchvision, start-up included), and does not depend on what
    else the machine runs, unlike the seconds."""
    cpu_start, iterator = cpu_seconds(), iter(batches)
    first = _rows(next(iterator))
    start, images = time.perf_counter(), 0
    for batch in iterator:
        images += _rows(batch)
    seconds = time.perf_counter() - start
    del iterator, batches  # ends the worker processes, so that their CPU time is counted
    return images, seconds, (cpu_seconds() - cpu_start) / (images + first)


def _rows(batch) -> int:
    return len(batch["image"] if isinstance(batch, dict) else batch[0])


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its ended, waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def jaxcnn_epoch(root: Path, transform: str, workers: int, batch_size: int, epoch: int):
    classes, files, labels = scan(root)
    train = transform != "eval"
    settings = {"image_size": V2_CROP, "auto_augment": "ta_wide"} if transform == "v2" else {"image_size": SIZE}
    ds = StreamingFolder(files, labels, classes, train=train, workers=workers, resize=RESIZE, **settings)
    if train:
        return train_batches(ds, batch_size, seed=0, epoch=epoch)
    return eval_batches(ds, batch_size)


class GrainTrain:
    """grain's random map: the training transform of one (path, label) record."""

    def random_map(self, record, rng):
        return {"image": train_transform(record[0], SIZE, rng), "label": record[1]}


class GrainEval:
    """grain's map: the evaluation transform of one (path, label) record."""

    def map(self, record):
        return {"image": eval_transform(open_rgb(record[0]), SIZE, RESIZE), "label": record[1]}


def grain_epoch(root: Path, transform: str, workers: int, batch_size: int, epoch: int):
    import grain.python as grain
    from absl import flags

    if not flags.FLAGS.is_parsed():  # grain reads absl flags, which a script without absl.app never parses
        flags.FLAGS.mark_as_parsed()

    class Train(GrainTrain, grain.RandomMapTransform):
        pass

    class Eval(GrainEval, grain.MapTransform):
        pass

    train = transform == "train"
    _, files, labels = scan(root)
    records = [(str(f), int(label)) for f, label in zip(files, labels)]
    sampler = grain.IndexSampler(
        len(records), grain.ShardOptions(0, 1, drop_remainder=train), shuffle=train, num_epochs=1, seed=epoch
    )
    transform = Train() if train else Eval()
    batch = grain.Batch(batch_size, drop_remainder=train)
    return grain.DataLoader(data_source=records, sampler=sampler, operations=[transform, batch], worker_count=workers)


def torch_epoch(root: Path, transform: str, workers: int, batch_size: int, epoch: int, whole_preset: bool = False):
    import torch
    from torchvision import datasets, transforms

    bilinear = transforms.InterpolationMode.BILINEAR
    collate = None
    if transform == "eval":
        steps = [transforms.Resize(RESIZE), transforms.CenterCrop(SIZE), transforms.PILToTensor()]
    elif transform == "train":
        steps = [transforms.RandomResizedCrop(SIZE), transforms.RandomHorizontalFlip(), transforms.PILToTensor()]
    else:
        steps = [
            transforms.RandomResizedCrop(V2_CROP, interpolation=bilinear),
            transforms.RandomHorizontalFlip(),
            transforms.TrivialAugmentWide(interpolation=bilinear),
            transforms.PILToTensor(),
        ]
        if whole_preset:  # the rest of torchvision's ClassificationPresetTrain and train.py's collate_fn
            steps += [
                transforms.ConvertImageDtype(torch.float),
                transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
                transforms.RandomErasing(p=0.1),
            ]
            collate = _mixup_cutmix_collate(len(datasets.ImageFolder(str(root)).classes))
    folder = datasets.ImageFolder(str(root), transforms.Compose(steps))
    torch.manual_seed(epoch)
    train = transform != "eval"
    return torch.utils.data.DataLoader(
        folder,
        batch_size=batch_size,
        shuffle=train,
        num_workers=workers,
        drop_last=train,
        persistent_workers=False,
        **({"collate_fn": collate} if collate else {}),
    )


def _mixup_cutmix_collate(num_classes: int):
    """torchvision's train.py ``collate_fn`` with ``--mixup-alpha 0.2 --cutmix-alpha 1.0``."""
    from torch.utils.data.dataloader import default_collate
    from torchvision.transforms import v2

    mix = v2.RandomChoice([v2.MixUp(alpha=0.2, num_classes=num_classes), v2.CutMix(alpha=1.0, num_classes=num_classes)])
    return lambda batch: mix(*default_collate(batch))


def torch_preset_epoch(root: Path, transform: str, workers: int, batch_size: int, epoch: int):
    return torch_epoch(root, transform, workers, batch_size, epoch, whole_preset=True)


ENGINES = {
    "jaxcnn StreamingFolder (threads)": (jaxcnn_epoch, None),
    "grain DataLoader (processes)": (grain_epoch, "grain"),
    "torchvision DataLoader (processes)": (torch_epoch, "torchvision"),
    "torchvision DataLoader, whole V2 preset + MixUp/CutMix (processes)": (torch_preset_epoch, "torchvision"),
}
ONLY_V2 = "torchvision DataLoader, whole V2 preset + MixUp/CutMix (processes)"


def engines_for(transform: str) -> dict:
    """The engines measured for ``transform``: grain not for ``v2``, the whole V2 preset only for it."""
    skip = "grain DataLoader (processes)" if transform == "v2" else ONLY_V2
    return {name: engine for name, engine in ENGINES.items() if name != skip}


def versions() -> dict:
    """The versions of the packages measured."""
    found = {"pillow": PIL.__version__, "numpy": np.__version__}
    for module in ("jax", "grain", "torch", "torchvision"):
        try:
            found[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            found[module] = None
    return found


def missing(module: str | None) -> str | None:
    """Why an engine is skipped: its package is not installed (None: it runs)."""
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError as err:
        return f"skipped: {module} is not installed ({err})"
    return None


def measure_folder(
    folder: str,
    worker_counts: list[int],
    repeats: int,
    batch_size: int,
    out: str | None,
    transforms: tuple[str, ...] = ("train", "eval"),
) -> None:
    """Print (and append to ``out``) one row per engine, transform (of ``transforms``) and worker count."""
    root = Path(folder)
    images = len(scan(root)[1])
    load_before = os.getloadavg()[0]
    runs = {}
    for repeat in range(repeats):
        for transform in transforms:
            for workers in worker_counts:
                for engine, (epoch_of, module) in engines_for(transform).items():
                    if missing(module) is None:
                        batches = epoch_of(root, transform, workers, batch_size, repeat)
                        runs.setdefault((engine, transform, workers), []).append(time_epoch(batches))
    context = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "command": " ".join(["python", *sys.argv]),
        "python": platform.python_version(),
        "versions": versions(),
        "folder": f"{images} files in {root}",
        "batch_size": batch_size,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
        "repeats": repeats,
    }
    rows = [
        {
            **context,
            "engine": engine,
            "transform": transform,
            "workers": workers,
            **result(runs, engine, transform, workers, module),
        }
        for transform in transforms
        for workers in worker_counts
        for engine, (_, module) in engines_for(transform).items()
    ]
    rows.append({**context, **cores_needed(runs, worker_counts, transforms[0])})
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k not in context}))
    if out:
        with open(out, "a") as file:
            file.writelines(json.dumps(row) + "\n" for row in rows)


def result(runs: dict, engine: str, transform: str, workers: int, module: str | None) -> dict:
    why = missing(module)
    if why:
        return {"images_per_second": None, "note": why}
    passes = runs[(engine, transform, workers)]
    speeds = [images / seconds for images, seconds, _ in passes]
    per_cpu_second = [1 / cpu for _, _, cpu in passes]
    return {
        "images_per_second": round(statistics.median(speeds), 1),
        "runs": [round(s, 1) for s in speeds],
        "images_per_cpu_second": round(statistics.median(per_cpu_second), 1),
    }


def cores_needed(runs: dict, worker_counts: list[int], transform: str = "train") -> dict:
    """The cores one H200 needs to feed its ResNet-50 bf16 step with ``transform``: from
    the images per CPU-second of jaxcnn's streaming pipeline (busy cores, whatever else ran), and
    from its best images/s per worker (wall clock, which other load on the machine lowers)."""
    engine = "jaxcnn StreamingFolder (threads)"
    per_cpu = statistics.median(1 / cpu for w in worker_counts for _, _, cpu in runs[(engine, transform, w)])
    per_worker = max(statistics.median(i / s for i, s, _ in runs[(engine, transform, w)]) / w for w in worker_counts)
    return {
        "derived": (
            f"cores one H200 needs at {H200_IMAGES_PER_SECOND} img/s (ResNet-50 bf16 step), {transform} transform"
        ),
        "images_per_cpu_second": round(per_cpu, 1),
        "cores_from_cpu_time": int(np.ceil(H200_IMAGES_PER_SECOND / per_cpu)),
        "images_per_second_per_worker": round(per_worker, 1),
        "cores_from_wall_clock": int(np.ceil(H200_IMAGES_PER_SECOND / per_worker)),
    }
