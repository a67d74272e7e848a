"""The values passed between pipeline stages, defined in one place.

document --parse--> Section --chunk--> Chunk --index/retrieve--> Passage
--answer--> Answer (Citation, SentenceCheck, Timings)

All are frozen dataclasses: a stage returns new values, it never edits old ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

UNKNOWN_SPEAKER = "未知"
EDITORIAL_SPEAKER = "编者按"


@dataclass(frozen=True)
class Section:
    """One speaker's statement (or the editorial introduction) with clean text.

    ``text`` is the paragraphs joined by newlines; ``paragraphs`` holds the same
    paragraphs, so ``"\\n".join(paragraphs) == text``.
    """

    index: int
    speaker: str
    affiliation: str
    title: str
    paragraphs: tuple[str, ...]
    source: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class Document:
    """A parsed source: its title and its sections, in document order."""

    title: str
    sections: tuple[Section, ...]
    source: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned span of one section's clean text.

    ``text == section.text[start:end]`` always holds.
    """

    id: str
    text: str
    speaker: str
    affiliation: str
    title: str
    section: int
    paragraph: int
    start: int
    end: int
    source: str = ""
    # "text": a slice of the section's text; "profile": the speaker's byline (name, affiliation, title) as
    # printed above the statement; "overview": the document's list of speakers, in order (from the bylines)
    kind: str = "text"

    @property
    def locator(self) -> str:
        """Where in the statement this chunk is, for a reader: 第 3 段, or the byline."""
        if self.kind == "profile":
            return "署名与题目"
        if self.kind == "overview":
            return "发言人一览（据各篇署名）"
        return f"第 {self.paragraph + 1} 段"

    def metadata(self) -> dict[str, Any]:
        meta = asdict(self)
        meta.pop("text")
        meta.pop("id")
        return meta


@dataclass(frozen=True)
class Passage:
    """A chunk as retrieval returns it: with a fused score and its rank signals."""

    chunk: Chunk
    score: float
    dense: float = 0.0
    lexical: float = 0.0

    @property
    def id(self) -> str:
        return self.chunk.id

    @property
    def speaker(self) -> str:
        return self.chunk.speaker

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True)
class Signals:
    """What retrieval measured about how well the passages match the question (the decide step's input)."""

    coverage: float = 0.0  # specificity-weighted share of the question's words found in the passages
    dense: float = 0.0  # best cosine similarity of the question to a passage
    lexical: float = 0.0  # best BM25 score
    agree: float = 0.0  # 1 if the dense and the lexical ranking put the same passage first
    words: int = 0  # content words the question has
    english: bool = False
    routed: bool = False  # the question names experts (or asks across them): passages are read together
    key_found: float = 0.0  # how far the question's most specific word is found in the passages
    missing: float = 0.0  # the specificity (/20) of the most specific word no passage holds
    sentence: float = 0.0  # the best coverage of the question's words by one sentence of the passages
    answer_type: float = 1.0  # 0 when the question asks for a number, time or place its best sentences lack

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Unsaid:
    """The question asks one expert about something their statement never mentions, and others' do
    (张辉对人口老龄化咋看, when 人口老龄化 is only in another statement): the words, and who does say them."""

    speaker: str
    words: tuple[str, ...]  # in the question's order
    said_by: tuple[str, ...]  # who mentions ``key``, the most specific of them
    key: str = ""


BYLINES_ENGINE = "bylines"  # Answer.model of an answer quoted from the speakers' bylines with an LLM configured


@dataclass(frozen=True)
class SpeakerQuestion:
    """A question about the speakers themselves (bylines.py): of what kind, and whose bylines answer it (in the
    order they spoke)."""

    kind: str  # person | position | filter | roster
    speakers: tuple[str, ...]
    reason: str
    places: tuple[int, ...] = ()  # for "position": the place each of ``speakers`` spoke in (1 = first)
    anchor: str = ""  # for "position" relative to a named speaker (X前面那位): X, whose byline is shown too
    anchor_place: int = 0  # and X's place


