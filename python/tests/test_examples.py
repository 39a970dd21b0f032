"""The Python examples run as written (smaller), the S3 one where CI serves S3."""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

EXAMPLES = ROOT / "examples" / "python"


def run(script, *args):
    env = dict(os.environ, EXAMPLE_ROWS="20000")
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_local_collection_example(tmp_path):
    out = run("local_collection.py", str(tmp_path))
    recall = float(re.search(r"recall@10 = ([0-9.]+)", out).group(1))
    assert recall >= 0.8, out


@pytest.mark.skipif("IVFPQ_TEST_S3_ENDPOINT" not in os.environ,
                    reason="IVFPQ_TEST_S3_ENDPOINT names no S3 server (CI starts one)")
def test_ray_s3_example(tmp_path):
    bucket = os.environ.get("IVFPQ_TEST_S3_BUCKET", "ivfpq-test")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    out = run("ray_s3.py", f"s3://{bucket}/example-{os.getpid()}-{tmp_path.name}",
              os.environ["IVFPQ_TEST_S3_ENDPOINT"])
    assert "answers as Collection.search does" in out
