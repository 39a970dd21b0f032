#!/usr/bin/env python3
"""Run shared/bench/peers.py with C-contiguous arrays.

peers.py hands FAISS's IndexRefineFlat a strided view of the mmapped base for the l2 and
dot metrics (only cosine's normalise() copies it), which FAISS rejects. This wrapper
loads the dataset with contiguous arrays and otherwise runs peers.py unchanged.
Usage: peers_contiguous.py PEERS_DIR <peers.py arguments>
"""
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
import peers  # noqa: E402

_load = peers.load_dataset


def load_contiguous(root):
    meta, base, query, gt = _load(root)
    return meta, np.ascontiguousarray(base), np.ascontiguousarray(query), gt


peers.load_dataset = load_contiguous
sys.argv = [sys.argv[0]] + sys.argv[2:]
peers.main()
