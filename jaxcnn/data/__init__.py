"""Datasets (embedded, named, image folders), downloads, and the input pipeline.

Its names are imported on first use (``jaxcnn.lazy``): ``jaxcnn.data.sources`` alone loads no jax.
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from .augment import augment, normalize
    from .dataset import Dataset, channel_stats
    from .folder import decode_files, image_folder
    from .imagenet import imagenet_classes
    from .layout import FolderSplit, held_out_share, split_folder
    from .named import check_dataset_name, is_local, list_datasets, load
    from .pipeline import epoch_order, eval_batches, steps_per_epoch, train_batches
    from .placement import data_sharding, prefetch, to_device
    from .sources import check_data, folder_part, load_splits, load_test_split, resolve_decode
    from .streaming import StreamingFolder

__all__ = [
    "Dataset",
    "FolderSplit",
    "StreamingFolder",
    "check_data",
    "decode_files",
    "folder_part",
    "load_splits",
    "load_test_split",
    "held_out_share",
    "resolve_decode",
    "split_folder",
    "augment",
    "channel_stats",
    "check_dataset_name",
    "data_sharding",
    "epoch_order",
    "eval_batches",
    "image_folder",
    "imagenet_classes",
    "is_local",
    "list_datasets",
    "load",
    "normalize",
    "prefetch",
    "steps_per_epoch",
    "to_device",
    "train_batches",
]

__getattr__, __dir__ = lazy_exports(__name__)
