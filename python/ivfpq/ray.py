"""Build and search ivfpq collections on a Ray cluster (``pip install ivfpq[ray]``).

``build_collection`` plans the inputs into buckets on the driver, trains the model once
in one task, builds one shard per bucket in parallel tasks (each with a memory request
and retries), and commits every shard in one manifest version from the driver. A task
stages its shard under a fresh name and returns its manifest entry; only the driver
commits, one entry per bucket, so a failed or retried task leaves at most an orphan file
(removed by ``Collection.vacuum``), never a shard listed twice.

``search`` maps over the parts of a collection version (shards and growing segments) in
tasks, or in long-lived actors that keep the version open and its shards cached
(``Searcher``), and reduces with the library's merge: the table is ``Collection.search``'s.

Input files must be readable at the same paths from every node (a shared file system);
the collection may be a local folder (one machine) or an object-store URL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import List, Optional, Sequence

import pyarrow as pa
import ray

import ivfpq

__all__ = ["Searcher", "build_collection", "search"]


@ray.remote
def _train(plan, train_args: dict, sample, memory_limit):
    return ivfpq.train(plan, sample=sample, memory_limit=memory_limit, **train_args)


@ray.remote
def _build(plan, bucket: int, uri: str, storage_options, memory_limit: int,
           vectors_storage: str, fail_once_marker: Optional[str]) -> str:
    coll = ivfpq.Collection.open(uri, storage_options=storage_options)
    work = tempfile.mkdtemp(prefix=f"ivfpq-bucket-{bucket}-")
    try:
        out = os.path.join(work, "shard.ivfpq")
        ivfpq.build_bucket(plan, bucket, coll.model, out, memory_limit=memory_limit,
                           vectors_storage=vectors_storage, temp_dir=work)
        entry = coll.stage_shard_file(out)
        # Tests make a first attempt die after staging, as a lost worker would.
        if fail_once_marker is not None:
            try:
                os.close(os.open(fail_once_marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                raise OSError(f"bucket {bucket}: injected failure after staging")
        return entry
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_collection(inputs: Sequence[str], uri: str, *, bucket_rows: int,
                     metric: str = "l2", nlist: Optional[int] = None,
                     m: Optional[int] = None, bits: int = 8, codes: str = "pq",
                     seed: int = 42, sample: Optional[int] = None, id_column: str = "id",
                     vectors_storage: str = "f32", memory_limit: int = 2 << 30,
                     storage_options: Optional[dict] = None, append: bool = False,
                     max_retries: int = 3, _fail_once_marker: Optional[str] = None
                     ) -> "ivfpq.Collection":
    """Builds a collection of ``inputs`` (files every node can read) at ``uri``: one shard
    of at most ``bucket_rows`` rows per bucket, committed in one version. The model is
    trained as ``ivfpq.train`` does (``append=True``: the existing collection's model is
    used and the shards are added to it). Each task asks Ray for ``memory_limit`` bytes
    and builds within them; tasks lost or failing with an ``OSError`` are retried
    ``max_retries`` times. Returns the collection at the committed version."""
    plan = ivfpq.plan(inputs, bucket_rows, id_column=id_column)
    plan_ref = ray.put(plan)  # serialized once, for the training task and every build task
    if append:
        coll = ivfpq.Collection.open(uri, storage_options=storage_options)
    else:
        train_args = dict(metric=metric, nlist=nlist, m=m, bits=bits, codes=codes, seed=seed)
        model = ray.get(_train.options(memory=memory_limit, max_retries=max_retries)
                        .remote(plan_ref, train_args, sample, memory_limit))
        coll = ivfpq.Collection.create(uri, model, storage_options)
    build = _build.options(memory=memory_limit, max_retries=max_retries,
                           retry_exceptions=[OSError])
    entries = ray.get([
        build.remote(plan_ref, b, uri, storage_options, memory_limit, vectors_storage,
                     _fail_once_marker)
        for b in range(len(plan))
    ])
    version = coll.commit_shards(entries)
    return ivfpq.Collection.open(uri, version, storage_options)


def _search_parts(coll: "ivfpq.Collection", parts: Sequence[int], queries, k, nprobe,
                  refine) -> List[pa.Table]:
    return [coll.search_shard(i, queries, k, nprobe=nprobe, refine=refine) for i in parts]


@ray.remote
def _search_task(uri, version, storage_options, parts, queries, k, nprobe, refine):
    coll = ivfpq.Collection.open(uri, version, storage_options)
    return _search_parts(coll, parts, queries, k, nprobe, refine)


def _groups(n: int, groups: int) -> List[List[int]]:
    """Parts ``0..n`` dealt round-robin into ``groups`` non-empty lists."""
    return [g for g in (list(range(j, n, groups)) for j in range(groups)) if g]


def _reduce(coll, results, queries, k, nprobe, refine) -> pa.Table:
    parts = [t for r in results for t in r]
    if not parts:  # an empty version: nothing to map over
        return coll.search(queries, k, nprobe=nprobe, refine=refine)
    return ivfpq.merge(parts)


def search(uri: str, queries, k: int, *, nprobe: int = 16, refine: int = 1,
           version: Optional[int] = None, storage_options: Optional[dict] = None,
           parts_per_task: int = 1) -> pa.Table:
    """Searches every part of a collection version in Ray tasks (``parts_per_task`` parts
    each) and merges: the same table as ``Collection.search``."""
    if parts_per_task < 1:
        raise ivfpq.InvalidArgumentError(f"parts_per_task: {parts_per_task} is below 1")
    coll = ivfpq.Collection.open(uri, version, storage_options)
    q = ivfpq._rows(queries, "queries")
    n = coll.parts
    q_ref = ray.put(q)
    results = ray.get([
        _search_task.remote(uri, coll.version, storage_options, g, q_ref, k, nprobe, refine)
        for g in _groups(n, max(1, -(-n // parts_per_task)))
    ])
    return _reduce(coll, results, q, k, nprobe, refine)


@ray.remote
class _PartSearcher:
    """Keeps a collection version open: shards opened once, their reads cached."""

    def __init__(self, uri, version, storage_options):
        self.coll = ivfpq.Collection.open(uri, version, storage_options)

    def search(self, parts, queries, k, nprobe, refine):
        return _search_parts(self.coll, parts, queries, k, nprobe, refine)


class Searcher:
    """Long-lived Ray actors that search one collection version, each keeping its share of
    the parts open and cached across batches: for many batches, or shards on object
    storage. ``close`` (or leaving a ``with`` block) stops them."""

    def __init__(self, uri: str, *, num_actors: int = 2, version: Optional[int] = None,
                 storage_options: Optional[dict] = None, num_cpus: float = 1):
        if num_actors < 1:
            raise ivfpq.InvalidArgumentError(f"num_actors: {num_actors} is below 1")
        self.collection = ivfpq.Collection.open(uri, version, storage_options)
        v = self.collection.version
        self._groups = _groups(self.collection.parts, num_actors)
        self._actors = [_PartSearcher.options(num_cpus=num_cpus).remote(uri, v, storage_options)
                        for _ in self._groups]

    def search(self, queries, k: int, *, nprobe: int = 16, refine: int = 1) -> pa.Table:
        """As ``Collection.search`` on the pinned version."""
        q = ivfpq._rows(queries, "queries")
        q_ref = ray.put(q)
        results = ray.get([a.search.remote(g, q_ref, k, nprobe, refine)
                           for a, g in zip(self._actors, self._groups)])
        return _reduce(self.collection, results, q, k, nprobe, refine)

    def close(self) -> None:
        """Stops the actors."""
        for a in self._actors:
            ray.kill(a)
        self._actors = []

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
