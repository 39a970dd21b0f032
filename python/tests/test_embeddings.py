"""Embedding functions: batching and the cache, the GloVe function through a collection
reopened from disk and from S3, and bad functions."""

import os
import subprocess

import numpy as np
import pytest

import ivfpq
from ivfpq import embeddings
from conftest import clustered

DIM = 16


def trigrams(texts):
    """Character trigrams hashed into 16 buckets, normalised."""
    out = np.zeros((len(texts), DIM), np.float32)
    for i, t in enumerate(texts):
        t = f"  {t}  "
        for j in range(len(t) - 2):
            out[i, hash(t[j:j + 3]) % DIM] += 1.0  # str hashes are salted per process:
    return out / np.linalg.norm(out, axis=1, keepdims=True)  # fine within one test


class Recording:
    def __init__(self, fn=trigrams):
        self.batches, self.fn = [], fn

    def __call__(self, texts):
        self.batches.append(list(texts))
        return self.fn(texts)


def sentences(n, seed=0):
    rng = np.random.default_rng(seed)
    words = ["protein", "fold", "chain", "helix", "sheet", "binding", "site", "enzyme",
             "membrane", "kinase", "domain", "loop", "ligand", "receptor", "signal", "cell"]
    return [" ".join(rng.choice(words, 6)) + f" {i}" for i in range(n)]


def model_for(vectors, nlist=8, m=4):
    return ivfpq.Index.build(vectors, metric="cosine", nlist=nlist, m=m).model


def test_batches_and_the_cache_spare_the_function(tmp_path, cli):
    texts = sentences(100)
    rec = Recording()
    f = embeddings.function(rec, name="trigrams", dim=DIM)
    model = model_for(trigrams(sentences(400, seed=5)))  # at least 256 rows train PQ
    c = ivfpq.Collection.create(str(tmp_path / "c"), model, embedding=f,
                                embed_options=dict(max_batch=32))
    c.add(texts, np.arange(100))
    assert [len(b) for b in rec.batches] == [32, 32, 32, 4]
    t = c.search(texts[:10], 3, nprobe=8, refine=4)  # already embedded: from the cache
    assert len(rec.batches) == 4
    assert t.column("id").to_pylist()[::3] == list(range(10))
    c.search(texts[:5] + texts[:5], 1)  # repeats within a call: embedded once, cached
    assert len(rec.batches) == 4 and c.embedding_stats["calls"] == 4
    # Texts as their own string ids: results carry the raw input.
    more = sentences(20, seed=9)
    c.add(more, more)
    hit = c.search(more[3], 1, nprobe=8, refine=8)
    assert hit.column("label").to_pylist() == [more[3]]
    shown = subprocess.run([cli, "collection", "inspect", str(tmp_path / "c")], check=True,
                           capture_output=True, text=True).stdout
    assert 'embedding trigrams {}  (16-d cosine' in shown, shown
    # A small cache stays within its bound.
    small = ivfpq.Collection.open(str(tmp_path / "c"), embedding=f,
                                  embed_options=dict(cache_bytes=2000))
    small.search(sentences(50, seed=1), 1)
    stats = small.embedding_stats
    assert 0 < stats["cache_bytes"] <= 2000 and stats["cached"] < 50, stats
    # On disk, the cache outlives the collection handle.
    opts = dict(cache_dir=str(tmp_path / "cache"))
    ivfpq.Collection.open(str(tmp_path / "c"), embedding=f, embed_options=opts).search(texts, 1)
    calls = len(rec.batches)
    again = ivfpq.Collection.open(str(tmp_path / "c"), embedding=f, embed_options=opts)
    again.search(texts, 1)
    assert len(rec.batches) == calls and again.embedding_stats["calls"] == 0


@pytest.fixture(scope="module")
def glove():
    return embeddings.GloVe()


def check_glove_collection(uri, glove, storage_options=None):
    texts = sentences(1500)
    vectors = glove(texts)
    c = ivfpq.Collection.create(uri, model_for(vectors, 16, m=10), storage_options, embedding=glove)
    c.add(texts, np.arange(1500))
    assert c.embedding == dict(name="glove-6b-50d", config={"pooling": "mean"}, dim=50,
                               metric="cosine")
    # Reopened, the registry rebuilds the function from the manifest's record.
    again = ivfpq.Collection.open(uri, storage_options=storage_options)
    q = ["binding site of a kinase domain", texts[7]]
    by_text = again.search(q, 5, nprobe=16, refine=8)
    by_vector = again.search(glove(q), 5, nprobe=16, refine=8)
    assert by_text.equals(by_vector)
    # The seventh sentence's own vector is among its nearest (ties of identical bags).
    assert 7 in by_text.filter(by_text.column("query").to_numpy() == 1).column("id").to_pylist()
    return again


def test_glove_collection_reopened_from_disk_searches_by_text(tmp_path, glove):
    check_glove_collection(str(tmp_path / "g"), glove)


