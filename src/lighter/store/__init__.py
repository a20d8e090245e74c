"""The embedded local image store (``store:``), lighter's analogue of containers-storage.

A root directory holds a content-addressed blob area laid out like an OCI
image layout (``blobs/sha256/<hex>``) and a SQLite catalogue of image
records (``catalog.db``).  The store sits below the transports: the
``store:`` transport and the manifest-list operations build on it.
"""

from lighter.store.blobs import BlobStore
from lighter.store.catalog import Catalog, ImageRecord
from lighter.store.gc import GcResult, collect_garbage
from lighter.store.names import normalize_name, parse_name, split_name
from lighter.store.store import ROOT_ENV, Store, default_root, new_id, now_rfc3339
from lighter.store.walk import Reach, walk

__all__ = [
    "ROOT_ENV",
    "BlobStore",
    "Catalog",
    "GcResult",
    "ImageRecord",
    "Reach",
    "Store",
    "collect_garbage",
    "default_root",
    "new_id",
    "normalize_name",
    "now_rfc3339",
    "parse_name",
    "split_name",
    "walk",
]
