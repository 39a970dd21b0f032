"""ivfpq: IVF-PQ vector search in Rust.

Build an ``Index`` from numpy arrays or Arrow tables, search it, save it as a shard file;
open shard files locally or on object storage (``Shard``); keep many shards of one model
as a versioned ``Collection`` that rows can be added to and deleted from. Build beyond
memory with ``plan``, ``train`` and ``build_bucket`` (one process, or a Ray cluster with
``ivfpq.ray``).

Vectors are 2-D arrays of float32 (float16 and float64 are converted); C-contiguous
float32 arrays are read in place, without a copy. Arrow input is any object with
``__arrow_c_stream__`` (a pyarrow ``Table``, ``RecordBatchReader``; a ``RecordBatch`` too):
the first ``FixedSizeList<float32>`` column holds the vectors and ``id_column`` the ids.
Long calls release the GIL; builds and training stop on Ctrl-C.
"""

from __future__ import annotations

import json
from typing import List, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from . import _ivfpq, embeddings
from ._errors import (EmbeddingError, EmbeddingUnavailableError, InvalidArgumentError,
                      IvfpqError, StorageError, TransientEmbeddingError)

__all__ = [
    "Collection",
    "EmbeddingError",
    "EmbeddingUnavailableError",
    "Index",
    "InvalidArgumentError",
    "IvfpqError",
    "Model",
    "Plan",
    "Shard",
    "StorageError",
    "TransientEmbeddingError",
    "build_bucket",
    "embeddings",
    "merge",
    "plan",
    "simd_level",
    "train",
]

simd_level = _ivfpq.simd_level
Model = _ivfpq.Model
Plan = _ivfpq.Plan

Ids = Union[Sequence[int], Sequence[str], np.ndarray, None]


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
        if a.ndim != 1:
            raise InvalidArgumentError(f"ids: expected a 1-D sequence, got {a.ndim} dimensions")
        if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):
            raise InvalidArgumentError(f"ids: expected integers or str, got {a.dtype}")
        if a.dtype.kind == "i" and a.size and a.min() < 0:
            raise InvalidArgumentError("ids: negative ids are not allowed")
        ids = np.ascontiguousarray(a, dtype=np.uint64)
    if len(ids) != n:
        raise InvalidArgumentError(f"ids: {len(ids)} ids for {n} rows")
    return ids


def _is_raw(x) -> bool:
    """Raw inputs for an embedding function: a list of str or of bytes."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (str, bytes))


def _is_arrow(x) -> bool:
    return hasattr(x, "__arrow_c_stream__") or isinstance(x, pa.RecordBatch)


def _vectors_and_ids(vectors, ids: Ids, id_column: str):
    """Vectors and ids from numpy (``ids`` given) or from an Arrow table's columns."""
    if not _is_arrow(vectors):
        v = _rows(vectors, "vectors")
        return v, (None if ids is None else _ids(ids, len(v)))
    if isinstance(vectors, pa.RecordBatch):
        vectors = pa.Table.from_batches([vectors])
    v, table_ids = _ivfpq.arrow_vectors(vectors, id_column)
    if ids is not None and table_ids is not None:
        raise InvalidArgumentError(f"ids: given twice, as an argument and as column {id_column!r}")
    return v, (table_ids if ids is None else _ids(ids, len(v)))


def _train_args(metric, nlist, m, bits, codes, seed, kmeans_iters=None, opq=None) -> dict:
    return dict(metric=metric, nlist=nlist, m=m, bits=bits, codes=codes, seed=seed,
                kmeans_iters=kmeans_iters, opq=opq)


def _table(stream) -> pa.Table:
    return pa.RecordBatchReader.from_stream(stream).read_all()


