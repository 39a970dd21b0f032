"""Shared data and paths of the Python tests."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def clustered(n, dim, seed=0, blobs=20):
    """Rows around ``blobs`` centres: a data set where IVF partitions mean something."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(blobs, dim)).astype(np.float32) * 4
    x = centers[rng.integers(0, blobs, n)] + rng.normal(size=(n, dim)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.fixture(scope="session")
def cli():
    """The `ivfpq` command of this checkout (the test command builds it first), or the
    one `IVFPQ_BIN` names."""
    path = pathlib.Path(os.environ.get("IVFPQ_BIN", ROOT / "target" / "debug" / "ivfpq"))
    if not path.exists():
        if "IVFPQ_BIN" in os.environ:
            pytest.fail(f"IVFPQ_BIN={path} does not exist")
        pytest.skip(f"no ivfpq command at {path}: run cargo build first")
    return str(path)


def input_files(tmp, sizes, dim=24, seed=1):
    """Input .npy files of ``sizes`` rows, and all their rows in order."""
    x = clustered(sum(sizes), dim, seed)
    paths, start = [], 0
    for i, n in enumerate(sizes):
        p = tmp / f"part-{i}.npy"
        np.save(p, x[start:start + n])
        paths.append(str(p))
        start += n
    return paths, x
