"""Every answer sentence checked against the passages it cites, offline, with no LLM judge.

A sentence is *supported* only if it is well covered by its cited passages
(character bigrams, after removing attribution framing) **and**
* every number and year in it appears in a cited passage,
* every expert it names is the speaker of a cited passage,
* every quoted span (「…」, “…”) is found verbatim,
* no negation is present on one side only (against the best-aligned passage sentence),
* no antonym of the aligned sentence's wording replaces it (提高/降低, 超过/低于 …).

Coverage alone is not enough: a reversed or negated claim overlaps its passage
more than a faithful paraphrase does. Thresholds are calibrated on the labelled
pairs in ``tests/test_grounding.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from .text import SENTENCE_END, compact, sentence_spans
from .types import Passage, SentenceCheck

MARKER_RE = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、;；]\s*\d+)*)\s*[\]】]")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_QUOTE_RE = re.compile(r"「([^」]{2,})」|“([^”]{2,})”|\"([^\"]{2,})\"|『([^』]{2,})』")
_NEGATIONS = ("不是", "并非", "而不是", "没有", "并不", "从未", "不再", "未能", "无法", "不能", "不会", "不要", "不必",
              "不", "没", "未", "非", "无", "别")
_ANTONYMS = [("提高", "降低"), ("增加", "减少"), ("上升", "下降"), ("扩大", "缩小"), ("超过", "低于"),
             ("领先", "落后"), ("加快", "放缓"), ("增强", "削弱"), ("支持", "反对"), ("鼓励", "限制"),
             ("第一", "第二"), ("最高", "最低"), ("重视", "忽视"), ("开放", "封闭"), ("允许", "禁止"),
             ("优势", "劣势"), ("成功", "失败"), ("高", "低"), ("多", "少"), ("强", "弱"), ("快", "慢"),
             ("大", "小")]
_FRAMING = ("认为", "指出", "提到", "表示", "强调", "谈到", "提出", "主张", "说", "据", "根据", "资料", "文件",
            "according to", "said", "says", "argues", "notes")
SUPPORTED, WEAK, UNSUPPORTED, UNCITED = "supported", "weak", "unsupported", "uncited"
SUPPORT_MIN = 0.6
WEAK_MIN = 0.35
ORDER_MIN = 0.75


def parse_markers(text: str) -> tuple[str, tuple[int, ...]]:
    """(text without markers, marker numbers in order of appearance, each once)."""
    found: list[int] = []
    for m in MARKER_RE.finditer(text):
        for n in re.split(r"[,，、;；]", m.group(1)):
            if n.strip().isdigit() and int(n) not in found:
                found.append(int(n))
    return MARKER_RE.sub("", text).strip(), tuple(found)


def _markers_before_ends(text: str) -> str:
    """Move markers that follow a sentence end in front of it: "…发展。[1]" -> "…发展[1]。"."""
    ends = re.escape(SENTENCE_END + ".")
    return re.sub(rf"([{ends}][”’」』）)》】\"']*)((?:\s*{MARKER_RE.pattern})+)", r"\2\1", text)


def split_answer(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Answer sentences with their markers; markers after a sentence end belong to that sentence."""
    moved = _markers_before_ends(text)
    out = []
    for s, e in sentence_spans(moved):
        piece = moved[s:e]
        for part in re.split(r"(?<=[a-z\]】)][.!?])\s+(?=[A-Z])", piece):
            body, markers = parse_markers(part)
            if _content(body):
                out.append((body, markers))
    return out


def _content(s: str) -> str:
    """Letters, digits and CJK only, lower-cased, NFKC."""
    s = unicodedata.normalize("NFKC", s).lower()
    return "".join(c for c in s if c.isalnum())


def _bigrams(s: str) -> set[str]:
    c = _content(s)
    return {c[i:i + 2] for i in range(len(c) - 1)} if len(c) > 1 else ({c} if c else set())


def _numbers(s: str) -> set[str]:
    s = unicodedata.normalize("NFKC", s)
    s = re.sub(r"(\d)\s*\.\s*(\d)", r"\1.\2", s)
    s = re.sub(r"(?<=\d),(?=\d{3})", "", s)
    return set(_NUMBER_RE.findall(s))


_NEUTRAL = ("不断", "不仅", "无论", "不少", "非常", "无形", "未来", "非物质", "不可忽视", "不同", "不一样", "别人",
            "无边", "差别", "特别", "分别", "非洲", "未有", "不了", "不如", "不管", "无数", "并不受")
_NEG_RE = re.compile("(?:" + "|".join(map(re.escape, _NEGATIONS)) + r")(?:是|再|能|会|要|必|有|曾)?(.{2})")


def _negated(s: str) -> set[str]:
    """The two characters each negation applies to: 不是忽视 -> 忽视, 并非创新 -> 创新."""
    for w in _NEUTRAL:
        s = s.replace(w, "\u0000" * len(w))
    return {m.group(1) for m in _NEG_RE.finditer(s) if "\u0000" not in m.group(1)}


def _negation_mismatch(body: str, aligned: str) -> str:
    """A phrase negated on one side and stated plainly on the other."""
    for phrase in _negated(aligned) - _negated(body):
        if phrase in body:
            return phrase
    for phrase in _negated(body) - _negated(aligned):
        if phrase in aligned:
            return phrase
    return ""


