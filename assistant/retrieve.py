"""Question -> passages: jieba BM25 and dense Chroma search, fused by weighted reciprocal rank,
routed to the experts a question names, spread across experts when it asks across them,
with a confidence that tells the answer step whether the document answers at all."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .lexical import BM25Index, Tokenizer, glossary_terms
from .settings import Settings
from .speakers import SpeakerDirectory
from .store import Index
from .text import clean_question, has_content, mostly_english
from .types import EDITORIAL_SPEAKER, Chunk, Passage, Retrieval

RRF_K = 60
# a question asking for several items ("哪三个条件", "分别有哪些", "what three elements")
_LIST_QUESTION = re.compile(
    r"哪(些|几|[两二三四五六七八九十]|方面)|几[个种类点方条大项层]|分别|"
    r"\b(what|which)\b.*\b(two|three|four|five|six|several|ways|elements|steps|aspects|conditions)\b",
    re.IGNORECASE)
# ordinal markers that enumerate items in the text, by family
_ORDINALS = (("一是", "二是", "三是", "四是", "五是", "六是", "七是"),
             ("首先", "其次", "再次", "最后"),
             ("第一,", "第二,", "第三,", "第四,", "第五,", "第一，", "第二，", "第三，", "第四，", "第五，"),
             ("一方面", "另一方面"))


class QuestionError(ValueError):
    """A question that cannot be searched; the message says what to ask instead."""


def check_question(question: str, max_chars: int) -> tuple[str, str]:
    """(cleaned question, notice) or QuestionError."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    q = clean_question(question)
    if not q:
        raise QuestionError("the question is empty: ask something about the symposium, "
                            "e.g. 吕薇认为发展新质生产力的本质是什么？")
    if not has_content(q):
        raise QuestionError("the question has no words (only punctuation or symbols): ask it in Chinese or English")
    notice = ""
    if len(q) > max_chars:
        notice = f"the question was {len(q)} characters; only the first {max_chars} were searched"
        q = q[:max_chars]
    return q, notice


