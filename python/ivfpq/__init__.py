"""ivfpq: IVF-PQ vector search in Rust.

Build an ``Index`` from numpy arrays, search it, save it as a shard file; open shard files
locally or on object storage (``Shard``); keep many shards of one model as a versioned
``Collection`` that rows can be added to and deleted from.

Vectors are 2-D arrays of float32 (float16 and float64 are converted); C-contiguous
float32 arrays are read in place, without a copy.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from . import _ivfpq
from ._errors import InvalidArgumentError, IvfpqError, StorageError

__all__ = [
    "Collection",
    "Index",
    "InvalidArgumentError",
    "IvfpqError",
    "Shard",
    "StorageError",
    "simd_level",
]

simd_level = _ivfpq.simd_level


def _rows(x, what: str) -> np.ndarray:
    """``x`` as a C-contiguous 2-D float32 array (no copy when it already is one)."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise InvalidArgumentError(f"{what}: expected a 2-D array, got {a.ndim} dimensions")
    if a.dtype.kind != "f":
        raise InvalidArgumentError(f"{what}: expected floating point values, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _ids(ids, n: int):
    """u64 ids as a contiguous array, or string ids as a list of str."""
    if isinstance(ids, (list, tuple)) and ids and isinstance(ids[0], str):
        ids = list(ids)
    else:
        a = np.asarray(ids)
        if a.dtype.kind not in "iu":
            raise InvalidArgumentError(f"ids: expected integers or str, got {a.dtype}")
        if a.dtype.kind == "i" and a.size and a.min() < 0:
            raise InvalidArgumentError("ids: negative ids are not allowed")
        ids = np.ascontiguousarray(a, dtype=np.uint64)
    if len(ids) != n:
        raise InvalidArgumentError(f"ids: {len(ids)} ids for {n} rows")
    return ids


class Index:
    """An in-memory IVF-PQ index."""

    def __init__(self, inner):
        self._inner = inner

    @staticmethod
    def build(vectors, ids=None, *, metric: str = "l2", nlist: Optional[int] = None,
              m: Optional[int] = None, bits: int = 8, codes: str = "pq",
              vectors_storage: str = "f32", seed: int = 7) -> "Index":
        """Trains on ``vectors`` and adds them with ``ids`` (row numbers by default)."""
        v = _rows(vectors, "vectors")
        ids = np.arange(len(v), dtype=np.uint64) if ids is None else _ids(ids, len(v))
        if not isinstance(ids, np.ndarray):
            raise InvalidArgumentError("ids: an Index takes integer ids")
        return Index(_ivfpq.Index.build(v, ids, metric, nlist, m, bits, codes, vectors_storage, seed))

    def search(self, queries, k: int, *, nprobe: int = 16, refine: int = 1):
        """``(ids, distances)``, each ``(nq, k)``; missing results have the largest uint64
        id and an infinite distance."""
        return self._inner.search(_rows(queries, "queries"), k, nprobe, refine)

    def save(self, path: str) -> int:
        """Writes the index as one shard file; returns its length in bytes."""
        return self._inner.save(str(path))

    def __len__(self) -> int:
        return len(self._inner)


class Shard:
    """A shard file, local (memory-mapped) or on object storage (ranged reads)."""

    def __init__(self, inner):
        self._inner = inner

    @staticmethod
    def open(path_or_url: str, storage_options: Optional[dict] = None) -> "Shard":
        """Opens a local path or an ``s3://``, ``gs://``, ``az://`` or ``file://`` URL.
        ``storage_options`` are object_store keys (``endpoint``, ``region``, ...)."""
        return Shard(_ivfpq.ShardFile.open(str(path_or_url), storage_options))

    def search(self, queries, k: int, *, nprobe: int = 16, refine: int = 1):
        """As ``Index.search``."""
        return self._inner.search(_rows(queries, "queries"), k, nprobe, refine)

    def __len__(self) -> int:
        return len(self._inner)


class Collection:
    """Shards of one trained model at a folder or object-store prefix, with versions."""

    def __init__(self, inner):
        self._inner = inner

    @staticmethod
    def create(uri: str, index: Index, storage_options: Optional[dict] = None) -> "Collection":
        """Creates a collection whose shards use ``index``'s trained model."""
        return Collection(_ivfpq.CollectionHandle.create(str(uri), index._inner, storage_options))

    @staticmethod
    def open(uri: str, version: Optional[int] = None,
             storage_options: Optional[dict] = None) -> "Collection":
        """Opens the newest version, or ``version``."""
        return Collection(_ivfpq.CollectionHandle.open(str(uri), version, storage_options))

    def add(self, vectors, ids: Union[Sequence[int], Sequence[str], np.ndarray]) -> int:
        """Adds rows (searchable at once); returns the new version."""
        v = _rows(vectors, "vectors")
        return self._inner.add(v, _ids(ids, len(v)))

    def upsert(self, vectors, ids) -> int:
        """Adds rows, replacing the rows of ids that exist; returns the new version."""
        v = _rows(vectors, "vectors")
        return self._inner.upsert(v, _ids(ids, len(v)))

    def delete(self, ids) -> int:
        """Deletes rows by id; returns how many it deleted."""
        if isinstance(ids, (list, tuple)) and ids and isinstance(ids[0], str):
            return self._inner.delete(list(ids))
        return self._inner.delete(np.asarray(ids, dtype=np.uint64).tolist())

    def search(self, queries, k: int, *, nprobe: int = 16, refine: int = 1):
        """A ``pyarrow.Table`` of ``query``, ``id``, ``_distance`` (and ``label``)."""
        return self._inner.search(_rows(queries, "queries"), k, nprobe, refine)

    def seal(self) -> int:
        """Encodes the growing rows into a shard; returns the version."""
        return self._inner.seal()

    def compact(self, *, deleted_share: float = 0.1, small_rows: int = 100_000,
                target_rows: int = 1_000_000) -> int:
        """Rewrites shards with many deleted rows, merges small ones; returns the version."""
        return self._inner.compact(deleted_share, small_rows, target_rows)

    def vacuum(self, older_than_s: float, grace_s: float = 3600.0) -> list:
        """Removes old versions and unreferenced files; returns the versions removed."""
        return self._inner.vacuum(older_than_s, grace_s)

    def versions(self) -> list:
        """Every version: dicts of version, timestamp_ms, operation, shards, rows."""
        return self._inner.versions()

    @property
    def version(self) -> int:
        """The pinned version."""
        return self._inner.version

    def __len__(self) -> int:
        return len(self._inner)
