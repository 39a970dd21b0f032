"""Splits a dataset folder's base.fvecs into N Arrow IPC files with global ids.

    python scripts/split_arrow.py DATASET_DIR OUT_DIR N [--rows R]

Each output file has an `id` (uint64, the row's number in base.fvecs) and a `vector`
(fixed_size_list<float32>) column, as `ivfpq build --input` reads them. `--rows` keeps only
the first R rows. Needs numpy and pyarrow.
"""
import argparse
import os

import numpy as np
import pyarrow as pa


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dataset")
    p.add_argument("out")
    p.add_argument("n", type=int)
    p.add_argument("--rows", type=int, default=None)
    a = p.parse_args()
    base = read_fvecs(os.path.join(a.dataset, "base.fvecs"))
    if a.rows:
        base = base[: a.rows]
    os.makedirs(a.out, exist_ok=True)
    n, dim = base.shape
    for i in range(a.n):
        lo, hi = i * n // a.n, (i + 1) * n // a.n
        vec = pa.FixedSizeListArray.from_arrays(pa.array(base[lo:hi].reshape(-1)), dim)
        ids = pa.array(np.arange(lo, hi, dtype=np.uint64))
        table = pa.table({"id": ids, "vector": vec})
        with pa.OSFile(os.path.join(a.out, f"part{i:03d}.arrow"), "wb") as f:
            with pa.ipc.new_file(f, table.schema) as w:
                w.write_table(table)
    print(f"wrote {a.n} files of about {n // a.n} rows, dim {dim}, to {a.out}")


if __name__ == "__main__":
    main()
