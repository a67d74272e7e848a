"""The one answer pipeline the CLI, the UI, the eval and the tests all go through, as visible stages:

    condense   question + history -> Query            (condense.py: rules, an LLM rewrite when they can't)
    retrieve   Query -> Retrieval                     (retrieve.py: BM25 + character pairs + dense, fused)
    decide     Retrieval -> Decision                  (decide.py: answer | hedge | refuse, with a reason)
    compose    Retrieval -> cited text                (extractive.py, no LLM)
 or generate   Retrieval -> the model's text          (generate.py backends), then post-process it
    check      text -> cited sentences with verdicts  (grounding.py: attribute uncited ones, verify all)

``Assistant.stream`` composes them and returns a ``Response``: iterate it for text, then ``answer()``.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from . import condense as condense_stage
from . import notices, postprocess
from .bylines import heading, quote
from .chunk import chinese_numeral
from .claims import number_mentions
from .decide import HEDGE, REFUSE, Decision, route
from .generate import Generator, ModelError, Request, make_generator
from .grounding import MARKER_RE, SUPPORTED, check_sentence, numbers
from .prompting import refusal, render
from .retrieve import QuestionError, Retriever
from .settings import Settings
from .speakers import english_name
from .text import GAP, clean_question, compact, excerpts, mostly_english, other_language, sentence_spans
from .types import BYLINES_ENGINE, EDITORIAL_SPEAKER, Answer, Citation, Passage, Retrieval, SentenceCheck, Timings

__all__ = ["Assistant", "QuestionError", "Response"]

History = condense_stage.History
Query = condense_stage.Query
LANGUAGE_NOTICE = notices.LANGUAGE()
# a model saying in its own words that the passages do not answer
_OWN_REFUSAL = re.compile(r"(没有|未|并未|无)(提到|提及|涉及|谈到|相关|给出|说明)|无法(回答|确定|从)|不能(回答|确定)|"
                          r"(does not|do not|doesn't|don't|did not) (mention|say|answer|discuss|address|provide)|"
                          r"no (information|mention)|not (mentioned|covered|addressed)", re.IGNORECASE)
HEDGE_LEAD = {False: "文档中未必有直接的回答，最接近的内容是：", True:
              "The document may not answer this directly; the closest passages say:"}
FIGURE_NEAR = 0.7  # sentences matching a question at least this share of the best one's score are read for a figure
_LIST_QUESTION = re.compile(
    r"哪(些|几|[两二三四五六七八九十]|方面)|几[个种类点方条大项层部]|分别|有什么|列举|"
    r"\b(what|which)\b.*\b(two|three|four|five|six|several|ways|elements|steps|aspects|conditions|areas|"
    r"measures|tasks|points|factors)\b|\blist\b", re.IGNORECASE)



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

    def close(self) -> None:
        """Cancel and let go of the backend now (its generator's clean-up runs) when nobody will read on."""
        self._cancel.set()
        close = getattr(self._steps, "close", None)
        if close is not None:
            close()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


def _speaker_of(speech: Hashable) -> Hashable:
    """The speaker of a (speaker, affiliation, title) speech key."""
    return speech[0] if isinstance(speech, tuple) else speech


# a speaker's byline as a passage: its words (affiliation, title) are in the system message's list of speakers
BYLINE_SHOWN = "（署名与发言题目，见上面的发言人列表）"


def _excerpts(passages: Sequence[Passage], score: Callable[[str], float], budget: int, said: str = "",
              compared: Sequence[str] = ()) -> list[str]:
    """What an LLM is shown of each passage (``text.excerpts``), but for the list of speakers the index
    made of the bylines ("overview"): the system message lists every speaker with affiliation and title, in
    order, for every question (its KV state is kept), so with a budget the list shows only its first
    sentence (how many, in what order), counted in the budget, and the ~540 characters of the rest go to the
    passages' sentences; a first sentence already in ``said`` (a conversation's earlier turns) gives "".
    Two or more ``compared`` speakers (the question names them) share the budget in turns."""
    heads = {}
    for p in passages:
        if p.chunk.kind == "overview" and budget > 0:
            first = (sentence_spans(p.text) or [(0, len(p.text))])[0]
            head = p.text[slice(*first)]
            heads[p.id] = "" if said and compact(head) in said else head + (GAP if p.text[first[1]:].strip() else "")
        elif p.chunk.kind == "profile" and budget > 0:  # shown already (as the pointer, or whole): ""
            shown = said and (compact(f"{p.speaker}:{BYLINE_SHOWN}") in said or compact(p.text) in said)
            heads[p.id] = "" if shown else BYLINE_SHOWN
    used = sum(len(h) for h in heads.values())
    texts = iter(excerpts([(p.text, (p.speaker, p.chunk.affiliation, p.chunk.title))
                           for p in passages if p.id not in heads], score, budget and max(budget - used, 1), said,
                          by=_speaker_of if len(compared) > 1 else None))
    return [heads[p.id] if p.id in heads else next(texts) for p in passages]


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
                shown = sys.stderr.isatty()
                if index.manifest is None:  # first use: build the index from seeds/
                    if shown:
                        print(f"building the index in {self.settings.index_dir} (first use, about a minute)…",
                              file=sys.stderr)
                    ingest(index, progress=shown)
                elif self._index is None and index.embedded:
                    self._refresh(index, shown)
                self._retriever = Retriever(index, self.settings)
            return self._retriever

    def _refresh(self, index: Any, shown: bool) -> None:
        """A version that parses or chunks a document differently (a parser fix, an edited file): the
        index is brought up to date, reusing the vectors of every unchanged chunk (seconds). Anything in
        the way (read-only storage, another ingest holding the index, a file that no longer parses) leaves
        the build as it is: the questions are answered from it, with a line saying so."""
        from .ingest import ingest, stale_documents
        from .storage import one_line

        try:
            stale = stale_documents(index)
            if not stale:
                return
            if shown:
                print(f"updating the index in {self.settings.index_dir}: this version reads "
                      f"{', '.join(p.name for p in stale)} differently…", file=sys.stderr)
            ingest(index, stale)
        except Exception as e:  # the old build still answers
            print(f"the index in {self.settings.index_dir} could not be brought up to date ({one_line(e)}); "
                  "answering from it as it is; `assistant ingest` updates it", file=sys.stderr)

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = make_generator(self.settings)
            return self._generator

    @property
    def model_name(self) -> str:
        return self.generator.name

    # ---------------------------------------------------------------- stage 1: condense
    def _read(self, question: str, history: History | None) -> tuple[str, History]:
        """The question and the chat's earlier questions in the documents' characters (a question typed in
        traditional characters over a simplified record, or the other way round), so the follow-up rules,
        the search, the answer's rules and an LLM's prompt all read the same words. Only what the search can
        keep is converted (the converter's time grows with the text)."""
        cap = 4 * self.settings.max_question_chars
        read = self.retriever.read

        def one(q: Any) -> Any:
            if not isinstance(q, str):
                return q  # not text: the search's error to report
            q = clean_question(q)
            return read(q[:cap]) + q[cap:]

        return one(question), [(one(q), a) for q, a in (history or ())]

    def condense(self, question: str, history: History) -> Query:
        """The standalone query for a chat turn (see condense.py)."""
        return self._condense(*self._read(question, history))

    def _condense(self, question: str, history: History) -> Query:
        """``condense`` of a question and history already in the documents' characters (``_read``)."""
        if not history:
            return Query(question)
        r = self.retriever
        ruled = condense_stage.by_rules(question, history, lambda t: r.directory.find(t).speakers,
                                        r.directory.strip_names, r.tokenizer.words)
        mode = self.settings.condense
        wants_llm = mode == "llm" or (mode == "auto" and self.generator.is_llm and ruled is None
                                      and condense_stage.looks_like_follow_up(question))
        prev = self.conversation(history, question) if wants_llm and mode == "auto" else None
        if prev is not None:
            # the model will read the conversation itself (it is continued): no rewrite, whose own prompt would
            # also push the conversation out of the backend's cache; search this question with the last turn's
            # topic, among the last turn's experts unless it names others
            named = r.directory.find(question).speakers
            topic = prev.interpreted or list(history)[-1][0]
            cited = tuple(dict.fromkeys(c.passage.speaker for c in prev.citations))
            return Query(question if named else f"{topic} {question}", named or cited, frozenset(), "", "context")
        if wants_llm and mode != "rules":
            rewritten = self._rewrite(question, history)
            if rewritten:
                return Query(rewritten, (), ruled.avoid if ruled else frozenset(), rewritten, "llm")
        return ruled or Query(question)

    def resolve(self, question: str, history: History) -> tuple[str, tuple[str, ...], set[str]]:
        """(search query, speakers to route to, chunk ids to avoid): ``condense`` as a tuple."""
        q = self.condense(question, history)
        return q.text, q.speakers, set(q.avoid)

    def _rewrite(self, question: str, history: History) -> str:
        prompt = render(self.settings.prompts_dir, "condense.j2",
                        turns=condense_stage.llm_prompt_turns(history, self.settings.history_turns),
                        question=question)
        request = Request(question, [{"role": "user", "content": prompt}], (), max_new_tokens=48)
        try:
            return condense_stage.clean_rewrite("".join(self.generator.stream(request)), question)
        except ModelError:
            return ""

    # ---------------------------------------------------------------- stage 2 and 3: retrieve, decide
    def retrieve(self, query: Query, speakers: Sequence[str] = ()) -> Retrieval:
        retrieval = self.retriever.search(query.text, speakers=tuple(speakers) or query.speakers,
                                          k=self.settings.k + len(query.avoid))
        if query.avoid:
            kept = tuple(p for p in retrieval.passages if p.id not in query.avoid)[: self.settings.k]
            retrieval = replace(retrieval, passages=kept or retrieval.passages[: self.settings.k])
        return retrieval

    def decide(self, retrieval: Retrieval, speakers: Sequence[str] = ()) -> Decision:
        r = self.retriever
        decision = route(retrieval, self.settings, r.missing_words(retrieval), r.unknown_people(retrieval),
                         r.directory.experts, r.later_years(retrieval), r.document_year, self._lacks(retrieval),
                         r.unsaid(retrieval))
        if speakers and decision.outcome == REFUSE and not decision.later:
            who = "、".join(speakers)
            return replace(decision, reason=f"{decision.reason}; only {who}'s statement was searched (the expert "
                                            "filter is on)")
        return decision

    def _lacks(self, retrieval: Retrieval) -> str:
        """"number", "date", "place", "organisation" or "person" when a Chinese question asks for one (多少, 哪一年,
        哪个城市, 哪家企业, 最早是谁提出的; 多少个 asks for a number counted in 个) and none of the retrieved
        sentences that match the question's words at least ``FIGURE_NEAR`` as well as the best one gives any:
        the document does not give it. A list's count (哪几条) is not asked for this way."""
        asked = None if retrieval.signals.english else self.retriever.asks_figure(retrieval.question)
        if asked is None:
            return ""
        kind, has = asked
        words = self.scorer(retrieval.question, wanting=False)  # whether a sentence has the figure is judged here
        # an expert's byline names where the expert works: it gives an organisation when it matches the question
        # as well as the statements do (王蕴是哪个单位的), not whenever the expert is named
        byline = kind == "organisation"
        scored = [(words(s), s, p.chunk.affiliation if p.chunk.kind == "profile" else "") for p in retrieval.passages
                  if p.chunk.kind == "text" or (byline and p.chunk.kind == "profile")
                  for s in (p.text[a:b] for a, b in sentence_spans(p.text))]
        best = max((v for v, _, _ in scored), default=0.0)
        if best <= 0 or any(has.search(s) or (aff and aff not in retrieval.question)
                            for v, s, aff in scored if v >= FIGURE_NEAR * best):
            return ""
        return kind

    # ---------------------------------------------------------------- the whole pipeline
    def ask(self, question: str, history: History = (), speakers: Sequence[str] = ()) -> Answer:
        return self.stream(question, history, speakers).answer()

    def as_runnable(self) -> Any:
        """The whole pipeline as a LangChain ``Runnable``: ``invoke("问题")`` gives ``Answer.to_json()``
        (citations, sentence verdicts, decision, confidence); see ``assistant/runnable.py``."""
        from .runnable import AssistantRunnable

        return AssistantRunnable(self)

    def stream(self, question: str, history: History = (), speakers: Sequence[str] = ()) -> Response:
        """A ``Response``: iterate it for text pieces as they are produced, then call ``answer()``.

        Raises QuestionError (when iterated) for a question that cannot be searched (empty, only symbols).
        """
        cancel = threading.Event()
        return Response(self._steps(question, history, speakers, cancel), cancel)

    def _steps(self, question: str, history: History, speakers: Sequence[str],
               cancel: threading.Event) -> Iterator[str | Answer]:
        t0 = time.perf_counter()
        typed = question
        question, history = self._read(question, history)  # the first question also opens the index here
        t_read = time.perf_counter()
        query = self._condense(question, history)
        t_condense = (time.perf_counter() - t_read) * 1000  # only a follow-up's rewrite: shown as such
        retrieval = self.retrieve(query, speakers)
        decision = self.decide(retrieval, speakers)
        t_retrieval = (time.perf_counter() - t0) * 1000 - t_condense
        english = mostly_english(question)
        generator = self.generator
        notice = notices.join(retrieval.notice, LANGUAGE_NOTICE if other_language(question) else "")
        interpreted = query.interpreted if query.interpreted and query.interpreted != question else ""
        if not interpreted and isinstance(typed, str) and question != clean_question(typed):
            interpreted = retrieval.question  # read in the documents' characters: what was searched

        def finish(text: str, checks: Sequence[SentenceCheck], model: str, decided: Decision, first: float,
                   notes: str = "", model_text: str = "", messages: Sequence[dict[str, str]] = ()) -> Answer:
            markers = sorted({m for c in checks for m in c.markers})
            citations = tuple(Citation(m, retrieval.passages[m - 1]) for m in markers)
            total = (time.perf_counter() - t0) * 1000
            premise = self._premise_notice(question, citations, self._byline_facts(retrieval))
            refused = decided.outcome == REFUSE
            return Answer(typed, text, () if refused else citations, refused, model, tuple(checks),
                          retrieval.passages, Timings(t_retrieval, first or total, total, t_condense),
                          notices.join(notice, notes, premise), model_text, decided.outcome, decided.confidence,
                          decided.reason, interpreted, tuple(messages))

        if decision.outcome == REFUSE:
            if decision.unsaid is not None:  # the passages shown are where the others speak of it
                retrieval = replace(self.retrieve(query, decision.unsaid.said_by), speakers=retrieval.speakers)
            text = self._refusal_text(english, decision)
            yield text
            yield finish(text, (), generator.name, decision, 0.0)
            return
        lead = HEDGE_LEAD[english] + "\n" if decision.outcome == HEDGE else ""
        if lead:
            yield lead
        if not generator.is_llm or retrieval.about_speakers is not None:
            # a question about the speakers themselves is answered from their bylines, quoted, with any engine:
            # a model can only restate them (and does not know their order), at the cost of a prompt
            parts = self._compose(retrieval.question, retrieval, english)
            first = (time.perf_counter() - t0) * 1000
            for n, part in enumerate(parts):
                yield part if n == 0 else "\n" + part
            body = "\n".join(parts)
            checks = self.check(body, retrieval)
            model = generator.name if not generator.is_llm else BYLINES_ENGINE
            yield finish(lead + body, checks, model, decision, first)
            return
        # a follow-up continues the conversation when the backend keeps it (only the new turn is evaluated);
        # otherwise the LLM gets the standalone form of the question. Either way it gets the question's Chinese
        # reading when it was typed in pinyin
        reading = f"（读作：{retrieval.question}）" if retrieval.read_as_chinese else ""
        prev = self.conversation(history, question) if query.how != "llm" else None
        continued = self.continued(question + reading, retrieval, prev, cancel) if prev is not None else None
        if continued is not None:
            request, retrieval = continued
        else:
            request = self.request(query.text + reading, retrieval, cancel)
        pieces: list[str] = []
        first = 0.0
        model = generator.name
        notes = ""
        try:
            for piece in generator.stream(request):
                if not first:
                    first = (time.perf_counter() - t0) * 1000
                pieces.append(piece)
                yield piece
        except ModelError as e:
            notes = notices.MODEL_FAILED(error=e)
            fallback = "\n".join(self._compose(retrieval.question, retrieval, english))
            pieces, model = [fallback], f"extractive (fallback from {generator.name})"
            yield "\n\n" + fallback
        raw = "".join(pieces).strip()
        if not MARKER_RE.search(raw) and (request.refusal in raw or _OWN_REFUSAL.search(raw)) or not raw:
            refused = Decision(REFUSE, decision.confidence, "the model found no answer in the passages"
                               if raw else "the model gave an empty answer")
            text = self._refusal_text(english, refused)
            yield finish(text, (), model, refused, first, notes, raw)
            return
        text, more_notes, model, _ = self._post_process(raw, retrieval, request, model, english)
        checks = self.check(text, retrieval)
        # the model's raw reply is kept with every LLM answer: to inspect a repair or a fallback, and so that
        # `eval --save-answers` records real replies the post-processing tests replay
        # the conversation a follow-up may continue: not one the reader stopped, nor a reply cut at the limit
        kept = () if cancel.is_set() or notices.TRIMMED() in more_notes else request.messages
        yield finish(lead + text, checks, model, decision, first, notices.join(notes, more_notes), raw, kept)

    # ---------------------------------------------------------------- stage 4a: compose (extractive)
    def scorer(self, question: str, wanting: bool = True) -> Callable[[str], float]:
        """How well a piece of text answers ``question``: the specificity-weighted share of the question's
        words it holds (partial credit for a word's parts); with ``wanting``, halved for a text without the
        number, time or place the question asks for."""
        r = self.retriever
        words = r.question_words(question)
        weights = r.weights(words)
        total = sum(weights.values()) or 1.0
        wants = r.wants(question) if wanting else None

        def score(s: str) -> float:
            base = sum(wt * r.found(w, s.lower()) for w, wt in weights.items()) / total
            return base if wants is None or wants(s) else 0.5 * base  # 多少 wants a number, 哪一年 a year
        return score

    def _sentence_scorer(self, retrieval: Retrieval) -> Callable[[str], float]:
        """What an LLM's excerpts keep: sentences that match the question; for a question asking for several
        items, also the enumerated ones (一是…/首先…), which carry the items whatever words they use."""
        from .extractive import starts_item

        score = self._question_scorer(retrieval.question, retrieval.signals.english)
        if not _LIST_QUESTION.search(retrieval.question):
            return score
        return lambda s: score(s) + (0.5 if starts_item(s) else 0.0)

    def _question_scorer(self, question: str, english: bool) -> Callable[[str], float]:
        """How well a sentence answers ``question``; an English question's words are matched through the
        dictionary bridge to the passages' Chinese."""
        if english:
            bridge = " ".join(self.retriever.bridge(question))
            return self.scorer(bridge) if bridge else (lambda s: 0.0)
        return self.scorer(question)

    def _compose(self, question: str, retrieval: Retrieval, english: bool) -> list[str]:
        from .extractive import compose
        from .extractive import render as render_pieces

        if retrieval.about_speakers is not None:  # a question about the speakers: their bylines, as printed
            from .extractive import Piece

            about = retrieval.about_speakers
            quoted = [Piece(r, t) for r, t in quote(about, retrieval.passages)]
            if quoted:
                line = heading(about, len(self.retriever.directory.experts), english)
                return render_pieces(quoted, retrieval.passages, english=english, names=english_name, bylines=line)
        named = retrieval.speakers
        kind = "across" if retrieval.across or len(named) > 1 else \
            "list" if _LIST_QUESTION.search(question) else "fact"
        score = self._question_scorer(question, english)
        pieces = compose(retrieval.passages, score, kind=kind, speakers=named if len(named) > 1 else (),
                         mentioned=retrieval.mentioned, editors=retrieval.mentioned_editors)
        return render_pieces(pieces, retrieval.passages, english=english, names=english_name)

    # ---------------------------------------------------------------- stage 4b: generate, post-process
    def request(self, question: str, retrieval: Retrieval, cancel: threading.Event | None = None) -> Request:
        """The messages an LLM gets for ``question``: the rules and the speakers' bylines (the same for every
        question), then each passage's speaker and the passages' best sentences (``settings.prompt_chars``
        characters in all)."""
        english = mostly_english(question)
        refuse_text = refusal(self.settings.prompts_dir, english)
        r = self.retriever
        score = self._sentence_scorer(retrieval)
        language = "English" if english else "Chinese (简体中文)"
        # every speaker's byline is in the system prompt, the same for every question: an LLM backend evaluates
        # it once and keeps its KV state, so a question pays only for its passages
        system = render(self.settings.prompts_dir, "system.j2", language=language, refusal=refuse_text,
                        speeches=r.speeches)
        texts = _excerpts(retrieval.passages, score, self.settings.prompt_chars, compared=retrieval.speakers)
        shown = [(n, p, t) for n, (p, t) in enumerate(zip(retrieval.passages, texts, strict=True), 1)]
        user = render(self.settings.prompts_dir, "answer.j2", passages=shown, question=question, english=english,
                      continued=False)
        return Request(question, [{"role": "system", "content": system}, {"role": "user", "content": user}],
                       retrieval.passages, english, {}, refuse_text, cancel or threading.Event())

    def continued(self, question: str, retrieval: Retrieval, prev: Answer,
                  cancel: threading.Event | None = None) -> tuple[Request, Retrieval] | None:
        """A follow-up as the next turn of ``prev``'s conversation: its messages, the model's reply, then a
        user turn with only the passages not shown yet, numbered on from the earlier ones. Returns the request
        and the retrieval the answer cites from (the earlier passages and the new ones), or None when the
        conversation would not leave the backend room for an answer (then the question goes alone)."""
        english = mostly_english(question)
        numbers = {p.id: n for n, p in enumerate(prev.passages, 1)}
        new = tuple(p for p in retrieval.passages if p.id not in numbers)
        for n, p in enumerate(new, len(prev.passages) + 1):
            numbers[p.id] = n
        score = self._sentence_scorer(retrieval)
        # a passage the conversation showed in part keeps its number and shows what it did not show yet
        said = compact("\n".join(m["content"] for m in prev.messages if m["role"] == "user"))
        texts = _excerpts(retrieval.passages, score, self.settings.follow_up_chars, said, retrieval.speakers)
        shown = [(numbers[p.id], p, t) for p, t in zip(retrieval.passages, texts, strict=True) if t]
        user = render(self.settings.prompts_dir, "answer.j2", passages=shown, question=question, english=english,
                      continued=True)
        messages = [*prev.messages, {"role": "assistant", "content": prev.model_text},
                    {"role": "user", "content": user}]
        fits = getattr(self.generator, "fits", None)
        if fits is not None and not fits(messages, self.settings.max_new_tokens):
            return None
        context = replace(retrieval, passages=(*prev.passages, *new))
        return (Request(question, messages, context.passages, english, {}, refusal(self.settings.prompts_dir, english),
                        cancel or threading.Event()), context)

    def conversation(self, history: History, question: str) -> Answer | None:
        """The answer a follow-up continues the conversation of: the model's own, whole reply to the chat's
        last turn (``Answer.messages`` is empty for a reply stopped or cut at the length limit), by a backend
        that keeps the conversation's KV state (llama.cpp in this process: ``keeps_context``), in the same
        language (the system message says which), while the conversation has fewer than ``history_turns``
        questions."""
        if not history or not getattr(self.generator, "keeps_context", False):
            return None
        prev = list(history)[-1][1]
        if not isinstance(prev, Answer) or not prev.messages or prev.abstained or not prev.model_text \
                or prev.model != self.generator.name or mostly_english(question) != mostly_english(prev.question):
            return None
        turns = sum(m["role"] == "user" for m in prev.messages)
        return prev if turns < max(1, self.settings.history_turns) else None

    def _post_process(self, raw: str, retrieval: Retrieval, request: Request, model: str,
                      english: bool) -> tuple[str, str, str, str]:
        """(text, notices, engine, the model's replaced text): the reply made checkable (postprocess.py);
        a reply that is no answer (no content, nothing supported) becomes the extractive answer."""
        experts = self.retriever.directory.experts
        reply = postprocess.process(raw, retrieval.passages, experts)
        if reply is None:
            return ("\n".join(self._compose(request.question, retrieval, english)),
                    notices.REPLACED(), f"extractive (fallback from {model})", raw)
        notes = list(reply.notices)
        text = reply.text
        claims = postprocess.claims(text)
        if claims and self._premise_numbers(request.question, [p.text for p in retrieval.passages]):
            first = check_sentence(claims[0][0], claims[0][1], retrieval.passages, experts)
            if first.verdict != SUPPORTED:  # the model repeated a false premise: lead with the passage
                lead = self._compose(request.question, retrieval, english)[0]
                text = f"{'The document says: ' if english else '原文是这样说的：'}{lead}\n{text}"
                notes.append(notices.PREMISE_LED())
        return text, notices.join(*notes), model, ""

    # ---------------------------------------------------------------- helpers
    def _refusal_text(self, english: bool, decision: Decision) -> str:
        """The refusal sentence, and why: the words the document lacks, or who the speakers are."""
        base = refusal(self.settings.prompts_dir, english)
        experts = "、".join(self.retriever.directory.experts)
        if decision.later:
            years = "、".join(decision.later)
            year = self.retriever.document_year
            return (f"{base} The document dates from {year}; it cannot tell what happened in {years}." if english
                    else f"{base.rstrip('。')}：文档是{year}年的记录，不可能写到{years}年的事。")
        if decision.lacks:
            what = {"number": ("a figure", "具体数字"), "date": ("a date", "具体时间"),
                    "place": ("a place", "具体地点"),
                    "organisation": ("an organisation", "具体的机构或企业名称"),
                    "person": ("a person", "具体的人名")}[decision.lacks]
            return (f"{base} The passages on this give no {what[0].split(' ', 1)[1]}." if english else
                    f"{base.rstrip('。')}：相关的段落没有给出{what[1]}。")
        if decision.unknown_people:
            people = "、".join(decision.unknown_people)
            # (a person the question names is "unknown" only if no passage mentions them either)
            return (f"{base} {people} did not speak at the symposium, and the document does not mention them; the "
                    f"speakers were {experts}." if english else
                    f"{base.rstrip('。')}：{people}不是这次座谈会的发言人，文中也没有提到。发言的专家是{experts}。")
        if decision.unsaid is not None:
            u = decision.unsaid
            words = "、".join(u.words[:3])
            # no "the document has nothing on it": it has, from others, and the passages shown are theirs
            key = u.key or u.words[0]
            it = "它" if len(u.words) == 1 else f"“{key}”"
            who = "、".join("编者按（编辑部的导言）" if s == EDITORIAL_SPEAKER else s for s in u.said_by)
            return (f"{u.speaker}'s statement does not mention {words}; {who} speak of {key}, in the passages "
                    "shown." if english else f"{u.speaker}的发言没有谈到“{words}”；文中谈到{it}的是{who}，见所列段落。")
        if decision.missing:
            words = "、".join(decision.missing[:3])
            return (f"{base} It does not mention {words}." if english else
                    f"{base.rstrip('。')}：文中没有出现“{words}”。")
        return base

    def check(self, text: str, retrieval: Retrieval) -> list[SentenceCheck]:
        """Stage 6: a verdict for every sentence that makes a claim (list numbers and headings are not)."""
        experts = self.retriever.directory.experts
        return [check_sentence(b, m, retrieval.passages, experts) for b, m in postprocess.claims(text)]

    @staticmethod
    def _premise_numbers(question: str, texts: Sequence[str]) -> list[str]:
        """The numbers a question states (as it wrote them) that none of ``texts`` contains."""
        have = numbers("\n".join(texts))
        return [n.value if n.value.endswith(n.unit) else f"{n.value}{n.unit}" for n in number_mentions(question)
                if n.value not in have]

    def _byline_facts(self, retrieval: Retrieval) -> list[str]:
        """For an answer from the bylines, what it states besides them: the count and the place in the order
        its heading gives (第一个发言的是谁: 第一位; 八个专家: 共有8位) and how many speakers it names (社科院的三位专家
        names two), which a question's figures are held against as against the passages."""
        about = retrieval.about_speakers
        if about is None:
            return []
        total = len(self.retriever.directory.experts)
        from_end = [f"倒数第{chinese_numeral(total - n + 1)}位" for n in about.places if 0 < n <= total]
        return [heading(about, total, False), f"{len(about.speakers)}位", *from_end]

    def _premise_notice(self, question: str, citations: Sequence[Citation], stated: Sequence[str] = ()) -> str:
        """Numbers the question states that the cited passages (and what the answer ``stated`` besides them)
        do not contain."""
        if not citations:
            return ""
        missing = self._premise_numbers(question, [c.passage.text for c in citations] + list(stated))
        if not missing:
            return ""
        return notices.PREMISE(figures=", ".join(dict.fromkeys(missing)))
