"""ivfpq.ray on a local Ray cluster: the build against the CLI, search against
Collection.search, and a retried task."""

import hashlib
import pathlib
import subprocess

import numpy as np
import pytest
import ray

import ivfpq
import ivfpq.ray as ivr
from conftest import input_files


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def shard_digests(folder):
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in pathlib.Path(folder, "shards").glob("*.ivfpq"))


def test_build_collection_makes_the_clis_shards_in_one_version(tmp_path, cli):
    paths, x = input_files(tmp_path, [900, 400, 700], dim=16)
    uri = str(tmp_path / "coll")
    coll = ivr.build_collection(paths, uri, bucket_rows=900, nlist=12, m=4,
                                memory_limit=64 << 20)
    assert len(coll) == 2000 and coll.parts == 3
    assert [v["operation"] for v in coll.versions()][-1] == "add 3 shards"
    assert len(coll.versions()) == 2  # create, then every shard at once

    run = lambda *a: subprocess.run([cli, *map(str, a)], check=True, capture_output=True)
    run("plan", "--input", *paths, "--bucket-rows", 900, "--output", tmp_path / "plan.json")
    run("train", "--plan", tmp_path / "plan.json", "--nlist", 12, "--m", 4,
        "--output", tmp_path / "model.ivfm")
    cli_shards = []
    for b in range(3):
        out = tmp_path / f"cli-{b}.ivfpq"
        run("build", "--plan", tmp_path / "plan.json", "--bucket", b,
            "--model", tmp_path / "model.ivfm", "--output", out)
        cli_shards.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert shard_digests(uri) == sorted(cli_shards)

    # Every row finds itself: ids are row numbers across the files, in order.
    t = coll.search(x[::50], 1, nprobe=12, refine=8)
    assert t.column("id").to_pylist() == list(range(0, 2000, 50))


def test_a_retried_task_leaves_each_shard_once(tmp_path):
    paths, _ = input_files(tmp_path, [500, 500, 500], dim=16)
    uri = str(tmp_path / "coll")
    coll = ivr.build_collection(paths, uri, bucket_rows=500, nlist=8, m=4,
                                _fail_once_marker=str(tmp_path / "failed-once"))
    assert (tmp_path / "failed-once").exists()  # one attempt failed after staging
    newest = coll.versions()[-1]
    assert (newest["shards"], newest["rows"], len(coll)) == (3, 1500, 1500)
    # The failed attempt's staged file is an orphan, not in the manifest.
    assert len(list(pathlib.Path(uri, "shards").glob("*.ivfpq"))) == 4
    # Building the same rows again onto it is refused: every id is already there.
    with pytest.raises(ValueError, match="already in the collection"):
        ivr.build_collection(paths, uri, bucket_rows=500, append=True)
    assert len(ivfpq.Collection.open(uri)) == 1500


def test_search_in_tasks_and_actors_equals_collection_search(tmp_path):
    paths, x = input_files(tmp_path, [600, 600, 600, 600], dim=16)
    uri = str(tmp_path / "coll")
    coll = ivr.build_collection(paths, uri, bucket_rows=600, nlist=16, m=4)
    coll.add(x[:50] + 0.01, np.arange(5000, 5050))  # a growing segment
    coll.delete(list(range(0, 2400, 5)))
    coll = ivfpq.Collection.open(uri)
    q = x[::37] + 0.02
    want = coll.search(q, 10, nprobe=8, refine=4)
    for per_task in (1, 2, 5):
        got = ivr.search(uri, q, 10, nprobe=8, refine=4, parts_per_task=per_task)
        assert got.equals(want), per_task
    with ivr.Searcher(uri, num_actors=2) as s:
        for _ in range(2):  # the second batch reads through the actors' open shards
            assert s.search(q, 10, nprobe=8, refine=4).equals(want)
    # A pinned older version answers as that version does.
    old = ivfpq.Collection.open(uri, 2)
    assert ivr.search(uri, q, 10, nprobe=8, refine=4, version=2).equals(
        old.search(q, 10, nprobe=8, refine=4))


def test_bad_arguments_and_an_unreachable_store_raise_before_any_task(tmp_path):
    paths, x = input_files(tmp_path, [300], dim=16)
    with pytest.raises(ValueError, match="bucket_rows"):
        ivr.build_collection(paths, str(tmp_path / "c"), bucket_rows=0)
    with pytest.raises(ValueError, match="parts_per_task"):
        ivr.search(str(tmp_path / "c"), x[:1], 1, parts_per_task=0)
    opts = {"endpoint": "http://127.0.0.1:9", "allow_http": "true", "region": "us-east-1",
            "access_key_id": "x", "secret_access_key": "x", "timeout": "2s"}
    with pytest.raises(OSError):
        ivr.search("s3://nowhere/coll", x[:1], 1, storage_options=opts)
