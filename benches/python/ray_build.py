"""`ivfpq.ray.build_collection` against the command line building the same buckets one
after another, on the same input files, with byte-identical shards as the check.

    python benches/python/ray_build.py /tmp/data/s960 --bucket-rows 250000 \
        --ivfpq target/release/ivfpq --num-cpus 2

Times, for each way: the plan, training, every bucket's build and the commit of all
shards in one collection version (the CLI's `collection create` and `collection add`).
"""

import argparse
import glob
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import ray

import ivfpq
import ivfpq.ray as ivr


def digests(folder):
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in pathlib.Path(folder, "shards").glob("*.ivfpq"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", help="a folder of .npy input files (datasets.py synth-parts)")
    ap.add_argument("--bucket-rows", type=int, required=True)
    ap.add_argument("--ivfpq", default="target/release/ivfpq")
    ap.add_argument("--memory-limit", default="2GiB")
    ap.add_argument("--metric", default="cosine")
    ap.add_argument("--num-cpus", type=int, default=os.cpu_count())
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    a = ap.parse_args()
    inputs = sorted(glob.glob(os.path.join(a.parts, "*.npy")))
    work = pathlib.Path(a.work or tempfile.mkdtemp(prefix="ivfpq-ray-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    limit = {"GiB": 1 << 30, "MiB": 1 << 20}[a.memory_limit[-3:]] * int(a.memory_limit[:-3])

    def cli(*args):
        subprocess.run([a.ivfpq, *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    t = time.perf_counter()
    cli("plan", "--input", *inputs, "--bucket-rows", a.bucket_rows, "--output", work / "plan.json")
    cli("train", "--plan", work / "plan.json", "--metric", a.metric, "--output",
        work / "model.ivfpq", "--memory-limit", a.memory_limit)
    trained = time.perf_counter() - t
    buckets = len(ivfpq.Plan.load(str(work / "plan.json")))
    for b in range(buckets):
        cli("build", "--plan", work / "plan.json", "--bucket", b, "--model", work / "model.ivfpq",
            "--output", work / f"s{b}.ivfpq", "--memory-limit", a.memory_limit)
    cli("collection", "create", work / "cli", "--model", work / "model.ivfpq")
    cli("collection", "add", work / "cli", *[work / f"s{b}.ivfpq" for b in range(buckets)])
    cli_s = time.perf_counter() - t
    print(f"cli: {cli_s:.1f} s ({trained:.1f} s plan and train), {buckets} buckets one after another")

    ray.init(num_cpus=a.num_cpus, include_dashboard=False, log_to_driver=False)
    t = time.perf_counter()
    coll = ivr.build_collection(inputs, str(work / "ray"), bucket_rows=a.bucket_rows,
                                metric=a.metric, memory_limit=limit)
    ray_s = time.perf_counter() - t
    ray.shutdown()
    same = digests(work / "ray") == digests(work / "cli")
    print(f"ray: {ray_s:.1f} s on {a.num_cpus} CPUs, {coll.parts} shards, {len(coll)} rows; "
          f"ray / cli = {ray_s / cli_s:.2f}; shards byte-identical: {same}; "
          f"simd={ivfpq.simd_level()}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