@dataclass(frozen=True)
class Retrieval:
    """What the retriever hands to the answer step."""

    question: str
    passages: tuple[Passage, ...]
    confidence: float  # how likely the passages answer the question, in [0, 1] (decide.confidence)
    speakers: tuple[str, ...] = ()  # experts the question names
    across: bool = False  # the question asks across experts
    notice: str = ""  # e.g. "question truncated to 2000 characters"
    signals: Signals = field(default_factory=Signals)
    # a question typed in pinyin is searched in Chinese words: ``question`` is that reading, this is True
    read_as_chinese: bool = False
    # a question across the experts (谁提到了X): the word it asks about, when some experts' statements have it
    # (their passages come first, and an answer across them quotes the sentences that have it)
    mentioned: str = ""
    # ... and the editors' introduction has it too, and counts (有谁提到X; not 哪几位专家提到X)
    mentioned_editors: bool = False
    # a question about the speakers themselves (几位专家发言, 金碚是谁): the passages are the bylines that answer it
    about_speakers: SpeakerQuestion | None = None


@dataclass(frozen=True)
class Citation:
    marker: int
    passage: Passage

    def to_json(self) -> dict[str, Any]:
        c = self.passage.chunk
        return {
            "marker": self.marker,
            "id": c.id,
            "speaker": c.speaker,
            "affiliation": c.affiliation,
            "title": c.title,
            "paragraph": c.paragraph,
            "kind": c.kind,
            "locator": c.locator,
            "text": c.text,
        }


@dataclass(frozen=True)
class SentenceCheck:
    """One answer sentence and the grounding check's verdict on it."""

    text: str
    markers: tuple[int, ...]
    verdict: str  # supported | weak | unsupported | uncited | unverifiable (English: nothing contradicts it)
    score: float = 0.0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "markers": list(self.markers), "verdict": self.verdict,
                "score": round(self.score, 3), "reason": self.reason}


@dataclass(frozen=True)
class Timings:
    retrieval_ms: float = 0.0
    first_token_ms: float = 0.0
    total_ms: float = 0.0
    condense_ms: float = 0.0  # rewriting a follow-up as a standalone question (LLM engines)

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    model: str
    sentences: tuple[SentenceCheck, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings: Timings = field(default_factory=Timings)
    notice: str = ""
    # an LLM's raw reply, before post-processing (also when it was replaced or refused); "" for extractive
    model_text: str = ""
    # the router's call: "answer", "hedge" (the closest passages, said to be indirect) or "refuse",
    # with the retrieval confidence it was made on and a short reason
    decision: str = "answer"
    confidence: float = 0.0
    reason: str = ""
    # the question as it was searched (a follow-up's standalone form), when it differs from ``question``
    interpreted: str = ""
    # the chat messages an LLM was sent for this answer (empty for the extractive engine): a follow-up in the
    # same chat continues this conversation, so a backend that keeps its KV state evaluates only the new turn
    messages: tuple[dict[str, str], ...] = field(default=(), compare=False, repr=False)

    @property
    def supported_share(self) -> float:
        if not self.sentences:
            return 1.0 if self.abstained else 0.0
        return sum(s.verdict == "supported" for s in self.sentences) / len(self.sentences)

    def to_json(self, id: str = "") -> dict[str, Any]:
        return {
            "id": id,
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "model": self.model,
            "citations": [c.to_json() for c in self.citations],
            "sentences": [s.to_json() for s in self.sentences],
            "timings": self.timings.to_json(),
            "notice": self.notice,
            "decision": self.decision,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "interpreted": self.interpreted,
            "passages": [{"rank": n, "id": p.id, "speaker": p.speaker, "affiliation": p.chunk.affiliation,
                          "title": p.chunk.title, "paragraph": p.chunk.paragraph, "text": p.text,
                          "score": round(p.score, 5)} for n, p in enumerate(self.passages, 1)],
            **({"model_text": self.model_text} if self.model_text else {}),
        }
