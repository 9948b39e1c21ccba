"""Datasets (embedded, named, image folders), downloads, and the input pipeline."""

from .dataset import Dataset, channel_stats
from .registry import check_dataset_name, list_datasets, load
from .augment import augment, normalize
from .folder import image_folder
from .pipeline import epoch_order, eval_batches, steps_per_epoch, train_batches
from .placement import data_sharding, prefetch, to_device

__all__ = [
    "Dataset", "augment", "channel_stats", "check_dataset_name", "data_sharding", "epoch_order", "eval_batches",
    "image_folder", "list_datasets", "load", "normalize", "prefetch", "steps_per_epoch",
    "to_device", "train_batches",
]
