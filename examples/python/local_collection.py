"""Build a collection on local disk from .npy files, change it, and search it.

    python examples/python/local_collection.py [folder]

Makes 200,000 synthetic 64-d vectors in four files, builds one shard per 50,000 rows
within a 256 MiB memory limit each, then adds and deletes rows and searches, checking
recall against exact search.
"""

import os
import sys
import tempfile

import numpy as np

import ivfpq

folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ivfpq-example-")
os.makedirs(folder, exist_ok=True)
rows, dim = int(os.environ.get("EXAMPLE_ROWS", 200_000)), 64
rng = np.random.default_rng(7)
centers = rng.normal(size=(100, dim)).astype(np.float32) * 3
x = (centers[rng.integers(0, 100, rows)] + rng.normal(size=(rows, dim))).astype(np.float32)

# Input files; rows are numbered across them in order (their ids).
inputs = []
for i, part in enumerate(np.array_split(x, 4)):
    inputs.append(os.path.join(folder, f"part-{i}.npy"))
    np.save(inputs[-1], part)

# Plan, train once, build each bucket (each could run on its own machine), commit once.
plan = ivfpq.plan(inputs, bucket_rows=rows // 4)
model = ivfpq.train(plan, metric="l2")
coll = ivfpq.Collection.create(os.path.join(folder, "collection"), model)
shards = []
for b in range(len(plan)):
    shards.append(os.path.join(folder, f"shard-{b}.ivfpq"))
    ivfpq.build_bucket(plan, b, model, shards[-1], memory_limit=256 << 20)
coll.add_shard_files(shards)

# Rows change through new versions: add (searchable at once), delete.
coll.add(x[:10] + 0.001, np.arange(rows, rows + 10))
coll.delete(np.arange(100))

queries = x[rng.integers(0, rows, 100)] + 0.05
table = coll.search(queries, k=10, nprobe=32, refine=8)
print(table.slice(0, 5).to_pydict())

# Recall against exact search over the live rows.
live = np.concatenate([x[100:], x[:10] + 0.001])
live_ids = np.concatenate([np.arange(100, rows), np.arange(rows, rows + 10)])
d = (queries**2).sum(1)[:, None] - 2 * queries @ live.T + (live**2).sum(1)[None, :]
exact = live_ids[np.argsort(d, axis=1)[:, :10]]
found = table.column("id").to_numpy().reshape(len(queries), 10)
recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
print(f"{len(coll)} live rows in {coll.parts} parts at version {coll.version}; "
      f"recall@10 = {recall:.3f} (simd={ivfpq.simd_level()})")
