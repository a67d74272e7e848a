"""Lexical search: jieba tokens (with the domain's terms and the speakers' names) ranked by BM25.

``bm25s`` is used rather than ``rank_bm25``, whose Okapi IDF is zero for a term
found in half the documents and so ranks badly on a corpus of ~100 chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

_WORD_RE = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?%?|[\u3400-\u9fff]+")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    text = resources.files("assistant.resources").joinpath("stopwords.txt").read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if not line.startswith("#") for w in line.split())


@lru_cache(maxsize=1)
def _glossary() -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    text = resources.files("assistant.resources").joinpath("glossary.tsv").read_text(encoding="utf-8")
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        english, chinese = line.split("\t", 1)
        stem = re.escape(english.strip().rstrip("*")).replace(r"\ ", r"[\s-]+")
        tail = r"\w*" if english.strip().endswith("*") else r"s?"
        entries.append((re.compile(rf"\b{stem}{tail}\b", re.IGNORECASE), tuple(chinese.split())))
    return tuple(entries)


def glossary_terms(question: str) -> list[str]:
    """The document's Chinese terms for the English domain terms of a question (resources/glossary.tsv),
    so that BM25 over the Chinese text has something to match in an English question."""
    out: list[str] = []
    for pattern, chinese in _glossary():
        if pattern.search(question):
            out.extend(t for t in chinese if t not in out)
    return out


class Tokenizer:
    """jieba in search mode with a user dictionary; punctuation and stop words dropped."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        with resources.as_file(resources.files("assistant.resources").joinpath("userdict.txt")) as path:
            self._jieba.load_userdict(str(path))
        for w in extra_words:
            if w:
                self._jieba.add_word(w, freq=2000)
        self._stop = stopwords()

    def words(self, text: str) -> list[str]:
        """Precise-mode words (each once, in order), for judging what a question asks about."""
        out: list[str] = []
        for piece in _WORD_RE.findall(text):
            cut = [piece.lower()] if piece.isascii() else self._jieba.lcut(piece, HMM=True)
            out.extend(w for w in cut if w not in self._stop and (len(w) > 1 or w.isdigit()))
        return list(dict.fromkeys(out))

    def tokens(self, text: str) -> list[str]:
        out = []
        for piece in _WORD_RE.findall(text):
            if piece.isascii():
                w = piece.lower()
                if w not in self._stop:
                    out.append(w)
                continue
            for w in self._jieba.cut_for_search(piece, HMM=True):
                if w not in self._stop:
                    out.append(w)
        return out


class BM25Index:
    def __init__(self, texts: Sequence[str], tokenizer: Tokenizer) -> None:
        import bm25s

        self.tokenizer = tokenizer
        self.doc_tokens = [tokenizer.tokens(t) for t in texts]
        self._bm25: Any = bm25s.BM25(method="lucene")
        self._vocab = {w for toks in self.doc_tokens for w in toks}
        self._bm25.index(self.doc_tokens, show_progress=False)

    def scores(self, query_tokens: list[str]) -> list[float]:
        known = [t for t in query_tokens if t in self._vocab]
        if not known:
            return [0.0] * len(self.doc_tokens)
        return [float(s) for s in self._bm25.get_scores(known)]