class Index:
    """An in-memory IVF-PQ index."""

    def __init__(self, inner):
        self._inner = inner

    @staticmethod
    def build(vectors, ids: Ids = None, *, metric: str = "l2", nlist: Optional[int] = None,
              m: Optional[int] = None, bits: int = 8, codes: str = "pq",
              vectors_storage: str = "f32", seed: int = 42, id_column: str = "id",
              kmeans_iters: Optional[int] = None, opq: Optional[bool] = None) -> "Index":
        """Trains on ``vectors`` (an array, or an Arrow table) and adds them with ``ids``
        (default: the table's ``id_column``, else row numbers). ``nlist`` defaults to
        ``sqrt(n)``, ``m`` to ``dim / 16``; ``opq`` (a learned rotation before PQ) to on
        where it pays."""
        v, ids = _vectors_and_ids(vectors, ids, id_column)
        if ids is None:
            ids = np.arange(len(v), dtype=np.uint64)
        if not isinstance(ids, np.ndarray):
            raise InvalidArgumentError("ids: an Index takes integer ids")
        train = _train_args(metric, nlist, m, bits, codes, seed, kmeans_iters, opq)
        return Index(_ivfpq.Index.build(v, ids, train, vectors_storage))

    def search(self, queries, k: int, *, nprobe: int = 16, refine: int = 1):
        """``(ids, distances)``, each ``(nq, k)``; missing results have the largest uint64
        id and an infinite distance."""
        return self._inner.search(_rows(queries, "queries"), k, nprobe, refine)

    def save(self, path: str) -> int:
        """Writes the index as one shard file; returns its length in bytes."""
        return self._inner.save(str(path))

    @property
    def model(self) -> Model:
        """The trained model (to create a collection, or encode more shards with)."""
        return self._inner.model

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
    """Shards of one trained model at a folder or object-store prefix, with versions; with
    an embedding function, raw inputs (text, bytes) in and raw queries searched."""

    def __init__(self, inner, embedded=None):
        self._inner = inner
        self._embedded = embedded

    @staticmethod
    def create(uri: str, model: Union[Model, Index], storage_options: Optional[dict] = None,
               *, embedding: Optional["embeddings.EmbeddingFunction"] = None,
               embed_options: Optional[dict] = None) -> "Collection":
        """Creates a collection whose shards use ``model`` (or an ``Index``'s model), and
        records ``embedding`` (an ``ivfpq.embeddings.EmbeddingFunction``) when given."""
        if isinstance(model, Index):
            model = model.model
        h = _ivfpq.CollectionHandle.create(str(uri), model, storage_options)
        if embedding is not None:
            h.set_embedding(embedding._record())
        return Collection._attach(h, embedding, embed_options)

    @staticmethod
    def open(uri: str, version: Optional[int] = None, storage_options: Optional[dict] = None,
             *, embedding=None, embed_options: Optional[dict] = None) -> "Collection":
        """Opens the newest version, or ``version``. A collection that records an embedding
        function opens with it: ``embedding``, else the registry's function for the
        record (``ivfpq.embeddings.register``); ``EmbeddingUnavailableError`` names it
        when neither is it. ``embedding=False`` opens for vectors only. ``embed_options``:
        ``max_batch`` (256), ``cache_bytes`` (64 MiB), ``cache_dir`` (none)."""
        h = _ivfpq.CollectionHandle.open(str(uri), version, storage_options)
        return Collection._attach(h, embedding, embed_options)

    @staticmethod
    def _attach(h, embedding, embed_options) -> "Collection":
        record = h.embedding
        if record is None or embedding is False:
            return Collection(h)
        if embedding is not None:
            functions = [embedding]
        else:
            rebuilt = embeddings._from_record(record[0], record[1])
            functions = [] if rebuilt is None else [rebuilt]
        o = dict(embed_options or {})
        unknown = set(o) - {"max_batch", "cache_bytes", "cache_dir"}
        if unknown:
            raise InvalidArgumentError(f"embed_options: unknown {sorted(unknown)}")
        cache_dir = o.get("cache_dir")
        e = h.attach_embedding([f._record() for f in functions], int(o.get("max_batch", 256)),
                               int(o.get("cache_bytes", 64 << 20)),
                               None if cache_dir is None else str(cache_dir))
        return Collection(h, e)

    @property
    def embedding(self) -> Optional[dict]:
        """The recorded embedding function: ``name``, ``config``, ``dim``, ``metric``."""
        r = self._inner.embedding
        if r is None:
            return None
        return dict(name=r[0], config=json.loads(r[1]), dim=r[2], metric=r[3])

    @property
    def embedding_stats(self) -> dict:
        """Calls made to the embedding function, and the vectors and bytes its cache holds."""
        e = self._embedder()
        cached, cache_bytes = e.cache
        return dict(calls=e.calls, cached=cached, cache_bytes=cache_bytes)

    def _embedder(self):
        if self._embedded is None:
            raise InvalidArgumentError(
                "inputs: this collection was opened without an embedding function "
                "(create it with embedding=, or open it with one)")
        return self._embedded

    def add(self, vectors, ids: Ids = None, *, id_column: str = "id") -> int:
        """Adds rows, searchable at once; returns the new version. ``vectors`` is an array
        with ``ids`` (integers or str), an Arrow table with an ``id_column``, or raw inputs
        (a list of str or bytes) for the collection's embedding function."""
        return self._write(vectors, ids, id_column, upsert=False)

    def upsert(self, vectors, ids: Ids = None, *, id_column: str = "id") -> int:
        """Adds rows, replacing the rows of ids that exist; returns the new version."""
        return self._write(vectors, ids, id_column, upsert=True)

    def _write(self, vectors, ids, id_column, upsert):
        if _is_raw(vectors):
            if ids is None:
                raise InvalidArgumentError("ids: none given")
            ids = _ids(ids, len(vectors))
            ids = ids if isinstance(ids, list) else ids.tolist()
            return self._embedder().add(list(vectors), ids, upsert)
        v, ids = _vectors_and_ids(vectors, ids, id_column)
        if ids is None:
            raise InvalidArgumentError(f"ids: none given, and no column {id_column!r}")
        return self._inner.add(v, ids, upsert)

    def delete(self, ids) -> int:
        """Deletes rows by id; returns how many it deleted."""
        if isinstance(ids, (list, tuple)) and ids and isinstance(ids[0], str):
            return self._inner.delete(list(ids))
        return self._inner.delete(_ids(ids, len(ids)).tolist())

    def search(self, queries, k: int, *, nprobe: int = 16, refine: int = 1) -> pa.Table:
        """A ``pyarrow.Table`` of ``query``, ``id``, ``_distance`` (and ``label``).
        ``queries``: vectors, or raw inputs (a str, or a list of str or bytes) that the
        collection's embedding function embeds."""
        if isinstance(queries, (str, bytes)):
            queries = [queries]
        if _is_raw(queries):
            return self._embedder().search(list(queries), k, nprobe, refine)
        return self._inner.search(_rows(queries, "queries"), k, nprobe, refine)

    @property
    def parts(self) -> int:
        """Shards plus growing segments: what ``search_shard`` takes, ``0 ≤ i < parts``."""
        return self._inner.parts

    def search_shard(self, i: int, queries, k: int, *, nprobe: int = 16,
                     refine: int = 1) -> pa.Table:
        """The map step: part ``i`` searched alone, a partial result for ``merge``."""
        return _table(self._inner.search_shard(i, _rows(queries, "queries"), k, nprobe, refine))

    def add_shard_files(self, paths: Sequence[str]) -> int:
        """Copies local shard files built with the collection's model in, in one version."""
        return self._inner.add_shard_files([str(p) for p in paths])

    def stage_shard_file(self, path: str) -> str:
        """Copies a local shard file in, uncommitted; returns its entry for
        ``commit_shards`` (distributed builds stage in workers, commit once)."""
        return self._inner.stage_shard_file(str(path))

    def commit_shards(self, entries: Sequence[str]) -> int:
        """Commits staged shards in one new version; returns it."""
        return self._inner.commit_shards(list(entries))

    def seal(self) -> int:
        """Encodes the growing rows into a shard; returns the version."""
        return self._inner.seal()

    def compact(self, *, deleted_share: float = 0.1, small_rows: int = 100_000,
                target_rows: int = 1_000_000) -> int:
        """Rewrites shards with many deleted rows, merges small ones; returns the version."""
        return self._inner.compact(deleted_share, small_rows, target_rows)

    def vacuum(self, older_than_s: float, grace_s: float = 3600.0) -> List[int]:
        """Removes old versions and unreferenced files; returns the versions removed."""
        return self._inner.vacuum(older_than_s, grace_s)

    def versions(self) -> List[dict]:
        """Every version: dicts of version, timestamp_ms, operation, shards, rows."""
        return self._inner.versions()

    @property
    def version(self) -> int:
        """The pinned version."""
        return self._inner.version

    @property
    def model(self) -> Optional[Model]:
        """The collection's model."""
        return self._inner.model

    def __len__(self) -> int:
        return len(self._inner)


