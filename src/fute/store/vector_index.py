"""Per-space vector index: the unit-normalised rows of one space as a memory-mapped matrix.

Ranking a target against 100,000 stored 4096-value vectors by reading and decoding every
SQLite row takes seconds; a matrix product over one contiguous float32 file takes a fraction
of one. The index is such a file per space, kept next to the store
(`store.sqlite.index/<space-hash>.*`, or under the cache's `index/` folder when the store's
folder cannot be written), and never the source of truth:

- it records the store's uuid and write generation (`Store.generation`, bumped by every
  write in its own transaction); an index whose files are missing, truncated or unreadable
  is rebuilt from the store. One whose generation differs is brought up to date: a row is
  copied from it only when the store's row has the same (checksum, time of writing) and
  its index bytes still match their crc32; new, replaced and mismatching rows are read
  from the store. Deleting the folder changes nothing but the time of the next ranking;
- damaged rows are left out when it is built, and named (once per command) whenever it is
  used, as `Store.load` does;
- a store of schema 1 or 2 read as it is (no generation) gets no index: callers rank from
  the rows themselves.

Why float32 and a plain matrix product (measured on this project's shared 2-core machine
with other jobs running, 100,000 x 4096 rows; `benchmarks/scale.py` measures the
commands): float16 halves the file, but numpy's conversion to float32 made one pass take
3.9 s (torch's 2.5 s), against 0.44 s for a float32 pass read in 64 MB memory-mapped blocks
(peak memory 0.16 GB); FAISS's float16 flat index scans in ~0.2 s once loaded but took
4.5 s and 1.6 GB to load, and would be a new dependency. Search is exhaustive (exact top-k): every row is scored.
The scores are float32; `fute.ranking.rank_stored` re-scores every candidate within a small
margin of the k-th score from the store in float64, so its top-k equals the plain ranking.

A process that searches one index more than once (the Python API, a report) keeps it in
memory as a float16 matrix (half the memory of float32) and scans it with torch's float16
matrix-vector product, which accumulates in float32: 60-75 ms at 100,000 x 4096 here against
90-140 ms for the float32 product, the scan being bound by memory bandwidth. Its scores are
only a shortlist: every row whose float16 score is within twice the proven error bound
(`half_error_bound`) of the k-th is re-scored in float32 from the index file, so the result
equals the float32 search's. A self-check on the first scan falls back to float32 when the
float16 product errs by more than the bound allows.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import secrets
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.errors import SpaceMismatchError
from fute.core.kinds import Kind
from fute.store.sqlite import DamagedEmbeddingError, RowHead, StoreSnapshot

FORMAT = 2  # 2: per-row versions, for updates that copy unchanged rows
BLOCK_BYTES = 64 << 20  # rows scored per block: bounds memory whatever the index size
# A process that searches one index again (the Python API, a report) reads it into memory
# for the later searches, up to this size (env FUTE_INDEX_MAP_MB); a single search
# (`fute rank`) maps one block at a time and keeps ~0.1 GB whatever the index size.
WHOLE_MAP_MB = 2048
HALF_RESCORE_MAX = 4096  # near-ties past this (and n/8): a float32 pass instead of re-scoring
SUFFIX = ".index"
_KIND_CODE = {k: k.code for k in Kind}
_OPEN: dict[Path, tuple[tuple, SpaceIndex]] = {}  # loaded indexes, by meta file and its stat


@dataclass
class SpaceIndex:
    """Unit rows of one space: `ids[i]` (store ids, or positions for in-memory embeddings)
    and `kinds[i]` (`Kind.code`) describe row i of the matrix."""

    space_key: str
    dim: int
    ids: np.ndarray
    kinds: np.ndarray
    data: Path | np.ndarray  # the float32 file, or the matrix itself (in-memory embeddings)
    skipped: list[dict] = field(default_factory=list)  # damaged rows left out: id, name, kind, why
    generation: tuple | None = None  # (store uuid, generation) it was built from
    handle: object = None  # the data file, opened once: a rebuild by another process may
    # delete the file (it tidies older ones), which an open handle still reads on POSIX
    searches: int = 0
    versions: np.ndarray | None = None  # per row: what changes when it is replaced
    crcs: np.ndarray | None = None  # per row: crc32 of its bytes in the data file
    whole: np.ndarray | None = None  # the matrix, once read whole (float32)
    half: object = None  # or as a float16 torch tensor, for repeated searches

    def _whole_matrix(self) -> np.ndarray | None:
        if self.whole is None and self.half is None and self.searches > 1:
            limit = float(os.environ.get("FUTE_INDEX_MAP_MB", WHOLE_MAP_MB)) * (1 << 20)
            if 0 < 2 * len(self) * self.dim <= limit and self._load_half():
                return None
            if 0 < 4 * len(self) * self.dim <= limit:  # read, not mapped: scans ~2x faster
                fh = self._file()
                fh.seek(0)
                matrix = np.fromfile(fh, dtype="<f4", count=len(self) * self.dim)
                self.whole = matrix.reshape(len(self), self.dim)
        return self.whole

    def _load_half(self) -> bool:
        """Read the file into a float16 torch matrix, block by block; False (and nothing kept)
        when torch is missing or its float16 product fails the self-check."""
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency of fute
            return False
        half = torch.empty((len(self), self.dim), dtype=torch.float16)

        def fill(start: int, rows: np.ndarray) -> None:  # a copy: the mapped block goes away
            half[start : start + len(rows)].copy_(torch.from_numpy(np.array(rows)))

        self._each_block(fill, mapped=True)
        if _half_product_ok(half, self.dim):
            self.half = half
        return self.half is not None

    def __del__(self) -> None:
        if self.handle is not None:
            self.handle.close()

    def _file(self):
        if self.handle is None:
            self.handle = open(self.data, "rb")  # noqa: SIM115 - kept open on purpose
        return self.handle

    def __len__(self) -> int:
        return int(self.ids.size)

    def kind_mask(self, kind: str | None) -> np.ndarray | None:
        return None if kind is None else self.kinds == _KIND_CODE[kind]

    def _each_block(
        self, visit: Callable[[int, np.ndarray], None], queries: int = 1, mapped: bool = False
    ) -> None:
        """Call `visit(first row, rows)` for each block of the matrix (it must keep no view of
        the rows); a file is mapped one block at a time, so the pages of a block leave the
        process's memory when it is done."""
        n = len(self)
        if isinstance(self.data, np.ndarray):
            matrix = self.data
        else:
            matrix = None if mapped else self._whole_matrix()
        if matrix is not None:  # in memory: blocks only bound the m x rows score matrix
            step = max(1, (32 << 20) // max(queries, 1))
            for start in range(0, n, step):
                visit(start, matrix[start : start + step])
            return
        row_bytes = 4 * self.dim
        step = max(1, BLOCK_BYTES // row_bytes)
        fh = self._file()
        for start in range(0, n, step):
            rows = min(step, n - start)
            offset = start * row_bytes
            aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
            mm = mmap.mmap(
                fh.fileno(),
                offset - aligned + rows * row_bytes,
                offset=aligned,
                access=mmap.ACCESS_READ,
            )
            if hasattr(mm, "madvise"):  # fault the block in at once, not page by page
                mm.madvise(mmap.MADV_WILLNEED)
            try:
                visit(start, _view(mm, offset - aligned, rows, self.dim))
            finally:
                mm.close()

    def rows(self, positions: Sequence[int]) -> np.ndarray:
        """The unit rows at `positions` (float32), e.g. a sample for a map."""
        positions = np.asarray(positions, dtype=np.int64)
        if isinstance(self.data, np.ndarray):
            return np.asarray(self.data[positions])
        matrix = np.memmap(self._file(), dtype="<f4", mode="r", shape=(len(self), self.dim))
        order = np.argsort(positions)
        out = np.empty((positions.size, self.dim), dtype=np.float32)
        out[order] = matrix[positions[order]]
        del matrix
        return out

    def search(
        self, queries: np.ndarray, top: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-`top` rows by inner product for each query row (queries: m x dim, unit).

        Returns (positions, scores), both m x k with k = min(top, rows allowed), best first
        (ties: lower position first). `mask` (bool per row) keeps only the rows it marks;
        per-query exclusions are a 2-D mask (m x rows).
        """
        return self.search_groups(queries, {"": (top, mask)})[""]

    def search_groups(
        self, queries: np.ndarray, groups: dict[str, tuple[int, np.ndarray | None]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """`search` for several (top, mask) groups at once (e.g. one per kind): one pass over
        the rows, one matrix product per block, shared by every group."""
        dtype = self.data.dtype if isinstance(self.data, np.ndarray) else np.float32
        queries = np.atleast_2d(np.asarray(queries, dtype=dtype))
        if queries.shape[1] != self.dim:
            raise SpaceMismatchError(
                f"a query of {queries.shape[1]} values cannot be compared with the "
                f"{self.dim}-value vectors of space {self.space_key}"
            )
        m = queries.shape[0]
        self.searches += 1
        if not isinstance(self.data, np.ndarray):
            self._whole_matrix()
            if self.half is not None:
                found = self._search_half(queries, groups)
                if found is not None:
                    return found
        best = {
            name: (np.full((m, 0), -np.inf), np.zeros((m, 0), dtype=np.int64)) for name in groups
        }

        def visit(start: int, block: np.ndarray) -> None:
            scores = (block @ queries.T).T.astype(np.float64)  # m x b
            index = np.broadcast_to(np.arange(start, start + block.shape[0]), scores.shape)
            for name, (top, mask) in groups.items():
                part = scores
                if mask is not None:
                    part = np.where(mask[..., start : start + block.shape[0]], scores, -np.inf)
                s = np.concatenate([best[name][0], part], axis=1)
                i = np.concatenate([best[name][1], index], axis=1)
                if s.shape[1] > top:
                    keep = np.argpartition(-s, top - 1, axis=1)[:, :top]
                    s, i = np.take_along_axis(s, keep, 1), np.take_along_axis(i, keep, 1)
                best[name] = (s, i)

        self._each_block(visit, queries=m)
        out = {}
        for name, (s, i) in best.items():
            order = np.lexsort((i, -s), axis=1)
            s, i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
            allowed = np.isfinite(s).all(axis=0)  # masked rows come last; drop them
            out[name] = (i[:, allowed], s[:, allowed])
        return out

    def _search_half(
        self, queries: np.ndarray, groups: dict[str, tuple[int, np.ndarray | None]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """`search_groups` on the float16 matrix: its scores pick the rows that can be in
        the top-k (within 2 x `half_error_bound` of the k-th), which are re-scored in float32
        from the file. None when near-ties make that shortlist too long to be worth it."""
        import torch

        n = len(self)
        margin = 2 * half_error_bound(self.dim)
        chosen: dict[str, list] = {name: [] for name in groups}
        for qi, q in enumerate(queries):
            approx = torch.mv(self.half, torch.from_numpy(q).to(torch.float16))
            approx = approx.float().numpy().astype(np.float64)
            for name, (top, mask) in groups.items():
                row_mask = mask[qi] if mask is not None and mask.ndim == 2 else mask
                a = approx if row_mask is None else np.where(row_mask, approx, -np.inf)
                k = min(top, int(np.isfinite(a).sum()))
                if k == 0:
                    chosen[name].append((np.zeros(0, np.int64), np.zeros(0)))
                    continue
                kth = np.partition(a, n - k)[n - k]
                candidates = np.flatnonzero(a >= kth - margin)
                if candidates.size > max(HALF_RESCORE_MAX, n // 8):
                    return None  # a float32 pass reads less than this re-scoring would
                exact = (self.rows(candidates) @ q).astype(np.float64)
                order = np.lexsort((candidates, -exact))[:k]
                chosen[name].append((candidates[order], exact[order]))
        out = {}
        for name, per_query in chosen.items():
            k = min(p.size for p, _ in per_query)  # columns every query has, as in float32
            out[name] = (
                np.stack([p[:k] for p, _ in per_query]),
                np.stack([s[:k] for _, s in per_query]),
            )
        return out


def half_error_bound(dim: int) -> float:
    """Largest difference between the float16 product of two unit float32 vectors of `dim`
    values (each rounded to float16, products summed in float32, the sum rounded to float16)
    and their exact inner product: rounding each factor moves a term by at most 2 u16 of its
    size (u16 = 2^-11), summing n terms in float32 at most n u32 (u32 = 2^-24), the result's
    rounding at most u16; the terms' sizes sum to at most 1 (Cauchy-Schwarz). Values below
    float16's normal range lose at most 2^-25 each, a further dim x 2^-25 x 2 at worst."""
    u16, u32 = 2.0**-11, 2.0**-24
    return (2 * u16 + u16 * u16) * (1 + dim * u32) + dim * u32 + u16 + 2 * dim * 2.0**-25


def _half_product_ok(half, dim: int, sample: int = 512) -> bool:
    """Check torch's float16 product against float64 on a sample of rows: an implementation
    that accumulated in float16 would err far beyond `half_error_bound`; then use float32."""
    import torch

    rows = half[torch.linspace(0, half.shape[0] - 1, min(sample, half.shape[0])).long()]
    query = rows[0].clone()
    got = torch.mv(rows, query).double()
    want = rows.double() @ query.double()
    return bool((got - want).abs().max() <= half_error_bound(dim) / 2)


def _view(mm: mmap.mmap, offset: int, rows: int, dim: int) -> np.ndarray:
    return np.frombuffer(mm, dtype="<f4", offset=offset, count=rows * dim).reshape(rows, dim)


def unit_rows(vectors: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float32 unless asked otherwise."""
    m = np.atleast_2d(np.asarray(vectors, dtype=dtype))
    norms = np.linalg.norm(m.astype(np.float64), axis=1, keepdims=True)
    out = np.zeros_like(m)
    np.divide(m, norms.astype(m.dtype), out=out, where=norms > 0)
    return out


def embedding_rows(embeddings: Sequence[TaskEmbedding]) -> np.ndarray:
    """The unit rows of embeddings of one space (zero vectors stay zero); float64 while that
    is cheap, float32 for big collections (n x 10M in float64 would be GBs)."""
    dims = {int(np.asarray(e.vector).size) for e in embeddings}
    if len(dims) > 1:
        raise SpaceMismatchError(
            f"embeddings of one space have different sizes {sorted(dims)}; "
            "the store mixes vectors that are not comparable"
        )
    dtype = np.float64 if len(embeddings) * max(dims) <= 50_000_000 else np.float32
    return unit_rows(
        np.stack([np.asarray(e.vector, dtype=dtype).ravel() for e in embeddings]), dtype
    )


def from_embeddings(embeddings: Sequence[TaskEmbedding]) -> SpaceIndex:
    """An in-memory index of embeddings of one space (row i = embeddings[i]), with the rows
    of `embedding_rows` (the precision `fute.ranking.rank` computes with)."""
    matrix = embedding_rows(embeddings)
    return SpaceIndex(
        space_key=embeddings[0].space_key,
        dim=matrix.shape[1],
        ids=np.arange(len(embeddings), dtype=np.int64),
        kinds=np.array([_KIND_CODE.get(e.kind, 255) for e in embeddings], dtype=np.uint8),
        data=matrix,
    )


# -- the index of a stored space --------------------------------------------------------


def index_folder(store_path: Path) -> Path:
    """`<store>.index` next to the store where its folder can be written, else a folder
    under the cache named by a hash of the store's absolute path."""
    store_path = Path(store_path)
    beside = store_path.with_name(store_path.name + SUFFIX)
    if os.access(beside if beside.is_dir() else store_path.parent, os.W_OK):
        return beside
    from fute.core.paths import cache_subdir

    digest = hashlib.sha256(str(store_path.resolve()).encode()).hexdigest()[:16]
    return cache_subdir("index") / f"{store_path.name}-{digest}"


def _stem(space_key: str) -> str:
    return hashlib.sha256(space_key.encode()).hexdigest()[:20]


def open_index(store, space_key: str, *, folder: Path | None = None) -> SpaceIndex | None:
    """The index of `space_key` in `store`, brought up to date first when missing, stale or
    damaged.

    A stale index of the same store is updated: rows whose (checksum, time) are unchanged
    are copied from it, only new and replaced rows are read from the store. None when the
    store keeps no generation (schema 1 or 2 read as it is) or the index cannot be written
    anywhere: the caller then ranks from the rows. Damaged rows left out are reported
    through the store's `notify` (once per row and store object).
    """
    generation = store.generation()
    if generation is None:
        return None
    folder = Path(folder) if folder is not None else index_folder(store.path)
    meta_path = folder / f"{_stem(space_key)}.json"
    index = _load(meta_path, space_key)
    if index is None or index.generation != tuple(generation):
        previous = index if index is not None and index.generation[0] == generation[0] else None
        try:
            index = build_index(store, space_key, folder, previous=previous)
        except OSError:
            return None  # nowhere to write it (full disk, odd permissions): rank without
    _announce(store, index)
    return index


def _announce(store, index: SpaceIndex) -> None:
    for row in index.skipped:
        store.report_damage(
            DamagedEmbeddingError.of_row(row["id"], row["name"], row["kind"], row["why"])
        )


def _load(meta_path: Path, space_key: str) -> SpaceIndex | None:
    """The index described by `meta_path` if its files are whole (of any generation: the
    caller compares it); None when missing or damaged (then it is rebuilt)."""
    try:
        st = meta_path.stat()
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = _OPEN.get(meta_path)
        if cached is not None and cached[0] == signature:
            index = cached[1]
            whole = Path(index.data).stat().st_size == 4 * len(index) * index.dim
            return index if whole else None
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT or meta.get("space_key") != space_key:
            return None
        generation = (str(meta["uuid"]), int(meta["generation"]))
        data = meta_path.parent / meta["data"]
        n, dim = int(meta["n"]), int(meta["dim"])
        if data.stat().st_size != 4 * n * dim:
            return None
        with np.load(meta_path.parent / meta["rows"], allow_pickle=False) as z:
            ids, kinds, versions, crcs = z["ids"], z["kinds"], z["versions"], z["crcs"]
        if any(a.shape != (n,) for a in (ids, kinds, versions, crcs)):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    skipped = list(meta.get("skipped", []))
    index = SpaceIndex(
        space_key, dim, ids, kinds, data, skipped, generation, versions=versions, crcs=crcs
    )
    index._file()
    _OPEN[meta_path] = (signature, index)
    return index


def _version(checksum: str | None, created: float) -> str:
    """What changes when a row is replaced: its checksum and its time of writing."""
    return f"{checksum}|{created!r}"


def build_index(
    store, space_key: str, folder: Path, previous: SpaceIndex | None = None
) -> SpaceIndex:
    """Write the index of one space from the store's rows (one read snapshot), atomically:
    the data files first under fresh names, then the meta file that names them.

    Rows of `previous` (an older index of this store) whose version is unchanged are copied
    from it in order; the others are read and checked from the store."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(space_key)
    token = secrets.token_hex(4)
    data_name, rows_name = f"{stem}.{token}.f32", f"{stem}.{token}.rows.npz"
    ids, kinds, versions, crcs, skipped = [], [], [], [], []
    dim = previous.dim if previous is not None and len(previous) else None
    kept = {}
    if previous is not None and previous.versions is not None:
        pairs = zip(previous.ids, previous.versions, strict=True)
        kept = {int(i): (p, v) for p, (i, v) in enumerate(pairs)}
    copy: list[tuple[int, RowHead]] = []  # (position in `previous`, row) waiting to be copied

    def flush(fh, snap: StoreSnapshot) -> None:
        """Copy the waiting rows whose bytes still match their crc32; read the others."""
        if not copy:
            return
        block = np.ascontiguousarray(previous.rows([c[0] for c in copy]), dtype="<f4")
        for (pos, row), values in zip(copy, block, strict=True):
            raw = values.tobytes()
            if zlib.crc32(raw) == int(previous.crcs[pos]):
                fh.write(raw)
                crcs.append(int(previous.crcs[pos]))
                add(row)
            else:  # the index file was damaged: the store has the truth
                fresh(fh, snap, row)
        copy.clear()

    def add(row: RowHead) -> None:
        ids.append(row.id)
        kinds.append(_KIND_CODE.get(row.kind, 255))
        versions.append(_version(row.checksum, row.created))

    def fresh(fh, snap: StoreSnapshot, row: RowHead) -> None:
        nonlocal dim
        try:
            e = snap.embedding(row)
        except DamagedEmbeddingError as exc:
            skipped.append({"id": row.id, "name": row.name, "kind": row.kind, "why": _why(exc)})
            return
        v = np.asarray(e.vector).ravel()
        if dim is None:
            dim = v.size
        elif v.size != dim:
            raise SpaceMismatchError(
                f"embeddings of space {space_key} have different sizes "
                f"[{dim}, {v.size}]; the store mixes vectors that are not comparable"
            )
        raw = unit_rows(v).astype("<f4").tobytes()
        fh.write(raw)
        crcs.append(zlib.crc32(raw))
        add(row)

    tmp = folder / f".{data_name}.partial"
    try:
        with open(tmp, "wb") as fh, store.snapshot() as snap:
            generation = snap.generation()
            for row in snap.heads(space_key):
                old = kept.get(row.id)
                if old is not None and old[1] == _version(row.checksum, row.created):
                    copy.append((old[0], row))
                    if len(copy) >= 4096:
                        flush(fh, snap)
                else:
                    flush(fh, snap)
                    fresh(fh, snap, row)
            flush(fh, snap)
        ids_arr = np.array(ids, dtype=np.int64)
        kinds_arr = np.array(kinds, dtype=np.uint8)
        versions_arr = np.array(versions, dtype=str)
        with open(folder / f".{rows_name}.partial", "wb") as fh:
            np.savez(
                fh,
                ids=ids_arr,
                kinds=kinds_arr,
                versions=versions_arr,
                crcs=np.array(crcs, dtype=np.uint32),
            )
        os.replace(tmp, folder / data_name)
        os.replace(folder / f".{rows_name}.partial", folder / rows_name)
        meta = {
            "format": FORMAT,
            "space_key": space_key,
            "uuid": generation[0],
            "generation": generation[1],
            "n": len(ids),
            "dim": int(dim or 0),
            "data": data_name,
            "rows": rows_name,
            "skipped": skipped,
        }
        meta_path = folder / f"{stem}.json"
        part = folder / f".{stem}.json.{token}.partial"
        part.write_text(json.dumps(meta))
        os.replace(part, meta_path)
    finally:
        tmp.unlink(missing_ok=True)
        (folder / f".{rows_name}.partial").unlink(missing_ok=True)
    index = SpaceIndex(
        space_key,
        int(dim or 0),
        ids_arr,
        kinds_arr,
        folder / data_name,
        skipped,
        generation,
        versions=versions_arr,
        crcs=np.array(crcs, dtype=np.uint32),
    )
    index._file()
    _tidy(folder, stem, keep={data_name, rows_name})
    _OPEN.pop(meta_path, None)
    return index


def _why(exc) -> str:
    return exc.row[2] if getattr(exc, "row", None) else str(exc)


def _tidy(folder: Path, stem: str, keep: set[str]) -> None:
    """Remove this space's older data files (a reader still mapping one keeps its copy)."""
    for p in folder.glob(f"{stem}.*"):
        if p.name not in keep and not p.name.endswith(".json"):
            p.unlink(missing_ok=True)


def shortlist(
    index: SpaceIndex,
    query: np.ndarray,
    top: int,
    mask: np.ndarray | None,
    margin: float | None = None,
) -> np.ndarray:
    """Positions of every row that can be in the exact top-`top` of `query`: the float32
    top-k plus every row within `margin` of the k-th score (re-scored by the caller)."""
    if margin is None:
        margin = 2e-4 * max(1.0, float(np.sqrt(index.dim / 4096)))
    q = unit_rows(query)
    extra = top + 16
    while True:
        pos, scores = index.search(q, extra, mask)
        pos, scores = pos[0], scores[0]
        if pos.size <= top:
            return pos
        threshold = scores[top - 1] - margin
        if pos.size < extra or scores[-1] < threshold:
            return pos[scores >= threshold]
        extra *= 4  # many near-ties: look further


def stored_rank_candidates(
    store,
    target: TaskEmbedding,
    top: int,
    kind: str | None,
) -> list[TaskEmbedding] | None:
    """The stored embeddings that can be in `target`'s exact top-`top` (from the index), read
    from the store; None when there is no index to use."""
    index = open_index(store, target.space_key)
    if index is None or len(index) == 0:
        return None
    if index.dim != np.asarray(target.vector).size:
        return None  # the plain ranking says what is wrong
    mask = np.ones(len(index), dtype=bool)
    kmask = index.kind_mask(kind)
    if kmask is not None:
        mask &= kmask
    own = target.meta.get("store_id")
    if own is not None:
        mask &= index.ids != int(own)
    else:  # not read from the store: `rank` drops a row of its kind and name, if stored
        top += 1
    while True:
        pos = shortlist(index, np.asarray(target.vector).ravel(), top, mask)
        wanted = [int(i) for i in index.ids[pos]]
        found = store.load(ids=wanted)  # damaged since the index was built: named, skipped
        if len(found) == len(wanted) or not mask.any():
            return found
        got = {e.meta["store_id"] for e in found}
        mask &= ~np.isin(index.ids, [i for i in wanted if i not in got])
