"""The store wing: embeddings in SQLite (`sqlite`), their export files (`exports`) and the
per-space vector index beside a store (`vector_index`).

    from fute.store import Store
    st = Store()                      # <cache>/store.sqlite
"""

from fute.core.errors import StoreError
from fute.store.exports import read_npz
from fute.store.sqlite import (
    PENDING_DIR,
    SCHEMA_VERSION,
    STORED_DTYPES,
    DamagedEmbeddingError,
    Name,
    RowHead,
    Store,
    StoredRecord,
    StoreSnapshot,
    StoreWarning,
    check_name,
    checksum,
    decode_vector,
    encode_vector,
    looks_like_id,
    provenance_versions,
)

__all__ = [
    "PENDING_DIR",
    "SCHEMA_VERSION",
    "STORED_DTYPES",
    "DamagedEmbeddingError",
    "Name",
    "RowHead",
    "Store",
    "StoreError",
    "StoreSnapshot",
    "StoreWarning",
    "StoredRecord",
    "check_name",
    "checksum",
    "decode_vector",
    "encode_vector",
    "looks_like_id",
    "provenance_versions",
    "read_npz",
]
