"""The embedding wrapper's cost: `Collection.add` of raw texts through the GloVe function
(batching, the cache, the checks) against embedding the same texts by hand and adding the
vectors. Each run adds fresh texts (a cache hit would make the wrapper free).

    python benches/python/embed_overhead.py [--rows 20000] [--repeat 5] [--max-batch 256]
"""

import argparse
import statistics
import tempfile
import time

import numpy as np

import ivfpq
from ivfpq import embeddings


def texts(n, seed):
    rng = np.random.default_rng(seed)
    words = "the protein binds a kinase domain of membrane receptor signal in cell and fold".split()
    return [" ".join(rng.choice(words, 12)) + f" {seed} {i}" for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-batch", type=int, default=256)
    a = ap.parse_args()
    glove = embeddings.GloVe()
    model = ivfpq.Index.build(glove(texts(5000, 0)), metric="cosine", nlist=64).model
    by_hand, wrapped = [], []
    with tempfile.TemporaryDirectory() as d:
        hand = ivfpq.Collection.create(f"{d}/hand", model)
        raw = ivfpq.Collection.create(f"{d}/raw", model, embedding=glove,
                                      embed_options=dict(max_batch=a.max_batch))
        for r in range(a.repeat):  # alternate, fresh texts each time
            t = texts(a.rows, 100 + 2 * r)
            ids = np.arange(r * a.rows, (r + 1) * a.rows)
            start = time.perf_counter()
            hand.add(glove(t), ids)
            by_hand.append(time.perf_counter() - start)
            t = texts(a.rows, 101 + 2 * r)
            start = time.perf_counter()
            raw.add(t, ids)
            wrapped.append(time.perf_counter() - start)
    h, w = statistics.median(by_hand), statistics.median(wrapped)
    print(f"rows={a.rows} max_batch={a.max_batch} by_hand={a.rows / h:.0f} rows/s wrapped={a.rows / w:.0f} rows/s "
          f"wrapped/by_hand time={w / h:.3f} simd={ivfpq.simd_level()}")


if __name__ == "__main__":
    main()
