#!/usr/bin/env python3
"""Run shared/bench/peers.py with C-contiguous arrays.

peers.py hands FAISS's IndexRefineFlat a strided view of the mmapped base for the l2 and
dot metrics (only cosine's normalise() copies it), which FAISS rejects. This wrapper
loads the dataset with contiguous arrays and otherwise runs peers.py unchanged.
With PEERS_IVF_NITER=N in the environment, FAISS's IVF indexes train their coarse
k-means for N iterations instead of FAISS's IVF default of 10 (to compare with
`ivfpq --kmeans-iters N`).
Usage: peers_contiguous.py PEERS_DIR <peers.py arguments>
"""
import os
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
import peers  # noqa: E402

_load = peers.load_dataset


def load_contiguous(root):
    meta, base, query, gt = _load(root)
    return meta, np.ascontiguousarray(base), np.ascontiguousarray(query), gt


peers.load_dataset = load_contiguous

NITER = os.environ.get("PEERS_IVF_NITER")
if NITER:
    import faiss

    def with_niter(cls):
        def make(*args):
            index = cls(*args)
            index.cp.niter = int(NITER)
            return index

        return make

    faiss.IndexIVFPQ = with_niter(faiss.IndexIVFPQ)
    faiss.IndexIVFPQFastScan = with_niter(faiss.IndexIVFPQFastScan)
sys.argv = [sys.argv[0]] + sys.argv[2:]
peers.main()
