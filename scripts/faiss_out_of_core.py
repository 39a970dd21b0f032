#!/usr/bin/env python3
"""FAISS's out-of-core IVF-PQ recipe, as the peer of `ivfpq plan/train/build`.

  faiss_out_of_core.py DATA_DIR WORK_DIR [--nlist N] [--m M] [--sample S] [--threads T]
                       [--nprobe 16,32] [--refine 1]

DATA_DIR holds f16 `.npy` parts (part-*.npy, as `datasets.py synth-parts` writes them),
`query.fvecs`, `gt.ivecs` and `meta.json`. The recipe follows FAISS's
`demos/demo_ondisk_ivf.py`: train one IndexIVFPQ on a sample, add each part to a copy of
the trained index and write it, then merge the parts' inverted lists into one
OnDiskInvertedLists file. Every stage reports its seconds and the process's peak RSS;
search reports recall@10 against gt.ivecs.
"""
import argparse
import glob
import json
import os
import resource
import time

import numpy as np



def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def normalize(x):
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return x / n


def train_and_add(a, faiss, parts, n, d, nlist, m, cosine, fm, trained, blocks):
    """Trains on a uniform sample read part by part, then adds each part to a copy of the
    trained index and writes it. Returns the two stages' seconds."""
    t = time.perf_counter()
    want = a.sample or min(n, 256 * nlist)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(n, want, replace=False))
    sample, offset = [], 0
    for path in parts:
        x = np.load(path, mmap_mode="r")
        sel = pick[(pick >= offset) & (pick < offset + len(x))] - offset
        sample.append(np.asarray(x[sel], dtype=np.float32))
        offset += len(x)
    xt = np.concatenate(sample)
    del sample
    xt = normalize(xt) if cosine else xt
    coarse = faiss.IndexFlatIP(d) if fm == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
    index = faiss.IndexIVFPQ(coarse, d, nlist, m, 8, fm)
    index.train(xt)
    del xt
    faiss.write_index(index, trained)
    del index
    train_s = time.perf_counter() - t
    print(f"stage=train rows={want} seconds={train_s:.1f} peak_rss_mib={peak_mib():.0f}", flush=True)

    # Add each part to a copy of the trained index, in slices.
    t = time.perf_counter()
    offset = 0
    for i, path in enumerate(parts):
        index = faiss.read_index(trained)
        x = np.load(path, mmap_mode="r")
        for s in range(0, len(x), 100_000):
            xs = np.asarray(x[s:s + 100_000], dtype=np.float32)
            xs = normalize(xs) if cosine else xs
            index.add_with_ids(xs, np.arange(offset + s, offset + s + len(xs), dtype=np.int64))
        offset += len(x)
        faiss.write_index(index, blocks[i])
        del index
    add_s = time.perf_counter() - t
    print(f"stage=add rows={n} seconds={add_s:.1f} peak_rss_mib={peak_mib():.0f}", flush=True)

    return train_s, add_s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("work")
    p.add_argument("--nlist", type=int, default=0)
    p.add_argument("--m", type=int, default=0)
    p.add_argument("--sample", type=int, default=0, help="training rows (default 256 a list)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--nprobe", default="16,32")
    p.add_argument("--merge-only", action="store_true",
                   help="reuse WORK_DIR's trained index and blocks: merge and search only")
    a = p.parse_args()
    import faiss
    faiss.omp_set_num_threads(a.threads)
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    parts = sorted(glob.glob(os.path.join(a.data, "part-*.npy")))
    n, d = meta["n"], meta["dim"]
    nlist = a.nlist or int(np.sqrt(n))
    m = a.m or d // 16
    cosine = meta["metric"] == "cosine"
    fm = faiss.METRIC_INNER_PRODUCT if meta["metric"] != "l2" else faiss.METRIC_L2
    os.makedirs(a.work, exist_ok=True)
    print(f"faiss {faiss.__version__} ({faiss.get_compile_options()}): {n} x {d}, "
          f"nlist {nlist}, PQ{m}x8, {len(parts)} parts", flush=True)

    trained = os.path.join(a.work, "trained.index")
    blocks = [os.path.join(a.work, f"block_{i}.index") for i in range(len(parts))]
    train_s = add_s = 0.0
    if not a.merge_only:
        train_s, add_s = train_and_add(a, faiss, parts, n, d, nlist, m, cosine, fm, trained, blocks)

    # Merge the blocks' lists on disk.
    t = time.perf_counter()
    from faiss.contrib.ondisk import merge_ondisk
    index = faiss.read_index(trained)
    ivfdata = os.path.join(a.work, "merged.ivfdata")
    if os.path.exists(ivfdata):
        os.remove(ivfdata)
    merge_ondisk(index, blocks, ivfdata)
    ntotal = index.ntotal
    faiss.write_index(index, os.path.join(a.work, "populated.index"))
    merge_s = time.perf_counter() - t
    print(f"stage=merge rows={ntotal} seconds={merge_s:.1f} peak_rss_mib={peak_mib():.0f}", flush=True)
    total = train_s + add_s + merge_s
    print(f"total seconds={total:.1f} core_seconds_per_1000={a.threads * total / n * 1000:.3f}", flush=True)

    q = read_vecs(os.path.join(a.data, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(a.data, "gt.ivecs"), np.int32)[:, :10]
    q = normalize(q) if cosine else q
    for nprobe in [int(v) for v in a.nprobe.split(",")]:
        index.nprobe = nprobe
        t = time.perf_counter()
        _, ids = index.search(q, 10)
        qps = len(q) / (time.perf_counter() - t)
        rec = np.mean([len(set(ids[i]) & set(gt[i])) / 10 for i in range(len(q))])
        print(f"engine=faiss-ivfpq-ondisk nprobe={nprobe} refine=1 recall={rec:.4f} qps={qps:.0f}", flush=True)


if __name__ == "__main__":
    main()
