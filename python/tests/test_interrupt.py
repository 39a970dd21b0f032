"""Ctrl-C stops a long build: KeyboardInterrupt, and the next call works. The build asked
for would run for many minutes, so only an interrupted one lets the child finish."""

import signal
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import sys, numpy as np, ivfpq
    out = sys.argv[1]
    x = np.random.default_rng(0).normal(size=(100_000, 64)).astype(np.float32)
    print("start", flush=True)
    try:
        # A million k-means iterations over 256 partitions: hours of work.
        ivfpq.Index.build(x, nlist=256, m=16, kmeans_iters=1_000_000).save(out)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    small = ivfpq.Index.build(x[:3000], nlist=8, m=4)  # the stop request was cleared
    print("next", len(small), flush=True)
""")


def test_ctrl_c_interrupts_a_build_cleanly(tmp_path):
    out = tmp_path / "never.ivfpq"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "start"
    try:
        child.wait(timeout=1.5)  # let the build get under way
    except subprocess.TimeoutExpired:
        pass
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr
    assert stdout.split("\n")[:2] == ["interrupted", "next 3000"], stdout
    assert not out.exists()
