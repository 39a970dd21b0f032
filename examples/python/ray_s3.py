"""Build a collection on S3 with Ray, one task per bucket, and search it in Ray tasks.

    python examples/python/ray_s3.py s3://bucket/prefix [endpoint]

Credentials and region come from the usual AWS environment variables; an endpoint (for
MinIO or another S3-compatible server) may be given. Input files must be readable from
every Ray node at the same path: here the cluster is local, `ray.init()` on one machine.
"""

import os
import sys
import tempfile

import numpy as np
import ray

import ivfpq
import ivfpq.ray as ivr

uri = sys.argv[1]
storage_options = {"region": os.environ.get("AWS_REGION", "us-east-1")}
if len(sys.argv) > 2:
    storage_options.update(endpoint=sys.argv[2], allow_http="true")
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    if key in os.environ:
        storage_options[key.lower().removeprefix("aws_")] = os.environ[key]

rows, dim = int(os.environ.get("EXAMPLE_ROWS", 100_000)), 64
rng = np.random.default_rng(3)
x = rng.normal(size=(rows, dim)).astype(np.float32)
folder = tempfile.mkdtemp(prefix="ivfpq-ray-example-")
inputs = []
for i, part in enumerate(np.array_split(x, 4)):
    inputs.append(os.path.join(folder, f"part-{i}.npy"))
    np.save(inputs[-1], part)

ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
coll = ivr.build_collection(inputs, uri, bucket_rows=rows // 4, nlist=256,
                            memory_limit=512 << 20, storage_options=storage_options)
print(f"built {len(coll)} rows in {coll.parts} shards at version {coll.version}")

queries = x[:20] + 0.01
with ivr.Searcher(uri, num_actors=2, storage_options=storage_options) as searcher:
    table = searcher.search(queries, k=5, nprobe=32, refine=8)
hits = table.filter(table.column("query").to_numpy() == 0).column("id").to_pylist()
print(f"query 0: {hits}")
assert table.equals(coll.search(queries, k=5, nprobe=32, refine=8))
print("Ray's map-reduce answers as Collection.search does")
ray.shutdown()
