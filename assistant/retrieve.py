"""Question -> passages: jieba BM25 and dense Chroma search, fused by weighted reciprocal rank,
routed to the experts a question names, spread across experts when it asks across them,
with a confidence that tells the answer step whether the document answers at all."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from . import notices
from .bylines import ROSTER, classify
from .decide import confidence
from .lexical import (
    BM25Index,
    Tokenizer,
    char_bigrams,
    english_to_chinese,
    pinyin_index,
    pinyin_to_chinese,
    romanised_chinese,
    stopwords,
)
from .settings import Settings
from .speakers import Mention, SpeakerDirectory, is_post
from .store import Index
from .text import clean_question, has_content, in_script, mostly_english, script_of, sentence_spans
from .types import EDITORIAL_SPEAKER, Chunk, Passage, Retrieval, Signals, SpeakerQuestion, Unsaid

RRF_K = 60
_ORDINAL_WORD = re.compile(r"^第([一二三四五六七八九十]+)(?:点|条|个|项|方面|部分|步)?$")
# what kind of answer a question expects (a general question-answering device, not any one document's words)
_WANTS = (
    ("number", re.compile(r"多少|多大|几[个种类倍年成项条家次位名万亿]|比例|比重|百分之|占比|增速|增长了?多|规模有?多|"
                          r"how (many|much)|what (share|percentage|proportion|number)|how large", re.IGNORECASE),
     re.compile(r"\d|[零一二两三四五六七八九十百千万亿]+(?:个|种|类|倍|年|成|项|条|家|次|位|名|%|亿|万)|百分之|第[一二三四五六七八九十]")),
    ("time", re.compile(r"哪一?年|什么时候|何时|哪天|几月|\bwhen\b|what year", re.IGNORECASE),
     re.compile(r"\d{4}\s*年|\d+\s*月|[一二三四五六七八九十]+月|年代|世纪|时期|以来|之后|之前")),
    ("place", re.compile(r"哪个?(省|市|城市|国家|地方|地区)|在哪(里|儿)?(开|举办|召开|建)|\bwhere\b|"
                         r"which (city|province|country)", re.IGNORECASE),
     None),  # a place name, by jieba's part-of-speech tag (ns)
)
# a question that asks who, or names an expert to leave them out (张辉以外还有谁, 除了张辉): not one about that expert
_WHO_ELSE = re.compile(r"谁|哪位|哪几位|哪些(?:专家|学者|人)|以外|之外|除了|除去")
# a question that asks for a figure or a date itself (not for a count of items: 哪几条 is a list), and what
# a text that gives one holds
_ASKS_FIGURE = (
    ("number", re.compile(r"多少|比例|比重|百分之|占比|几倍|增速|增长了?多", re.IGNORECASE), _WANTS[0][2]),
    ("date", _WANTS[1][1], _WANTS[1][2]),
)
# a question that asks for a place, an organisation or a person by name (哪个城市, 哪家企业, 最早是谁提出的); a text
# gives one if it names one the question does not: a word jieba tags as a place (ns), an organisation (nt) or a
# person (nr), or a word that ends in an organisation's head noun
_ASKS_NAME = (
    ("place", re.compile(r"哪(?:个|一个|座)?(?:省|城市|国家|地区)|哪个市|在哪(?:里|儿)?(?:开|举办|召开|举行)"),
     ("ns",)),
    ("organisation", re.compile(r"哪(?:个|一个|家)(?:公司|企业|平台|部门|部委|机构|学校|大学)|哪个单位(?:的|下面)"),
     ("nt",)),
    # someone other than the speakers, by name: who first proposed, founded or chaired something, or an official
    # (谁提到/谁说/哪位学者认为 ask which speaker said it, which the statements answer without naming anyone; so does
    # 哪位学者提出的, since a speaker may have put it forward)
    ("person", re.compile(r"(?:最早|最先)(?:是|由)?谁|是谁(?:最早|首先|最先)(?:提出|创立|创建|创办|发明)|"
                          r"是谁(?:提出来|创立|创建|创办|发明|主持|牵头)|谁(?:主持|牵头|创立|创办|发明)|主持人|"
                          r"哪(?:位|个)(?:学者|经济学家)(?:最早|首先)?(?:创立|创建|创办|发明)|"
                          r"哪(?:位|个)(?:[\u4e00-\u9fff]{1,2})?(?:官员|领导人?)"),
     ("nr",)),
)
_ORG_HEAD = re.compile(r"(?:公司|集团|企业|大学|学院|研究院|研究所|研究中心|委员会|部|局|署|银行|平台)$")


# 多少个/多少万辆/多少美元/多少EFLOPS: the unit or measure word a figure is asked in (a scale such as 万 or 亿 before it
# is left out: 1.2万亿元 and 12000亿元 are both 元)
_ASKED_UNIT = re.compile(r"多少\s*(?:万亿|万|亿|千|百)?\s*([A-Za-z]{2,}|[\u4e00-\u9fff]{1,2})")


def _asked_unit(question: str) -> str:
    """The unit a Chinese question asks a figure in (多少个 -> 个, 多少万辆 -> 辆, 多少EFLOPS -> eflops), "" if none:
    a general measure word or unit (claims' list), or Latin letters."""
    from .claims import MEASURE_WORDS

    m = _ASKED_UNIT.search(question)
    if m is None:
        return ""
    u = m.group(1)
    if u.isascii():
        return u.lower()
    return next((c for c in MEASURE_WORDS if u.startswith(c)), "")


@lru_cache(maxsize=64)
def _counted_in(unit: str) -> re.Pattern[str]:
    """A text that gives a figure in ``unit``: a number (digits or Chinese numerals, a scale, 多/余 after it), then
    the unit."""
    return re.compile(rf"(?:\d|[一二两三四五六七八九十百千])[\d.,\s零一二两三四五六七八九十百千万亿多余]*"
                      rf"{re.escape(unit)}", re.IGNORECASE)


class Gives(Protocol):
    """A test for a text that gives what a question asks for: a compiled pattern, or ``_NamesOne``."""

    def search(self, text: str) -> object: ...


class _NamesOne:
    """A test for a text that names a place, an organisation or a person the question does not (``.search`` like
    a pattern's)."""

    def __init__(self, tags: tuple[str, ...], question: str, org: bool) -> None:
        self.tags, self.question, self.org = tags, question, org

    def search(self, text: str) -> bool:
        from .claims import words

        return any((w.pos.startswith(self.tags) or (self.org and len(w.text) > 2 and _ORG_HEAD.search(w.text)))
                   and len(w.text) > 1 and w.text not in self.question for w in words(text))  # one character
        # tagged a name is jieba's guess at an unknown word, not a name


_BARE_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_DATED = re.compile(r"((?:19|20)\d{2})\s*年\s*\d{1,2}\s*月")
# a year a question asks about: "2025年" in Chinese (2080亿元 is an amount); in English a bare 20xx not
# followed by a unit; a year after 到/预计/by is a target, which a record may well discuss without naming it
_YEAR = re.compile(r"(?<![\d到至前预计划目标])((?:19|20)\d{2})\s*年"
                   r"|(?<![\w,.])(?<!by )(?<!until )((?:19|20)\d{2})(?![\d,.]|\s*(?:billion|million|yuan|%|percent))",
                   re.IGNORECASE)
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
        notice = notices.QUESTION_CUT(length=len(q), limit=max_chars)
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
        self.directory.cut = self.tokenizer.cut
        self.bm25 = BM25Index([c.text for c in self.chunks], self.tokenizer)
        self.bigrams = BM25Index([c.text for c in self.chunks], self.tokenizer, analyze=char_bigrams)
        self._texts = [c.text.lower().replace(" ", "") for c in self.chunks]
        self._idf_cache: dict[str, float] = {}
        self._year: int | None = None  # document_year, found on first use
        self._pinyin: dict[tuple[str, ...], str] | None = None
        self._pinyin_lock = threading.Lock()
        self._script: str | None = None

    def _sounds(self) -> dict[tuple[str, ...], str]:
        """Words by their pinyin, the index's first (built once, on the first question typed in pinyin)."""
        with self._pinyin_lock:
            if self._pinyin is None:
                counts = Counter(w for toks in self.bm25.doc_tokens for w in toks)
                counts.update(dict.fromkeys(self.directory.speakers, 1))
                self._pinyin = pinyin_index(counts)
            return self._pinyin

    @property
    def speeches(self) -> list[tuple[str, str, str]]:
        """(speaker, affiliation, title) of each statement in the index, in document order."""
        seen: dict[tuple[str, str, str], tuple[str, int]] = {}
        for c in self.chunks:
            if c.kind == "text":
                seen.setdefault((c.speaker, c.affiliation, c.title), (c.source, c.section))
        return sorted(seen, key=lambda key: seen[key])

    @property
    def script(self) -> str:
        """"simplified" or "traditional": the characters the index's text is written in (decided once, from
        its first 20,000 characters)."""
        if self._script is None:
            sample, size = [], 0
            for c in self.chunks:
                sample.append(c.text)
                size += len(c.text)
                if size > 20000:
                    break
            self._script = script_of("".join(sample))
        return self._script

    def _about_the_content(self, query: str, speaker: str) -> str:
        """The search text for a question about what one named expert said: without the name (and title,
        affiliation) when the rest matches words of the expert's statement. Only that expert's passages are
        searched, and of them only the byline holds the name, so the name put the byline first whatever was
        asked (calibration half: the answering passage first 0.551 -> 0.720 of questions, key terms 0.802 ->
        0.804). A question about the person (吕薇在哪上班的) matches nothing of the statement and keeps the name,
        which finds the byline."""
        rest = self.directory.strip_names(query)
        words = self.tokenizer.tokens(rest) if has_content(rest) else []
        if not words:
            return query
        scores = self.bm25.scores(words)
        statement = (n for n, c in enumerate(self.chunks) if c.speaker == speaker and c.kind == "text")
        return rest if any(scores[n] > 0 for n in statement) else query

    def _about_their_statements(self, query: str, speakers: Sequence[str]) -> str:
        """The search text for a question about what two or more named experts said (吕薇和王蕴对人才的看法有啥异同):
        without the names when, for every one of them, the rest of the question matches a passage of the
        statement better than the byline. Otherwise each byline, holding the name, took a place of the first
        three. A question about their posts (…分别是啥职务) matches the bylines better and keeps the names."""
        rest = self.directory.strip_names(query)
        words = self.tokenizer.tokens(rest) if has_content(rest) else []
        if not words:
            return query
        scores = self.bm25.scores(words)
        best: dict[tuple[str, bool], float] = {}  # (speaker, statement?) -> best score
        for n, c in enumerate(self.chunks):
            if c.speaker in speakers:
                key = (c.speaker, c.kind == "text")
                best[key] = max(best.get(key, 0.0), scores[n])
        return rest if all(best.get((s, True), 0.0) > best.get((s, False), 0.0) for s in speakers) else query

    def read(self, text: str) -> str:
        """``text`` in the index's characters: a question typed in traditional characters (Taiwan, Hong Kong)
        is searched in simplified ones when the documents are written so, and the other way round."""
        return in_script(text, self.script)

    # ---------------------------------------------------------------- search
    def search(self, question: str, k: int | None = None, speakers: Sequence[str] = ()) -> Retrieval:
        k = k or self.settings.k
        if k < 1:
            raise QuestionError(f"k must be at least 1, got {k}")
        q, notice = check_question(question, self.settings.max_question_chars)
        q = self.read(q)
        read_as_chinese = False
        # typed in pinyin: searched in Chinese words (told with the names taken out, the rest as typed: an English
        # question's capitals count)
        if romanised_chinese(self.directory.without_names(q)):
            named = self.directory.find(q).speakers
            written = " ".join([*named, pinyin_to_chinese(self.directory.strip_names(q), self._sounds())])
            if has_content(written) and written != q:
                notice = notices.join(notice, notices.READ_AS_CHINESE(text=written))
                q, read_as_chinese = written, True
        mention = self.directory.find(q)
        for name, written in self.directory.misspelled(q):
            if name in mention.speakers:
                notice = notices.join(notice, notices.NAME_READ(written=written, name=name))
        allowed = tuple(s for s in speakers if s in self.directory.speakers) or mention.speakers
        if not allowed and mention.editor and not mention.across and EDITORIAL_SPEAKER in self.directory.speakers:
            allowed = (EDITORIAL_SPEAKER,)  # "编者按里说……": the editors' text is the source asked about
        query = self.directory.chinese_names(q, mention)
        if len(mention.speakers) == 1 and tuple(allowed) == mention.speakers and not mention.across:
            query = self._about_the_content(query, mention.speakers[0])
        elif len(mention.speakers) > 1 and tuple(allowed) == mention.speakers:
            query = self._about_their_statements(query, mention.speakers)
        # "除了任保平，还有谁……": the experts the question leaves out are not searched
        out = tuple(s for s in mention.excluded if s not in allowed)
        pool = [n for n, c in enumerate(self.chunks) if (not allowed or c.speaker in allowed) and c.speaker not in out]

        dense_hits = self.index.dense_search(
            query, self.settings.candidates,
            where={"speaker": {"$in": list(allowed)}} if len(allowed) > 1 else
            ({"speaker": allowed[0]} if allowed else ({"speaker": {"$nin": list(out)}} if out else None)))
        dense = {self.by_id[i]: s for i, s in dense_hits if i in self.by_id}

        english = mostly_english(q)
        bridge = english_to_chinese(q, self.bm25.vocabulary) if english else []
        q_tokens = self.tokenizer.tokens(query) + bridge
        lex_all = self.bm25.scores(q_tokens)
        lexical = {n: lex_all[n] for n in pool if lex_all[n] > 0}
        gram_all = self.bigrams.scores(char_bigrams(" ".join([query, *bridge])))
        grams = {n: gram_all[n] for n in pool if gram_all[n] > 0}

        fused: dict[int, float] = {}
        for weight, scores in ((self.settings.dense_weight, dense), (self.settings.lexical_weight, lexical),
                               (self.settings.bigram_weight, grams)):
            for rank, n in enumerate(sorted(scores, key=lambda n: -scores[n])[: self.settings.candidates]):
                fused[n] = fused.get(n, 0.0) + weight / (RRF_K + rank + 1)
        ranked = sorted(fused, key=lambda n: -fused[n])
        mentioned = ""  # a who-said question's word, and the passages that have it
        mentions: list[int] = []
        if len(allowed) > 1:
            ranked = self._interleave(ranked, allowed)
        elif mention.across and not allowed:
            mentioned, mentions = self._mentions(q, pool, fused, lex_all, editors=not mention.experts)
            ranked = self._spread(ranked, fused, k, mentions)
        elif mention.editorial and not allowed:
            ranked = self._prefer(ranked, EDITORIAL_SPEAKER)
        elif _LIST_QUESTION.search(q):
            ranked = self._continue_list(ranked, k)
        top = ranked[:k]
        # a passage that has the word a who-said question asks about may come from beyond the candidates
        passages = tuple(Passage(self.chunks[n], fused.get(n, 0.0), dense.get(n, 0.0), lex_all[n]) for n in top)
        signals = self.signals(q, top, dense, lex_all, bool(allowed or mention.across), bridge)
        about = self.about_speakers(q, mention)
        if about is not None and speakers and not set(about.speakers) <= set(allowed):
            about = None  # the expert filter is on, and the bylines asked about are others'
        bylines = self._bylines(about, fused, dense, lex_all) if about is not None else ()
        if about is not None and bylines:  # the bylines that answer it first, then the closest of the rest
            if about.kind == ROSTER and bylines[0].chunk.kind == "overview":
                # the list of speakers holds every byline: the editors' introduction, where a record says who
                # spoke on what and why, comes next (its closest passage), not after every speaker's byline
                intro = next((n for n in ranked if self.chunks[n].kind == "text"
                              and self.chunks[n].speaker == EDITORIAL_SPEAKER), None)
                if intro is not None:
                    bylines = (bylines[0], Passage(self.chunks[intro], fused.get(intro, 0.0), dense.get(intro, 0.0),
                                                   lex_all[intro]), *bylines[1:])
            taken = {b.id for b in bylines}
            passages = (*bylines, *(p for p in passages if p.id not in taken))[:max(k, len(bylines))]
        else:
            about = None
        return Retrieval(q, passages, confidence(signals, self.settings), mention.speakers,
                         mention.across and not about,
                         notice, signals, read_as_chinese, "" if about else mentioned,
                         mentioned_editors=any(self.chunks[n].speaker == EDITORIAL_SPEAKER for n in mentions),
                         about_speakers=about)

    def about_speakers(self, question: str, mention: Mention) -> SpeakerQuestion | None:
        """A question about the speakers themselves (几位专家发言, 金碚在哪工作, 社科院的有谁), or None."""
        speeches = self.speeches
        experts = [s for s in self.directory.experts if any(sp == s for sp, _, _ in speeches)]
        affiliations = {sp: a for sp, a, _ in speeches}
        titles = {sp: t for sp, _, t in speeches}
        event = " ".join(t for sp, _, t in speeches if sp not in experts)
        return classify(question, mention, experts, affiliations, titles, event,
                        lambda t: self.tokenizer.words(t), self.directory.without_names,
                        self.directory.without_institutions, is_post, lambda w: w in self.tokenizer.places(w))

    def _bylines(self, about: SpeakerQuestion, fused: dict[int, float], dense: dict[int, float],
                 lex: Sequence[float]) -> tuple[Passage, ...]:
        """The bylines that answer a question about the speakers: each asked-about speaker's, in the order they
        spoke. For the speakers as a whole, every one's (each quoted and cited to its own speaker), after the
        list of speakers the index makes of them: the first source to read, and the one passage that holds
        them all within the first k (it is filed under the editors' introduction, so it is not quoted)."""
        first = {c.speaker: n for n, c in reversed(list(enumerate(self.chunks))) if c.kind == "profile"}
        asked = list(about.speakers)
        if about.anchor:  # a place relative to a named speaker (X前面那位): X's byline too, in the order they spoke
            asked = [s for _, s in sorted([*zip(about.places, about.speakers, strict=True),
                                           (about.anchor_place, about.anchor)])]
        chosen = [first[s] for s in asked if s in first]
        if about.kind == ROSTER and chosen:  # the list of speakers, which holds every byline, shown first (not quoted)
            chosen = [n for n, c in enumerate(self.chunks) if c.kind == "overview"][:1] + chosen
        return tuple(Passage(self.chunks[n], fused.get(n, 0.0), dense.get(n, 0.0), lex[n]) for n in chosen)

    def _interleave(self, ranked: list[int], speakers: Sequence[str]) -> list[int]:
        """A question naming several experts: their passages take turns (each one's best first), so
        that every named expert is in the top k however lopsided the scores are."""
        queues = {s: [n for n in ranked if self.chunks[n].speaker == s] for s in speakers}
        order = sorted((s for s in queues if queues[s]), key=lambda s: ranked.index(queues[s][0]))
        out: list[int] = []
        while any(queues[s] for s in order):
            for s in order:
                if queues[s]:
                    out.append(queues[s].pop(0))
        return out + [n for n in ranked if n not in out]

    def _mentions(self, q: str, pool: Sequence[int], fused: dict[int, float],
                  lex: Sequence[float], editors: bool = False) -> tuple[str, list[int]]:
        """For a question that asks who said something (哪几位提到了量子信息): its most specific word of two
        characters or more (of two that weigh the same, the longer: a term the tokenizer splits is taken
        whole), and the best passage of each expert whose statement has it, best first; with ``editors``
        (有谁提到…, not 哪几位专家…), then the editors' introduction's when it has it. ("", []) when no
        statement has the word, or every expert's does (it tells no one apart)."""
        if mostly_english(q):
            return "", []
        words = [w.lower() for w in self.question_words(q)]  # as the index's texts are compared
        low = q.lower()
        # a term the tokenizer splits (量子 通信) is also tried whole, as the question writes it
        weights = self.weights([*words, *(a + b for a, b in zip(words, words[1:], strict=False) if a + b in low)])
        # the experts' statements; for "有谁提到因地制宜" (not "哪几位专家") the editors' introduction too, which
        # often reports what was said before the symposium ("除了编者按" leaves it out of the pool)
        texts = [n for n in pool if self.chunks[n].kind == "text"
                 and (editors or self.chunks[n].speaker != EDITORIAL_SPEAKER)]
        term = max((w for w in weights if len(w) > 1), key=lambda w: (weights[w], len(w)), default="")

        def said(x: str) -> bool:
            return any(x in self._texts[n] for n in texts)

        if not term or not said(term):
            return "", []  # what the question is about is not in the statements: a word of its frame (提到) is not it
        # a modifier the tokenizer split off in front of it (大 模型, 元 宇宙) belongs to the term, while the
        # statements have the longer stretch; a function word (了, 在) does not. Only in front: a Chinese
        # compound ends in its head, and what follows a noun in the question (中, 上) is not part of it
        stop = stopwords()
        at = low.find(term)
        while at > 0 and low[at - 1] not in stop and low[at - 1].isalnum() and said(low[at - 1] + term):
            term, at = low[at - 1] + term, at - 1
        best: dict[str, int] = {}
        for n in sorted((n for n in texts if term in self._texts[n]), key=lambda n: (-fused.get(n, 0.0), -lex[n])):
            best.setdefault(self.chunks[n].speaker, n)
        experts = {self.chunks[n].speaker for n in texts} - {EDITORIAL_SPEAKER}
        # the editors after the experts: where more experts say it than there are places, they have them
        order = sorted(best.values(), key=lambda n: self.chunks[n].speaker == EDITORIAL_SPEAKER)
        return ("", []) if experts <= set(best) else (term, order)

    def _spread(self, ranked: list[int], fused: dict[int, float], k: int, mentions: Sequence[int] = ()) -> list[int]:
        """The passages of ``mentions`` first, then the best passage of each other speaker that matches nearly
        as well as the best (in rank order), then the rest by rank."""
        if not ranked:
            return ranked
        floor = fused[ranked[0]] * 0.55
        first: list[int] = list(mentions)[:k]
        seen: set[str] = {self.chunks[n].speaker for n in first}
        for n in ranked:
            if n in first:
                continue
            sp = self.chunks[n].speaker
            if sp not in seen and fused[n] >= floor:
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

    def question_words(self, question: str) -> list[str]:
        """The content words of a question (names of the experts it names removed): the one place that
        decides what a question asks about, for answerability, excerpts and the extractive answer."""
        return self.tokenizer.words(self.directory.strip_names(question))

    def weights(self, words: Sequence[str]) -> dict[str, float]:
        """How much each question word says about what is asked: its specificity in general Chinese
        (jieba's dictionary frequencies), so a common word absent from the document (眼中, 取决于)
        weighs little and a rare one (a company, a term) weighs much."""
        return {w: self.tokenizer.specificity(w) for w in words}

    @staticmethod
    def found(word: str, text: str) -> float:
        """1 if ``word`` is in ``text``; else the share of its character pairs that are (a typo or
        another segmentation: 因地治宜 / 因地制宜 gets 2/3), 0 for a word none of whose parts occur."""
        if word in text:
            return 1.0
        ordinal = _ORDINAL_WORD.match(word)
        if ordinal:  # 第四点 / 第四条 is written 四是 or 第四 in an enumeration
            n = ordinal.group(1)
            return float(f"{n}是" in text or f"第{n}" in text)
        if len(word) < 3 or word.isascii():
            return 0.0
        pairs = [word[i:i + 2] for i in range(len(word) - 1)]
        return sum(p in text for p in pairs) / len(pairs)

    def coverage(self, weights: dict[str, float], texts: Sequence[str]) -> float:
        """Specificity-weighted share of the question's words found in ``texts`` together."""
        total = sum(weights.values())
        if not total:
            return 0.0
        joined = "\n".join(texts)
        return sum(wt * self.found(w, joined) for w, wt in weights.items()) / total

    def signals(self, q: str, top: Sequence[int], dense: dict[int, float], lex: Sequence[float],
                routed: bool, bridge: Sequence[str] = ()) -> Signals:
        """What the decide step weighs: word coverage (best passage; for a question naming experts or
        asking across them, the top passages together), dense similarity, BM25, and whether the dense
        and lexical rankings agree on the best passage."""
        if not top:
            return Signals()
        english = mostly_english(q)
        words = list(bridge) if english else self.question_words(q)
        weights = self.weights(words)
        texts = [self._texts[n] for n in top]
        cov = max((self.coverage(weights, [t]) for t in texts), default=0.0)
        if routed:
            cov = max(cov, self.coverage(weights, texts))
        best_dense = max(dense.get(n, 0.0) for n in top)
        by_dense = max(top, key=lambda n: dense.get(n, 0.0))
        best_lex = max(top, key=lambda n: lex[n])
        top_lex = max(lex) if len(lex) else 0.0
        joined = "\n".join(texts)
        sentences = [self.chunks[n].text[a:b].lower() for n in top for a, b in sentence_spans(self.chunks[n].text)]
        scored = sorted(((self.coverage(weights, [x]), x) for x in sentences), reverse=True) if weights else []
        sent_cov = scored[0][0] if scored else 0.0
        answer_type = 1.0
        wants = self.wants(q)
        if wants and not english:
            best = [x for c, x in scored[:2] if c >= 0.5 * sent_cov]
            answer_type = float(any(wants(x) for x in best))
        key = max(weights, key=lambda w: weights[w]) if weights else ""
        gone = [wt for w, wt in weights.items() if self.found(w, joined) < 0.5]
        return Signals(coverage=round(cov, 4), dense=round(best_dense, 4), lexical=round(top_lex, 4),
                       agree=float(by_dense == best_lex), words=len(words), english=english, routed=routed,
                       key_found=round(self.found(key, joined), 4) if key else 0.0,
                       missing=round(max(gone, default=0.0) / 20, 4), sentence=round(sent_cov, 4),
                       answer_type=answer_type)

    def wants(self, question: str) -> Callable[[str], bool] | None:
        """For a question that asks for a number, a time or a place: a test of whether a text has one."""
        for _, asks, has in _WANTS:
            if asks.search(question):
                if has is not None:
                    pattern = has
                    return lambda x: bool(pattern.search(x))
                return lambda x: bool(self.tokenizer.places(x))
        return None

    def bridge(self, question: str) -> list[str]:
        """The index's Chinese words for an English question (dictionary bridge)."""
        return english_to_chinese(question, self.bm25.vocabulary)

    def missing_words(self, retrieval: Retrieval) -> list[str]:
        """The question's more specific words (by general-language frequency, above the question's
        median) that no passage of the index holds, most specific first: what a refusal names."""
        if retrieval.signals.english:
            return []
        weights = self.weights(self.question_words(retrieval.question))
        if not weights:
            return []
        median = sorted(weights.values())[len(weights) // 2]
        # what the reader is told "the document does not mention": looked up in the whole index, not only
        # in the passages retrieved
        gone = [w for w, wt in weights.items() if wt >= median and max(self.found(w, t) for t in self._texts) < 0.5]
        return sorted(gone, key=lambda w: -weights[w])

    @property
    def document_year(self) -> int | None:
        """The year of the latest full date (year and month) the documents give: when the record was made.
        A year alone may be a target (到 2035 年), a date with its month is something that happened."""
        if self._year is None:
            years = [int(y) for t in self._texts for y in _DATED.findall(t)]
            self._year = max(years, default=0)
        return self._year or None

    @staticmethod
    def asks_figure(question: str) -> tuple[str, Gives] | None:
        """("number" | "date" | "place" | "organisation" | "person", a test for a text that gives one) when a Chinese
        question asks for a figure, a date or a name itself (多少, 占比, 哪一年, 哪个城市, 哪家企业); None
        otherwise, and for a count of items (哪几条)."""
        for kind, asks, has in _ASKS_FIGURE:
            if asks.search(question):
                unit = _asked_unit(question) if kind == "number" else ""
                return kind, (_counted_in(unit) if unit else has)
        for kind, asks, tags in _ASKS_NAME:
            if asks.search(question):
                return kind, _NamesOne(tags, question, kind == "organisation")
        return None

    def later_years(self, retrieval: Retrieval) -> list[str]:
        """Years the question asks about that are after the documents' own date and that they never name
        (2025年政府工作报告 in a record of 2024): nothing in them can tell."""
        year = self.document_year
        if year is None:
            return []
        english = retrieval.signals.english
        asked = [a or b for a, b in _YEAR.findall(retrieval.question) if a or english]
        if any(int(y) <= year for y in _BARE_YEAR.findall(retrieval.question)):  # 2024—2025年: its own time too
            return []
        return [y for y in dict.fromkeys(asked) if int(y) > year and not any(y in t for t in self._texts)]

    def unknown_people(self, retrieval: Retrieval) -> list[str]:
        """People the question names who are neither speakers nor mentioned anywhere in the document."""
        if retrieval.speakers or retrieval.signals.english:
            return []
        return [name for name in self.tokenizer.people(retrieval.question)
                if len(set(name)) > 1 and not re.search(r"[啊呀吗呢吧哦嗯哈啦呗哇]", name)  # 啊啊啊 is no one
                and not any(name in t for t in self._texts) and not self.directory.find(name).speakers]

    def unsaid(self, retrieval: Retrieval) -> Unsaid | None:
        """For a Chinese question naming one expert: the question's specific words that expert's statement (and
        byline) never has and other statements do, in the question's order, when that statement holds less than
        ``unsaid_coverage_below`` of the question's words by specificity (张辉怎么看算力和算法 is half his: hedged, not
        refused). A question that asks who, or names the expert to leave them out (张辉以外还有谁…), is not one.
        ``said_by``: the speakers who mention the most specific of the words (``key``), at most three."""
        if len(retrieval.speakers) != 1 or retrieval.signals.english or retrieval.about_speakers is not None \
                or _WHO_ELSE.search(retrieval.question):
            return None
        who = retrieval.speakers[0]
        # statements and bylines; not the document's list of speakers, which holds every title (and is filed
        # under the first speaker)
        texts = [(c.speaker, t) for c, t in zip(self.chunks, self._texts, strict=True) if c.kind != "overview"]
        weights = self.weights(self.question_words(retrieval.question))
        own = "\n".join(t for s, t in texts if s == who)
        # a word half there counts (看算力 is a verb joined to 算力 by the segmenter), and so does one the expert
        # uses a dictionary part of: 工业革命 is no topic left out by one who speaks of 新技术革命, nor 人才培养
        # by one who speaks of 人才 (a paraphrase is not a topic left out)
        mentions = {w: self.found(w, own) >= 0.5 or any(x in own for x in self.tokenizer.parts(w)) for w in weights}
        held = sum(wt for w, wt in weights.items() if mentions[w])
        if not weights or not own or held >= self.settings.unsaid_coverage_below * sum(weights.values()):
            return None
        said = [w for w, wt in weights.items() if wt >= self.settings.unsaid_specificity and not mentions[w]
                and any(s != who and w in t for s, t in texts)]
        if not said:
            return None
        key = max(said, key=lambda w: weights[w])
        by = dict.fromkeys(s for s, t in texts if s != who and key in t)
        return Unsaid(who, tuple(said), tuple(by)[:3], key)

    # ---------------------------------------------------------------- LangChain
    def as_langchain(self, k: int | None = None) -> HybridRetriever:
        return HybridRetriever(engine=self, k=k or self.settings.k)


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