def merge(parts: Sequence[pa.Table]) -> pa.Table:
    """The reduce step: partial results of ``Collection.search_shard`` merged into the
    table ``Collection.search`` returns."""
    return _ivfpq.merge([p if hasattr(p, "__arrow_c_stream__") else pa.table(p) for p in parts])


def plan(inputs: Sequence[str], bucket_rows: int, *, id_column: str = "id") -> Plan:
    """Packs input files into buckets of at most ``bucket_rows`` rows, one shard each."""
    return Plan([str(p) for p in inputs], bucket_rows, id_column)


def train(plan: Plan, *, metric: str = "l2", nlist: Optional[int] = None,
          m: Optional[int] = None, bits: int = 8, codes: str = "pq", seed: int = 42,
          sample: Optional[int] = None, memory_limit: int = 2 << 30,
          kmeans_iters: Optional[int] = None, opq: Optional[bool] = None) -> Model:
    """Trains the plan's model on a seeded sample of its rows (as ``ivfpq train``)."""
    train_args = _train_args(metric, nlist, m, bits, codes, seed, kmeans_iters, opq)
    return _ivfpq.train(plan, train_args, sample, memory_limit)


def build_bucket(plan: Plan, bucket: int, model: Model, output: str, *,
                 memory_limit: int = 2 << 30, vectors_storage: str = "f32",
                 temp_dir: Optional[str] = None) -> dict:
    """Builds one bucket's shard file within ``memory_limit`` bytes (as ``ivfpq build
    --plan``); the same inputs give byte-identical files."""
    return _ivfpq.build_bucket(plan, bucket, model, str(output), memory_limit,
                               vectors_storage, None if temp_dir is None else str(temp_dir))
