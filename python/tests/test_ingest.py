"""The out-of-core steps and Arrow input from Python, against the CLI and exact search."""

import hashlib
import pickle
import subprocess

import numpy as np
import pyarrow as pa
import pytest

import ivfpq
from conftest import clustered, input_files


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_plan_train_build_match_the_cli_byte_for_byte(tmp_path, cli):
    paths, _ = input_files(tmp_path, [1500, 700, 1300])
    plan = ivfpq.plan(paths, 1500)
    assert plan.bucket_rows == [1500, 1300, 700] and plan.rows == 3500 and plan.dim == 24
    model = ivfpq.train(plan, nlist=16, m=6)
    py_shards = []
    for b in range(len(plan)):
        out = tmp_path / f"py-{b}.ivfpq"
        report = ivfpq.build_bucket(plan, b, model, out, memory_limit=64 << 20)
        assert report["rows"] == plan.bucket_rows[b]
        py_shards.append(out)

    run = lambda *a: subprocess.run([cli, *map(str, a)], check=True, capture_output=True)
    run("plan", "--input", *paths, "--bucket-rows", 1500, "--output", tmp_path / "plan.json")
    run("train", "--plan", tmp_path / "plan.json", "--nlist", 16, "--m", 6,
        "--output", tmp_path / "model.ivfm")
    assert ivfpq.Model.load(str(tmp_path / "model.ivfm")).hash == model.hash
    for b in range(len(plan)):
        out = tmp_path / f"cli-{b}.ivfpq"
        run("build", "--plan", tmp_path / "plan.json", "--bucket", b,
            "--model", tmp_path / "model.ivfm", "--memory-limit", "64MiB", "--output", out)
        assert sha(out) == sha(py_shards[b]), f"bucket {b}"


def test_plan_and_model_pickle_and_bad_inputs_are_typed(tmp_path):
    paths, _ = input_files(tmp_path, [600])
    plan = ivfpq.plan(paths, 250)
    assert pickle.loads(pickle.dumps(plan)).to_json() == plan.to_json()
    model = ivfpq.train(plan, nlist=8, m=4)
    assert pickle.loads(pickle.dumps(model)).hash == model.hash
    with pytest.raises(ValueError, match="bucket_rows"):
        ivfpq.plan(paths, 0)
    with pytest.raises(OSError, match="missing.npy"):
        ivfpq.plan([str(tmp_path / "missing.npy")], 10)
    with pytest.raises(ValueError, match="bucket"):
        ivfpq.build_bucket(plan, 9, model, tmp_path / "x.ivfpq")
    with pytest.raises(ValueError, match="memory_limit"):
        ivfpq.build_bucket(plan, 0, model, tmp_path / "x.ivfpq", memory_limit=1000)
    assert not (tmp_path / "x.ivfpq").exists()
    with pytest.raises(ValueError, match="metric"):
        ivfpq.train(plan, metric="hamming")


def vector_table(x, ids):
    return pa.table({"id": ids,
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1])})


def test_arrow_tables_and_batches_build_the_same_index_as_numpy():
    x = clustered(2000, 16)
    ids = np.arange(2000, dtype=np.uint64) * 3
    from_numpy = ivfpq.Index.build(x, ids, nlist=16, m=4)
    table = vector_table(x, pa.array(ids))
    for source in (table, table.to_batches()[0], table.to_reader()):
        index = ivfpq.Index.build(source, nlist=16, m=4)
        a, b = index.search(x[:20], 5, nprobe=4), from_numpy.search(x[:20], 5, nprobe=4)
        assert (a[0] == b[0]).all() and np.array_equal(a[1], b[1])
    # A table in several chunks reads as one.
    chunked = pa.concat_tables([vector_table(x[:700], pa.array(ids[:700])),
                                vector_table(x[700:], pa.array(ids[700:]))])
    a = ivfpq.Index.build(chunked, nlist=16, m=4).search(x[:5], 3, nprobe=4)
    assert (a[0] == from_numpy.search(x[:5], 3, nprobe=4)[0]).all()


def test_arrow_errors_name_the_problem(tmp_path):
    x = clustered(300, 8)
    with pytest.raises(ValueError, match="ids: given twice"):
        ivfpq.Index.build(vector_table(x, pa.array(np.arange(300))), np.arange(300))
    no_vectors = pa.table({"id": pa.array(np.arange(3)), "v": pa.array([1.0, 2.0, 3.0])})
    with pytest.raises(ivfpq.IvfpqError, match="FixedSizeList|vector"):
        ivfpq.Index.build(no_vectors)
    with pytest.raises(ValueError, match="no rows"):
        ivfpq.Index.build(vector_table(x[:0], pa.array([], pa.uint64())))
    negative = vector_table(x, pa.array(-np.arange(300, dtype=np.int64) - 1))
    with pytest.raises(ivfpq.IvfpqError, match="negative|id"):
        ivfpq.Index.build(negative)


def test_collection_adds_arrow_rows_with_string_ids(tmp_path):
    x = clustered(1000, 16)
    c = ivfpq.Collection.create(str(tmp_path / "c"), ivfpq.Index.build(x, nlist=8, m=4))
    labels = pa.array([f"row-{i}" for i in range(1000)])
    c.add(vector_table(x, labels))
    t = c.search(x[10:11], 1, nprobe=8, refine=4)
    assert t.column("label").to_pylist() == ["row-10"]
    with pytest.raises(ValueError, match="ids: none given"):
        c.add(pa.table({"vector": vector_table(x, labels).column("vector")}))


def test_map_and_reduce_equal_the_collections_search(tmp_path):
    x = clustered(3000, 16)
    index = ivfpq.Index.build(x[:1000], nlist=16, m=4)
    c = ivfpq.Collection.create(str(tmp_path / "c"), index)
    for lo in (0, 1000):
        c.add(x[lo:lo + 1000], np.arange(lo, lo + 1000))
        c.seal()
    c.add(x[2000:2100], np.arange(2000, 2100))  # a growing segment
    c.delete(list(range(0, 3000, 7)))
    c = ivfpq.Collection.open(str(tmp_path / "c"))
    assert c.parts == 3
    q = x[::97] + 0.05
    want = c.search(q, 10, nprobe=8, refine=4)
    parts = [c.search_shard(i, q, 10, nprobe=8, refine=4) for i in range(c.parts)]
    got = ivfpq.merge(parts)
    assert got.equals(want)
    assert not set(got.column("id").to_pylist()) & set(range(0, 3000, 7))
    with pytest.raises(ValueError, match="shard"):
        c.search_shard(3, q, 10)
