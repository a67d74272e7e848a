"""What the chat offers to ask next, and the experts view, all drawn from the index.

* ``Guide.follow_ups``: after an answer, questions built from the answer's speakers, the experts whose
  passages were retrieved, and the question's topic (the noun phrase of the question that the index
  finds most specific).
* ``Guide.rewordings``: after a refusal or a hedge, questions for the experts whose passages were
  closest, on the part of the question the document does hold.
* ``Guide.profiles``: each expert's affiliation and talk title (from the index's sections) and three key
  claims: the sentences of the expert's statement that best cover the words of the talk's title,
  weighted as the retriever weighs question words, one per paragraph.

Nothing here is a hand-written list of questions or claims: change the document and they change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .lexical import stopwords
from .retrieve import Retriever
from .text import mostly_english, sentence_spans
from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER, Answer, Chunk

# nouns that frame a question about the experts rather than say what it is about
_FRAME = frozenset({"专家", "学者", "发言人", "观点", "看法", "内容", "问题", "方面", "主要", "文章", "发言"})
_NOUNISH = ("n", "nz", "vn", "eng", "j", "l", "nt", "ns")
_CLAIM_END = re.compile(r"[。！；;!]$")
_CLAIM_OPENER = re.compile(r"^(因此|因而|所以|为此|由此|同时|此外|另外|其次|再次|最后|例如|比如|但|但是|然而|而且|"
                           r"这|这些|这种|其中|[一二三四五六七八九十]+[是、]|第[一二三四五六七八九十]+)")
TOPIC_CHARS = 12
N_SUGGESTIONS = 3


@dataclass(frozen=True)
class Claim:
    text: str
    chunk: Chunk


@dataclass(frozen=True)
class Profile:
    speaker: str
    affiliation: str
    title: str
    claims: tuple[Claim, ...]


def _pos(text: str) -> list[tuple[str, str]]:
    import jieba.posseg

    return [(w, f) for w, f in jieba.posseg.lcut(text)]


class Guide:
    """Suggestions and expert profiles for one retriever (one index)."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.experts = [s for s in retriever.directory.experts]
        self._stop = stopwords()
        self._profiles: list[Profile] | None = None

    # ------------------------------------------------------------------ the question's topic
    def _score(self, word: str) -> float:
        r = self.retriever
        return r.tokenizer.specificity(word) * max(r.idf(word), 0.05)

    def topic(self, question: str, context: str = "") -> str:
        """The noun phrase of ``question`` that says most about what it asks (发展新质生产力的本质,
        人工智能), without the experts' names; "" when it has none. With ``context`` (the cited passages),
        a phrase they hold is preferred."""
        r = self.retriever
        context = context.lower().replace(" ", "")

        def score(words: Sequence[str]) -> float:
            best = max((self._score(w) for w in words), default=0.0)
            held = not context or all(r.found(w, context) >= 0.5 for w in words)
            return best if held else 0.3 * best

        if mostly_english(question):
            bridge = [w for w in r.bridge(question) if w not in _FRAME]
            return max(bridge, key=lambda w: score([w])) if bridge else ""
        text = r.directory.strip_names(question)
        runs: list[list[str]] = [[]]
        for word, flag in _pos(text):
            nounish = flag.startswith(_NOUNISH) and word not in self._stop and word not in _FRAME
            if nounish or (word == "的" and runs[-1]):
                runs[-1].append(word)
            elif runs[-1]:
                runs.append([])
        best, best_score = "", 0.0
        for run in runs:
            while run and run[-1] == "的":
                run.pop()
            # a run too long to read as one topic is split at 的 into its parts
            parts = [run] if len("".join(run)) <= TOPIC_CHARS else _split(run, "的")
            for part in parts:
                words = [w for w in part if w != "的"]
                if not words or len("".join(part)) > TOPIC_CHARS:
                    words = words[-1:]
                    part = words
                value = score(words)
                if value > best_score:
                    best, best_score = "".join(part), value
        return best

    # ------------------------------------------------------------------ after an answer
    def follow_ups(self, answer: Answer, question: str) -> list[str]:
        """Up to three questions to ask next: more from the cited expert on the topic, another expert on
        the same topic, and who else spoke about it (or how the cited experts differ)."""
        topic = self.topic(_asked(answer, question), "\n".join(c.passage.text for c in answer.citations))
        cited = _speakers(c.passage.chunk.speaker for c in answer.citations)
        out: list[str] = []
        if not cited:
            return self.rewordings(answer, question)
        first = cited[0]
        out.append(f"{first}关于{topic}还谈了什么？" if topic else f"{first}的主要观点是什么？")
        others = [s for s in self._by_topic(topic) if s not in cited] if topic else []
        if others:
            out.append(f"{others[0]}如何看待{topic}？")
        if len(cited) > 1:
            out.append(f"{cited[0]}和{cited[1]}的观点有什么不同？")
        elif topic:
            out.append(f"哪些专家谈到了{topic}？")
        if len(out) < N_SUGGESTIONS:
            rest = [s for s in self.experts if s not in cited and s not in others[:1]]
            if rest:
                out.append(f"{rest[0]}的主要观点是什么？")
        return _distinct(out, question)

    # ------------------------------------------------------------------ after a refusal or a hedge
    def rewordings(self, answer: Answer, question: str) -> list[str]:
        """Two or three questions the document can answer: the experts whose passages were closest, asked
        about the part of the question the passages hold (or their main view)."""
        asked = _asked(answer, question)
        joined = "\n".join(p.text.lower() for p in answer.passages).replace(" ", "")
        topic = self.topic(asked, joined)
        held = topic if topic and self.retriever.found(topic, joined) >= 0.5 else ""
        if not held and not mostly_english(asked):  # the most specific noun of the question the passages hold
            nouns = [w for w, f in _pos(self.retriever.directory.strip_names(asked)) if f.startswith(_NOUNISH)
                     and w not in _FRAME and w not in self._stop and self.retriever.found(w, joined) >= 1.0]
            held = max(nouns, key=self._score) if nouns else ""
        closest = _speakers(p.chunk.speaker for p in answer.passages)
        if held:
            closest = closest or self._by_topic(held)
        out = [f"{s}如何看待{held}？" if held else f"{s}的主要观点是什么？" for s in closest[:2]]
        if held:
            out.append(f"哪些专家谈到了{held}？")
        elif len(out) < 2:
            out += [f"{s}的主要观点是什么？" for s in self.experts if s not in closest][: 2 - len(out)]
        return _distinct(out, question)

    def _by_topic(self, topic: str) -> list[str]:
        """Experts whose statements hold ``topic`` (or most of its words), most mentions first."""
        r = self.retriever
        counts: dict[str, float] = {}
        for c in r.chunks:
            if c.speaker in self.experts and c.kind == "text":
                counts[c.speaker] = counts.get(c.speaker, 0.0) + r.found(topic, c.text.lower())
        return [s for s in sorted(counts, key=lambda s: -counts[s]) if counts[s] >= 1.0]

    # ------------------------------------------------------------------ the experts view
    def profiles(self) -> list[Profile]:
        if self._profiles is None:
            self._profiles = [self._profile(s) for s in self.experts]
        return self._profiles

    def _profile(self, speaker: str) -> Profile:
        r = self.retriever
        sections = r.index.stats()["sections"]
        section = next((s for s in sections if s["speaker"] == speaker), None)
        chunks = [c for c in r.chunks if c.speaker == speaker and c.kind == "text"]
        title = section["title"] if section else (chunks[0].title if chunks else "")
        affiliation = section["affiliation"] if section else r.directory.affiliation.get(speaker, "")
        weights = r.weights([w for w in r.question_words(title) if w not in _FRAME])
        total = sum(weights.values()) or 1.0
        scored: list[tuple[float, int, str, Chunk]] = []
        seen: set[str] = set()
        for n, c in enumerate(chunks):
            for a, b in sentence_spans(c.text):
                s = c.text[a:b]
                if s in seen or not (16 <= len(s) <= 120) or not _CLAIM_END.search(s) or _CLAIM_OPENER.match(s):
                    continue
                seen.add(s)
                cover = sum(wt * r.found(w, s.lower()) for w, wt in weights.items()) / total
                scored.append((cover, n, s, c))
        scored.sort(key=lambda t: (-t[0], t[1]))
        claims: list[Claim] = []
        used: set[int] = set()
        for _, _, s, c in scored:
            if c.paragraph in used:
                continue
            used.add(c.paragraph)
            claims.append(Claim(s, c))
            if len(claims) == 3:
                break
        claims.sort(key=lambda cl: (cl.chunk.paragraph, cl.chunk.start))
        return Profile(speaker, affiliation, title, tuple(claims))


def _asked(answer: Answer, question: str) -> str:
    """The question as it was searched: a follow-up's reading (王蕴：本质) without the expert part."""
    if answer.interpreted:
        return answer.interpreted.split("：", 1)[-1]
    return question


def _speakers(names: Iterable[str]) -> list[str]:
    """Distinct experts in order (the editors and an unknown speaker left out)."""
    return [s for s in dict.fromkeys(names) if s not in (EDITORIAL_SPEAKER, UNKNOWN_SPEAKER)]


def _split(run: list[str], sep: str) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in run:
        if w == sep:
            out.append([])
        else:
            out[-1].append(w)
    return [p for p in out if p]


def _distinct(questions: list[str], asked: str) -> list[str]:
    norm = re.sub(r"\W", "", asked)
    out: list[str] = []
    for q in questions:
        if re.sub(r"\W", "", q) != norm and q not in out:
            out.append(q)
    return out[:N_SUGGESTIONS]