class Retriever:
    """Hybrid retrieval over one index. Build once per process; ``search`` is cheap."""

    def __init__(self, index: Index, settings: Settings) -> None:
        self.index = index
        self.settings = settings
        self.chunks: list[Chunk] = index.chunks()
        if not self.chunks:
            raise QuestionError("the index is empty; run `assistant ingest`")
        self.by_id = {c.id: n for n, c in enumerate(self.chunks)}
        self.directory = SpeakerDirectory((c.speaker, c.affiliation) for c in self.chunks)
        self.tokenizer = Tokenizer(extra_words=self.directory.speakers)
        self.bm25 = BM25Index([c.text for c in self.chunks], self.tokenizer)
        self._texts = [c.text.lower().replace(" ", "") for c in self.chunks]
        self._idf_cache: dict[str, float] = {}

    # ---------------------------------------------------------------- search
    def search(self, question: str, k: int | None = None, speakers: Sequence[str] = ()) -> Retrieval:
        k = k or self.settings.k
        if k < 1:
            raise QuestionError(f"k must be at least 1, got {k}")
        q, notice = check_question(question, self.settings.max_question_chars)
        mention = self.directory.find(q)
        allowed = tuple(s for s in speakers if s in self.directory.speakers) or mention.speakers
        query = self.directory.chinese_names(q, mention)
        pool = [n for n, c in enumerate(self.chunks) if not allowed or c.speaker in allowed]

        dense_hits = self.index.dense_search(
            query, self.settings.candidates,
            where={"speaker": {"$in": list(allowed)}} if len(allowed) > 1 else
            ({"speaker": allowed[0]} if allowed else None))
        dense = {self.by_id[i]: s for i, s in dense_hits if i in self.by_id}

        q_tokens = self.tokenizer.tokens(query)
        if mostly_english(q):
            q_tokens += self.tokenizer.tokens(" ".join(glossary_terms(q)))
        lex_all = self.bm25.scores(q_tokens)
        lexical = {n: lex_all[n] for n in pool if lex_all[n] > 0}

        fused: dict[int, float] = {}
        for weight, scores in ((self.settings.dense_weight, dense), (self.settings.lexical_weight, lexical)):
            for rank, n in enumerate(sorted(scores, key=lambda n: -scores[n])[: self.settings.candidates]):
                fused[n] = fused.get(n, 0.0) + weight / (RRF_K + rank + 1)
        ranked = sorted(fused, key=lambda n: -fused[n])
        if mention.across and not allowed:
            ranked = self._spread(ranked, fused, k)
        elif mention.editorial and not allowed:
            ranked = self._prefer(ranked, EDITORIAL_SPEAKER)
        elif _LIST_QUESTION.search(q):
            ranked = self._continue_list(ranked, k)
        top = ranked[:k]
        passages = tuple(Passage(self.chunks[n], fused[n], dense.get(n, 0.0), lex_all[n]) for n in top)
        confidence = self._confidence(q, top, dense, bool(allowed))
        return Retrieval(q, passages, confidence, mention.speakers, mention.across, notice)

    def _spread(self, ranked: list[int], fused: dict[int, float], k: int) -> list[int]:
        """Best passage of each speaker first (in rank order), then the rest by rank."""
        if not ranked:
            return ranked
        floor = fused[ranked[0]] * 0.55
        seen: set[str] = set()
        first: list[int] = []
        for n in ranked:
            sp = self.chunks[n].speaker
            if sp not in seen and fused[n] >= floor and sp != EDITORIAL_SPEAKER:
                seen.add(sp)
                first.append(n)
            if len(first) >= k:
                break
        return first + [n for n in ranked if n not in first]

    def _continue_list(self, ranked: list[int], k: int) -> list[int]:
        """A list question whose best passage starts an enumeration (一是/首先/第一) pulls the
        candidates of the same section that carry its later items (二是/其次/最后) up behind it,
        in rank order, since a 400-character chunk rarely holds a whole list."""
        if not ranked:
            return ranked
        top = self.chunks[ranked[0]]
        for family in _ORDINALS:
            started = [m for m in family if m in top.text]
            if not started:
                continue
            later = family[family.index(started[0]) + 1:]
            rest = [n for n in ranked[1:] if self.chunks[n].section == top.section
                    and any(m in self.chunks[n].text and m not in started for m in later)]
            if rest:
                pulled = rest[: k - 1]
                return [ranked[0], *pulled, *[n for n in ranked[1:] if n not in pulled]]
        return ranked

    def _prefer(self, ranked: list[int], speaker: str) -> list[int]:
        """Move the best passage of ``speaker`` into the top three if it is among the candidates."""
        for pos, n in enumerate(ranked[:15]):
            if self.chunks[n].speaker == speaker:
                if pos > 2:
                    ranked = ranked[:2] + [n] + [m for m in ranked[2:] if m != n]
                break
        return ranked

    def idf(self, word: str) -> float:
        """Inverse document frequency of a word, counting chunks that contain it as a substring."""
        if word not in self._idf_cache:
            df = sum(word in t for t in self._texts)
            self._idf_cache[word] = math.log((len(self._texts) + 1) / (df + 0.5))
        return self._idf_cache[word]

    def coverage(self, words: list[str], texts: list[str]) -> float:
        """IDF-weighted share of ``words`` found in the text of ``texts``."""
        if not words:
            return 0.0
        # a year the question names is an anchor: a passage without it answers another question
        weights = {w: self.idf(w) * (2 if re.fullmatch(r"(19|20)\d\d", w) else 1) for w in words}
        total = sum(weights.values()) or 1.0
        joined = "\n".join(texts)
        return sum(wt for w, wt in weights.items() if w in joined) / total

    def _confidence(self, q: str, top: list[int], dense: dict[int, float], routed: bool) -> float:
        """How likely the document answers the question, in [0, 1].

        Combines the IDF-weighted share of the question's content words found in the
        best passage (for a question naming an expert: in that expert's passages
        together) with the dense similarity of the best passage. English questions
        only have the dense signal.
        """
        if not top:
            return 0.0
        best_dense = max(dense.get(n, 0.0) for n in top)
        words = self.tokenizer.words(self.directory.strip_names(q))
        if mostly_english(q) or not words:
            return calibrated(best_dense, None)
        texts = [self._texts[n] for n in top]
        cov = max(self.coverage(words, [t]) for t in texts)
        if routed:
            cov = max(cov, 0.9 * self.coverage(words, texts))
        return calibrated(best_dense, cov)

    # ---------------------------------------------------------------- LangChain
    def as_langchain(self, k: int | None = None) -> HybridRetriever:
        return HybridRetriever(engine=self, k=k or self.settings.k)


# Thresholds set on the team's gold questions (tests/gold) and the dev questions; see README.
COVERAGE_AT_HALF = 0.45  # Chinese questions: content-word coverage that means "answerable"
DENSE_AT_HALF = 0.76  # English questions: dense similarity that means "answerable"


def calibrated(best_dense: float, coverage: float | None) -> float:
    """Map the signals to [0, 1]; 0.5 is the answer/refuse boundary."""
    raw = 0.5 + 5 * (best_dense - DENSE_AT_HALF) if coverage is None else 0.5 + (coverage - COVERAGE_AT_HALF)
    return round(min(max(raw, 0.0), 1.0), 4)


class HybridRetriever(BaseRetriever):
    """The retriever as a LangChain ``BaseRetriever``: Documents with metadata and scores."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    engine: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        t0 = time.perf_counter()
        result = self.engine.search(query, k=self.k)
        docs = []
        for p in result.passages:
            meta = {**p.chunk.metadata(), "id": p.id, "score": p.score, "dense": p.dense, "lexical": p.lexical,
                    "confidence": result.confidence, "retrieval_ms": (time.perf_counter() - t0) * 1000}
            docs.append(Document(page_content=p.text, metadata=meta, id=p.id))
        return docs
