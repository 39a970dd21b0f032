"""The Python package against exact search in numpy, and its errors at the boundary."""

import numpy as np
import pytest

import ivfpq


def data(n=3000, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, dim)).astype(np.float32) * 4
    x = centers[rng.integers(0, 20, n)] + rng.normal(size=(n, dim)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def exact(x, q, k):
    d = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="module")
def built():
    x = data()
    return x, ivfpq.Index.build(x, nlist=32, m=8)


def test_search_finds_the_exact_neighbours(built):
    x, index = built
    q = x[:50] + 0.01
    ids, dist = index.search(q, 10, nprobe=32, refine=8)
    assert ids.shape == (50, 10) and ids.dtype == np.uint64
    assert dist.shape == (50, 10) and dist.dtype == np.float32
    want = exact(x, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), want.tolist())])
    assert recall >= 0.95, recall
    assert (np.diff(dist, axis=1) >= 0).all()


def test_saved_shard_answers_the_same(built, tmp_path):
    x, index = built
    path = tmp_path / "s.ivfpq"
    assert index.save(str(path)) > 0
    shard = ivfpq.Shard.open(str(path))
    assert len(shard) == len(x)
    a = index.search(x[:20], 5, nprobe=8, refine=4)
    b = shard.search(x[:20], 5, nprobe=8, refine=4)
    assert (a[0] == b[0]).all() and np.allclose(a[1], b[1])


def test_inputs_that_are_not_c_contiguous_or_f32_are_accepted(built):
    x, index = built
    q = np.asfortranarray(x[:10].astype(np.float64))
    ids, _ = index.search(q, 1, nprobe=32, refine=8)
    assert ids[:, 0].tolist() == list(range(10))
    ids16, _ = index.search(x[:10].astype(np.float16), 1, nprobe=32, refine=8)
    assert ids16.shape == (10, 1)


@pytest.mark.parametrize(
    "queries, k",
    [
        (np.zeros((2, 15), np.float32), 5),  # wrong dimension
        (np.full((1, 16), np.nan, np.float32), 5),  # NaN
        (np.zeros((0, 16), np.float32), 5),  # empty
        (np.zeros((1, 16), np.float32), 0),  # k = 0
        (np.zeros(16, np.float32), 5),  # 1-D
        (np.zeros((1, 16), np.int32), 5),  # integers
    ],
)
def test_bad_queries_are_value_errors(built, queries, k):
    _, index = built
    with pytest.raises(ValueError) as e:
        index.search(queries, k)
    assert isinstance(e.value, ivfpq.IvfpqError)
    assert str(e.value)


def test_missing_file_and_unreachable_store_are_os_errors(tmp_path):
    with pytest.raises(OSError) as e:
        ivfpq.Shard.open(str(tmp_path / "nope.ivfpq"))
    assert isinstance(e.value, ivfpq.IvfpqError) and "nope.ivfpq" in str(e.value)
    opts = {"endpoint": "http://127.0.0.1:9", "allow_http": "true", "region": "us-east-1",
            "access_key_id": "x", "secret_access_key": "x", "timeout": "2s"}
    with pytest.raises(ivfpq.IvfpqError):
        ivfpq.Shard.open("s3://bucket/key.ivfpq", storage_options=opts)


def test_collection_add_delete_upsert_search_with_u64_and_string_ids(built, tmp_path):
    x, index = built
    uri = str(tmp_path / "c")
    c = ivfpq.Collection.create(uri, index)
    c.add(x[:1000], np.arange(1000))
    c.add(x[1000:1100], [f"doc-{i}" for i in range(100)])
    assert len(c) == 1100
    t = c.search(x[1050:1051], 3, nprobe=32, refine=8)
    assert t.column_names == ["query", "id", "_distance", "label"]
    assert t.column("label")[0].as_py() == "doc-50"
    with pytest.raises(ValueError):
        c.add(x[:1], [5])  # id 5 exists
    assert c.delete([5, 6, 123456]) == 2
    assert c.delete(["doc-50"]) == 1
    t = c.search(x[5:6], 3, nprobe=32, refine=8)
    assert 5 not in t.column("id").to_pylist()
    c.upsert(x[2000:2001], [7])
    c.seal()
    c.compact(small_rows=10_000)
    reopened = ivfpq.Collection.open(uri)
    assert len(reopened) == 1100 - 3
    t = reopened.search(x[2000:2001], 1, nprobe=32, refine=8)
    assert t.column("id")[0].as_py() == 7
    ops = [v["operation"] for v in reopened.versions()]
    assert ops[0] == "create" and ops[-1].startswith("seal")
    old = ivfpq.Collection.open(uri, version=2)
    assert len(old) == 1000
    assert reopened.vacuum(0.0, 0.0)
    with pytest.raises(ivfpq.IvfpqError):
        ivfpq.Collection.open(uri, version=2)
