"""The cost of the Python boundary: `Index.search` from Python against `ivfpq bench
--batch N` on the same dataset and settings (the index is the same: same parameters, same
seed, so the same recall).

    python benches/python/overhead.py /tmp/data/glove50 --nprobe 16 --refine 4 [--m 25]

Prints, per setting, recall, QPS in batches of 1,000 queries, and microseconds a call
for single queries. Compare with

    ivfpq bench --dataset /tmp/data/glove50 --nprobe 16 --refine 4 --batch 1000
    ivfpq bench --dataset /tmp/data/glove50 --nprobe 16 --refine 4 --batch 1
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np

import ivfpq


def fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return np.ascontiguousarray(raw.reshape(-1, dim + 1)[:, 1:].view(np.float32))


def ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16])
    ap.add_argument("--refine", type=int, nargs="+", default=[4])
    ap.add_argument("--m", type=int)
    ap.add_argument("--nlist", type=int)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--singles", type=int, default=2000)
    a = ap.parse_args()
    d = pathlib.Path(a.dataset)
    meta = json.loads((d / "meta.json").read_text())
    base, queries, gt = fvecs(d / "base.fvecs"), fvecs(d / "query.fvecs"), ivecs(d / "gt.ivecs")
    t = time.perf_counter()
    index = ivfpq.Index.build(base, metric=meta["metric"], nlist=a.nlist, m=a.m, bits=a.bits)
    print(f"# built in {time.perf_counter() - t:.1f} s; simd={ivfpq.simd_level()}", file=sys.stderr)
    k = 10
    for nprobe in a.nprobe:
        for refine in a.refine:
            index.search(queries[:50], k, nprobe=nprobe, refine=refine)  # warm
            times, found = [], None
            for _ in range(a.repeat):
                t = time.perf_counter()
                found = np.concatenate([
                    index.search(queries[s:s + 1000], k, nprobe=nprobe, refine=refine)[0]
                    for s in range(0, len(queries), 1000)
                ])
                times.append(time.perf_counter() - t)
            qps = len(queries) / statistics.median(times)
            recall = np.mean([len(set(f) & set(g[:k])) / k for f, g in zip(found.tolist(), gt)])
            singles = []
            for _ in range(a.repeat):
                t = time.perf_counter()
                for i in range(a.singles):
                    index.search(queries[i:i + 1], k, nprobe=nprobe, refine=refine)
                singles.append((time.perf_counter() - t) / a.singles)
            us = 1e6 * statistics.median(singles)
            print(f"python nprobe={nprobe} refine={refine} recall={recall:.4f} "
                  f"qps_batch1000={qps:.0f} us_single={us:.1f} qps_single={1e6 / us:.0f}")


if __name__ == "__main__":
    main()
