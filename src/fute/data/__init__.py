"""Data: the catalogue of labelled sets, user-file loaders and the unlabelled pool."""

from fute.data.catalog import CatalogEntry, get_entry, list_datasets, load_dataset
from fute.data.loaders import load_data
from fute.data.pool import describe_pool, sample_pool

__all__ = [
    "CatalogEntry",
    "describe_pool",
    "get_entry",
    "list_datasets",
    "load_data",
    "load_dataset",
    "sample_pool",
]