def _order_agreement(body: str, aligned: str) -> float:
    """Share of pairs of shared bigrams that keep their order (1.0 = same order)."""
    a, b = _content(body), _content(aligned)
    pos_a = {a[i:i + 2]: i for i in range(len(a) - 1) if a.count(a[i:i + 2]) == 1}
    pos_b = {b[i:i + 2]: i for i in range(len(b) - 1) if b.count(b[i:i + 2]) == 1}
    shared = sorted((pos_a[g], pos_b[g]) for g in pos_a.keys() & pos_b.keys())
    pairs = agree = 0
    for i in range(len(shared)):
        for j in range(i + 1, len(shared)):
            pairs += 1
            agree += shared[j][1] > shared[i][1]
    return agree / pairs if pairs >= 6 else 1.0


def _best_aligned(sentence: str, passages: Sequence[Passage]) -> str:
    grams = _bigrams(sentence)
    best, score = "", -1.0
    for p in passages:
        for a, b in sentence_spans(p.text):
            cand = p.text[a:b]
            sc = len(grams & _bigrams(cand)) / (len(grams) or 1)
            if sc > score:
                best, score = cand, sc
    return best


def check_sentence(text: str, markers: Sequence[int], passages: Sequence[Passage],
                   experts: Iterable[str] = ()) -> SentenceCheck:
    """The verdict on one answer sentence, given the passages (numbered from 1) it may cite."""
    cited = [passages[m - 1] for m in markers if 1 <= m <= len(passages)]
    if not cited:
        return SentenceCheck(text, tuple(markers), UNCITED, 0.0, "no citation")
    source = "\n".join(p.text for p in cited)
    body = text
    for p in cited:
        for piece in (p.chunk.speaker, p.chunk.affiliation, p.chunk.title):
            if piece:
                body = body.replace(piece, " ")
    for f in _FRAMING:
        body = re.sub(re.escape(f), " ", body, flags=re.IGNORECASE)
    grams = _bigrams(body)
    if len(_content(body)) < 2:  # "吕薇认为……": a name and a framing verb, no claim
        return SentenceCheck(text, tuple(markers), UNSUPPORTED, 0.0, "no claim beyond the expert's name")
    src_grams = _bigrams(source)
    score = len(grams & src_grams) / len(grams)

    reason = ""
    missing = _numbers(text) - _numbers(source)
    speakers = {p.chunk.speaker for p in cited}
    wrong = [e for e in experts if e in compact(text) and e not in speakers]
    quotes = [next(g for g in m.groups() if g) for m in _QUOTE_RE.finditer(text)]
    bad_quote = [q for q in quotes if compact(q) not in compact(source)]
    if missing:
        reason = f"number not in the cited passage: {', '.join(sorted(missing))}"
    elif wrong:
        reason = f"names {', '.join(wrong)}, who is not the cited passage's speaker"
    elif bad_quote:
        reason = f"quoted text not found in the cited passage: {bad_quote[0][:20]}"
    else:
        aligned = _best_aligned(body, cited)
        flipped = _negation_mismatch(body, aligned)
        if flipped:
            reason = f"negation differs from the cited passage (at {flipped!r})"
        elif _order_agreement(body, aligned) < ORDER_MIN:
            reason = "the claim's order is reversed against the cited passage"
        else:
            for a, b in _ANTONYMS:
                for x, y in ((a, b), (b, a)):
                    if x in body and x not in source and y in aligned and y not in body:
                        reason = f"says {x!r} where the cited passage says {y!r}"
                        break
                if reason:
                    break
    if reason:
        return SentenceCheck(text, tuple(markers), UNSUPPORTED, score, reason)
    if score >= SUPPORT_MIN:
        return SentenceCheck(text, tuple(markers), SUPPORTED, score, "")
    if score >= WEAK_MIN:
        return SentenceCheck(text, tuple(markers), WEAK, score, "partly covered by the cited passage")
    return SentenceCheck(text, tuple(markers), UNSUPPORTED, score, "not covered by the cited passage")


def attribute(answer: str, passages: Sequence[Passage], experts: Iterable[str] = (), *,
              require_all: bool = True) -> tuple[str, int] | None:
    """Cite the sentences a model left without markers: each gets the one passage that supports it
    best, by the same check. Returns (text, markers added).

    ``require_all`` (an answer with no markers at all): None unless every sentence is supported,
    so that an answer from the model's own knowledge is never dressed up with citations. Otherwise
    sentences with no supporting passage stay uncited, to be flagged."""
    experts = list(experts)
    text = _markers_before_ends(answer)
    out: list[str] = []
    end = added = 0
    for s, e in sentence_spans(text):
        piece = text[s:e]
        if MARKER_RE.search(piece) or not _content(MARKER_RE.sub("", piece)):
            continue
        checks = [check_sentence(piece, (n,), passages, experts) for n in range(1, len(passages) + 1)]
        best = max(((c.score, -n) for n, c in enumerate(checks, 1) if c.verdict == SUPPORTED), default=None)
        if best is None:
            if require_all:
                return None
            continue
        out.append(f"{text[end:e]}[{-best[1]}]")
        end = e
        added += 1
    if not added:
        return None if require_all else (answer, 0)
    return "".join(out) + text[end:], added


def check_answer(answer: str, passages: Sequence[Passage], experts: Iterable[str] = ()) -> list[SentenceCheck]:
    experts = list(experts)
    return [check_sentence(t, m, passages, experts) for t, m in split_answer(answer)]
