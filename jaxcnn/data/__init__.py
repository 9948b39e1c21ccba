"""Datasets (embedded, named, image folders), downloads, and the input pipeline."""

from .dataset import Dataset, channel_stats
from .registry import list_datasets, load
