"""The one answer pipeline the CLI, the UI, the eval and the tests all go through.

question (+ history) -> follow-up resolution -> retrieval -> numbered passages ->
generation (streamed) -> citation parsing -> grounding check -> ``Answer``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .generate import Generator, ModelError, Request, make_generator
from .grounding import MARKER_RE, attribute, check_answer, parse_markers
from .prompting import refusal, render
from .retrieve import QuestionError, Retriever
from .settings import Settings
from .text import excerpt, mostly_english, other_language
from .types import Answer, Citation, Retrieval, Timings

__all__ = ["Assistant", "QuestionError", "Response"]

History = Sequence[tuple[str, "Answer | str"]]
_PRONOUN_RE = re.compile(r"^(那|那么)|他|她|这位|该专家|此人|\b(he|she|his|her)\b", re.IGNORECASE)
LANGUAGE_NOTICE = "the document is in Chinese; answers are given in Chinese or English, so check the cited passages"
# a trailing "资料编号：[1][2]" / "Sources: [1]" line repeats markers and says nothing
_SOURCE_LABEL_RE = re.compile(r"[ \t]*(?:资料编号|资料来源|参考资料|来源|引用|sources?|references?|passages?)"
                              r"\s*(?:为|是)?\s*[:：]?\s*(?:\[\d+\]\s*)+[。.]?\s*$", re.IGNORECASE | re.MULTILINE)
_MORE_RE = re.compile(r"还|其他|另外|别的|else|other", re.IGNORECASE)


def _join(*notices: str) -> str:
    return "；".join(n for n in notices if n)


class Response:
    """One streamed answer: iterate it for text pieces, then ask it for the final ``Answer``
    (like simonw/llm's ``Response``). ``cancel()`` asks the backend to stop generating."""

    def __init__(self, steps: Iterator[str | Answer], cancel: threading.Event) -> None:
        self._steps = steps
        self._cancel = cancel
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for step in self._steps:
            if isinstance(step, Answer):
                self._answer = step
            else:
                yield step

    def answer(self) -> Answer:
        """The final answer (consumes whatever text was not iterated yet)."""
        for _ in self:
            pass
        if self._answer is None:  # pragma: no cover - every path of the pipeline ends with an Answer
            raise RuntimeError("the answer pipeline ended without an answer")
        return self._answer

    def text(self) -> str:
        return self.answer().text

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


class Assistant:
    """Open the index once, load the model once; then ``ask`` or ``stream`` many times."""

    def __init__(self, settings: Settings, generator: Generator | None = None, index: Any = None) -> None:
        self.settings = settings
        self._generator = generator
        self._index = index
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lazy parts
    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                from .embed import make_embedder
                from .ingest import ingest
                from .store import Index

                index = self._index or Index(self.settings, make_embedder(self.settings.embedder))
                if index.manifest is None:  # first use: build the index from seeds/
                    ingest(index)
                self._retriever = Retriever(index, self.settings)
            return self._retriever

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = make_generator(self.settings)
            return self._generator

    @property
    def model_name(self) -> str:
        return self.generator.name

    # ---------------------------------------------------------------- follow-ups
    def resolve(self, question: str, history: History) -> tuple[str, tuple[str, ...], set[str]]:
        """(search query, speakers to route to, chunk ids to avoid) for a question in a chat.

        With an LLM (``settings.condense`` "auto" or "llm") the model rewrites a follow-up as a
        standalone question; with the extractive engine, or when the rewrite is unusable, rules
        carry the previous turn's expert and topic over."""
        if not history:
            return question, (), set()
        query, routed, avoid = self._resolve_by_rules(question, history)
        mode = self.settings.condense
        if mode == "llm" or (mode == "auto" and self.generator.is_llm):
            condensed = self.condense(question, history)
            if condensed:
                return condensed, (), avoid
        return query, routed, avoid

    def condense(self, question: str, history: History) -> str:
        """The LLM's standalone form of a follow-up question, or "" if it gave nothing usable."""
        turns = []
        for q, a in list(history)[-max(1, self.settings.history_turns):]:
            text = a.text if isinstance(a, Answer) else str(a)
            turns.append((q, MARKER_RE.sub("", text)[:300]))
        prompt = render(self.settings.prompts_dir, "condense.j2", turns=turns, question=question)
        request = Request(question, [{"role": "user", "content": prompt}], ())
        try:
            out = "".join(self.generator.stream(request)).strip()
        except ModelError:
            return ""
        out = out.splitlines()[0].strip().strip("\"'“”「」") if out else ""
        out = re.sub(r"^(standalone question|问题|独立问题)\s*[:：]\s*", "", out, flags=re.IGNORECASE)
        if not out or len(out) > 2 * len(question) + 120 or MARKER_RE.search(out):
            return ""
        return out

    def _resolve_by_rules(self, question: str, history: History) -> tuple[str, tuple[str, ...], set[str]]:
        prev_q, prev_a = history[-1]
        r = self.retriever
        mention = r.directory.find(question)
        words = r.tokenizer.words(r.directory.strip_names(question))
        prev_speakers: tuple[str, ...] = ()
        avoid: set[str] = set()
        if isinstance(prev_a, Answer):
            prev_speakers = tuple(dict.fromkeys(c.passage.speaker for c in prev_a.citations))
            avoid = {c.passage.id for c in prev_a.citations}
        prev_mention = r.directory.find(prev_q)
        prev_speakers = prev_mention.speakers or prev_speakers
        if mention.speakers and len(words) < 2:
            # "那王蕴怎么看？": the previous topic, asked of another expert
            topic = r.directory.strip_names(prev_q)
            return f"{' '.join(mention.speakers)} {topic}", mention.speakers, set()
        if not mention.speakers and _PRONOUN_RE.search(question) and prev_speakers:
            # "他还提到了什么？": the same expert; new passages when asking for more
            return question, prev_speakers[:1], avoid if _MORE_RE.search(question) else set()
        return question, (), set()

    # ---------------------------------------------------------------- answering
    def ask(self, question: str, history: History = (), speakers: Sequence[str] = ()) -> Answer:
        return self.stream(question, history, speakers).answer()

    def stream(self, question: str, history: History = (), speakers: Sequence[str] = ()) -> Response:
        """A ``Response``: iterate it for text pieces as they are generated, then call ``answer()``.

        Raises QuestionError (when iterated) for a question that cannot be searched (empty, only symbols).
        """
        cancel = threading.Event()
        return Response(self._steps(question, history, speakers, cancel), cancel)

    def _steps(self, question: str, history: History, speakers: Sequence[str],
               cancel: threading.Event) -> Iterator[str | Answer]:
        t0 = time.perf_counter()
        query, routed, avoid = self.resolve(question, history)
        t_condense = (time.perf_counter() - t0) * 1000
        retrieval = self.retriever.search(query, speakers=tuple(speakers) or routed,
                                          k=self.settings.k + len(avoid))
        if avoid:
            kept = tuple(p for p in retrieval.passages if p.id not in avoid)[: self.settings.k]
            retrieval = Retrieval(retrieval.question, kept, retrieval.confidence, retrieval.speakers,
                                  retrieval.across, retrieval.notice)
        t_retrieval = (time.perf_counter() - t0) * 1000 - t_condense
        generator = self.generator
        if not retrieval.answerable:
            refuse_text = refusal(self.settings.prompts_dir, mostly_english(question))
            yield refuse_text
            yield self._abstain(question, refuse_text, retrieval, generator.name, t_retrieval, t0,
                                t_condense=t_condense)
            return
        # an LLM sees no history: it gets the standalone form of a follow-up
        request = self.request(query if generator.is_llm else question, retrieval, cancel)
        refuse_text = request.refusal
        pieces: list[str] = []
        first = 0.0
        notice = retrieval.notice
        model = generator.name
        try:
            for piece in generator.stream(request):
                if not first:
                    first = (time.perf_counter() - t0) * 1000
                pieces.append(piece)
                yield piece
        except ModelError as e:
            notice = f"{e}; showing the extractive answer instead"
            pieces, model = [self._extractive(request)], "extractive (fallback)"
            yield "\n\n" + pieces[0]
        text = "".join(pieces).strip()
        if refuse_text in text or not text:
            yield self._abstain(question, refuse_text, retrieval, model, t_retrieval, t0, notice,
                                text if generator.is_llm else "", t_condense)
            return
        text = _SOURCE_LABEL_RE.sub("", self._drop_bad_markers(text, len(retrieval.passages))).strip()
        model_text = ""
        experts = self.retriever.directory.experts
        if generator.is_llm and MARKER_RE.search(text):
            repaired = attribute(text, retrieval.passages, experts, require_all=False)
            if repaired and repaired[1]:
                text = repaired[0]
                notice = _join(notice, f"{repaired[1]} sentence(s) the model left uncited were matched to "
                                       "the passage that supports them")
        elif generator.is_llm:
            cited = attribute(text, retrieval.passages, experts)
            if cited:
                notice = "the model gave no citations; each sentence was matched to the passage that supports it"
                text = cited[0]
            else:
                notice = "the model's answer carried no citations and is not backed by the passages; " \
                         "showing the extractive answer instead"
                model_text = text
                text, model = self._extractive(request), f"extractive (fallback from {generator.name})"
        checks = check_answer(text, retrieval.passages, experts)
        markers = sorted({m for c in checks for m in c.markers})
        citations = tuple(Citation(m, retrieval.passages[m - 1]) for m in markers)
        premise = self._premise_notice(question, citations)
        total = (time.perf_counter() - t0) * 1000
        language = LANGUAGE_NOTICE if other_language(question) else ""
        yield Answer(question, text, citations, False, model, tuple(checks), retrieval.passages,
                     Timings(t_retrieval, first or total, total, t_condense),
                     _join(notice, premise, language), model_text)

    # ---------------------------------------------------------------- helpers
    def request(self, question: str, retrieval: Retrieval, cancel: threading.Event | None = None) -> Request:
        """The messages an LLM gets for ``question``: the rules, then each passage's speaker,
        affiliation, title and best sentences (``settings.passage_chars`` characters at most)."""
        english = mostly_english(question)
        refuse_text = refusal(self.settings.prompts_dir, english)
        r = self.retriever
        words = r.tokenizer.words(r.directory.strip_names(retrieval.question))
        weights = {w: r.idf(w) for w in words}
        language = "English" if english else "Chinese (简体中文)"
        system = render(self.settings.prompts_dir, "system.j2", language=language, refusal=refuse_text)
        budget = self.settings.passage_chars
        shown = [(p, excerpt(p.text, weights, budget)) for p in retrieval.passages]
        user = render(self.settings.prompts_dir, "answer.j2", passages=shown, question=question,
                      english=english)
        return Request(question, [{"role": "system", "content": system}, {"role": "user", "content": user}],
                       retrieval.passages, english, {"weights": weights, "across": retrieval.across},
                       refuse_text, cancel or threading.Event())

    @staticmethod
    def _extractive(request: Request) -> str:
        from .extractive import compose
        return compose(request)

    @staticmethod
    def _drop_bad_markers(text: str, n: int) -> str:
        """Remove citation markers that point at no passage."""
        def fix(m: re.Match[str]) -> str:
            _, nums = parse_markers(m.group(0))
            good = [x for x in nums if 1 <= x <= n]
            return "".join(f"[{x}]" for x in good)
        return MARKER_RE.sub(fix, text)

    def _premise_notice(self, question: str, citations: Sequence[Citation]) -> str:
        """Numbers the question states that the cited passages do not contain."""
        from .grounding import _numbers
        if not citations:
            return ""
        cited = "\n".join(c.passage.text for c in citations)
        missing = sorted(_numbers(question) - _numbers(cited))
        if not missing:
            return ""
        return f"提问中的 {', '.join(missing)} 在所引原文中找不到，请以原文为准"

    @staticmethod
    def _abstain(question: str, text: str, retrieval: Retrieval, model: str, t_retrieval: float, t0: float,
                 notice: str = "", model_text: str = "", t_condense: float = 0.0) -> Answer:
        total = (time.perf_counter() - t0) * 1000
        return Answer(question, text, (), True, model, (), retrieval.passages,
                      Timings(t_retrieval, total, total, t_condense), notice or retrieval.notice, model_text)