@pytest.mark.skipif("IVFPQ_TEST_S3_ENDPOINT" not in os.environ,
                    reason="IVFPQ_TEST_S3_ENDPOINT names no S3 server (CI starts one)")
def test_glove_collection_reopened_from_s3_searches_by_text(tmp_path, glove):
    opts = {"endpoint": os.environ["IVFPQ_TEST_S3_ENDPOINT"], "allow_http": "true",
            "region": "us-east-1", "access_key_id": "test", "secret_access_key": "test"}
    bucket = os.environ.get("IVFPQ_TEST_S3_BUCKET", "ivfpq-test")
    check_glove_collection(f"s3://{bucket}/glove-{os.getpid()}-{tmp_path.name}", glove, opts)


def test_bad_functions_and_a_missing_one_are_typed_errors(tmp_path):
    texts = sentences(300)
    model = model_for(trigrams(texts))

    def make(name, fn, dim=DIM, **kw):
        f = embeddings.function(fn, name=name, dim=dim)
        return ivfpq.Collection.create(str(tmp_path / name), model, embedding=f, **kw)

    with pytest.raises(ivfpq.EmbeddingError, match="3 values|rows|shape|values for"):
        make("short", lambda t: np.ones((len(t), 3))).add(texts[:2], [1, 2])
    with pytest.raises(ivfpq.EmbeddingError, match="NaN"):
        make("nan", lambda t: np.full((len(t), DIM), np.nan)).add(texts[:2], [1, 2])

    def broken(t):
        raise RuntimeError("the GPU is on fire")

    with pytest.raises(ivfpq.EmbeddingError, match="RuntimeError: the GPU is on fire"):
        make("raises", broken).search(texts[:1], 1)
    with pytest.raises(ValueError, match="dimension|-d vectors"):
        make("wide", trigrams, dim=DIM + 1)
    c = make("ok", trigrams)
    with pytest.raises(ValueError):
        c.add([], [])
    with pytest.raises(ValueError, match="ids"):
        c.add(texts[:3], [1, 2])

    attempts = []

    def flaky(t):
        attempts.append(1)
        if len(attempts) < 3:
            raise ivfpq.TransientEmbeddingError("rate limited")
        return trigrams(t)

    make("flaky", flaky).add(texts[:4], [1, 2, 3, 4])
    assert len(attempts) == 3  # two transient failures, retried

    # A function nobody registered: opening names it; embedding=False opens for vectors.
    with pytest.raises(ivfpq.EmbeddingUnavailableError, match="ok"):
        ivfpq.Collection.open(str(tmp_path / "ok"))
    vectors_only = ivfpq.Collection.open(str(tmp_path / "ok"), embedding=False)
    with pytest.raises(ValueError, match="without an embedding function"):
        vectors_only.search("a text", 1)
    other = embeddings.function(trigrams, name="ok", dim=DIM, config={"v": 2})
    with pytest.raises(ivfpq.EmbeddingUnavailableError):
        ivfpq.Collection.open(str(tmp_path / "ok"), embedding=other)


def test_sentence_transformer_wrapper_records_its_path_and_reopens(tmp_path, monkeypatch):
    """The wrapper against a stand-in `sentence_transformers` module (the real package
    brings torch): it loads from the local path only, embeds through `encode`, and a
    reopened collection rebuilds it from the recorded path."""
    import sys
    import types

    loaded = []

    class Model:
        def __init__(self, path, device, local_files_only):
            assert local_files_only and device == "cpu"
            loaded.append(path)

        def get_sentence_embedding_dimension(self):
            return DIM

        def encode(self, texts, batch_size):
            return trigrams(texts)

    monkeypatch.setitem(sys.modules, "sentence_transformers",
                        types.SimpleNamespace(SentenceTransformer=Model))
    st = embeddings.SentenceTransformer(str(tmp_path / "model"))
    texts = sentences(400)
    c = ivfpq.Collection.create(str(tmp_path / "c"), model_for(trigrams(texts)), embedding=st)
    c.add(texts, np.arange(400))
    assert c.embedding["config"] == {"path": str(tmp_path / "model")}
    again = ivfpq.Collection.open(str(tmp_path / "c"))
    assert loaded == [str(tmp_path / "model")] * 2
    t = again.search(texts[:3], 1, nprobe=8, refine=8)
    assert t.column("id").to_pylist() == [0, 1, 2]
    monkeypatch.delitem(sys.modules, "sentence_transformers")
    monkeypatch.setattr("builtins.__import__", _no_sentence_transformers(__import__))
    with pytest.raises(ImportError, match="sentence-transformers"):
        embeddings.SentenceTransformer(str(tmp_path / "model"))
    with pytest.raises(ivfpq.EmbeddingUnavailableError, match="sentence-transformers"):
        ivfpq.Collection.open(str(tmp_path / "c"))


def _no_sentence_transformers(real_import):
    def fake(name, *args, **kwargs):
        if name == "sentence_transformers":
            raise ImportError("No module named 'sentence_transformers'")
        return real_import(name, *args, **kwargs)
    return fake
