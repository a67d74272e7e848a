"""Small text helpers shared by the parser, the chunker and the grounding check."""

from __future__ import annotations

import re
import unicodedata

# Sentence ends: Chinese and (as the PDF extraction left them) ASCII forms.
SENTENCE_END = "。！？；!?;"
_CLOSERS = "”’」』）)》】\"'"
_SENT_RE = re.compile(rf"[^{re.escape(SENTENCE_END)}\n]*(?:[{re.escape(SENTENCE_END)}]+[{re.escape(_CLOSERS)}]*|\n|$)")


def is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def width(s: str) -> int:
    """Display width: CJK and full-width characters count 2, others 1."""
    return sum(2 if is_wide(c) else 1 for c in s)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, split after 。！？； (and ASCII ?!;) and at line ends.

    Closing quotes stay with their sentence; leading whitespace is skipped, so
    ``text[start:end]`` is a sentence without surrounding spaces.
    """
    spans = []
    for m in _SENT_RE.finditer(text):
        s, e = m.span()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


def compact(s: str) -> str:
    """Remove all whitespace (how the gold evidence is compared)."""
    return re.sub(r"\s+", "", s)


def clean_question(q: str) -> str:
    """Drop control characters and collapse whitespace in a user's question."""
    q = "".join(c for c in q if not (unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t"))
    return re.sub(r"\s+", " ", q).strip()


def has_content(q: str) -> bool:
    """True if the text has at least one letter, digit or CJK character."""
    return any(c.isalnum() or is_cjk(c) for c in q)


def mostly_english(q: str) -> bool:
    letters = sum(c.isascii() and c.isalpha() for c in q)
    cjk = sum(is_cjk(c) for c in q)
    return letters > 3 * cjk and letters >= 3


def other_language(q: str) -> bool:
    """True if the question has more letters of another script (kana, hangul, Cyrillic, accented
    Latin, ...) than Chinese characters: the answer will still be in Chinese or English."""
    if any("\u3040" <= c <= "\u30ff" or "\uac00" <= c <= "\ud7af" for c in q):  # kana, hangul
        return True
    other = sum(c.isalpha() and not c.isascii() and not is_cjk(c) for c in q)
    return other > sum(is_cjk(c) for c in q) and other >= 2


def weighted_overlap(sentence: str, weights: dict[str, float]) -> float:
    """Sum of the weights of the question words found in ``sentence`` (case-insensitive)."""
    low = sentence.lower()
    return sum(w for word, w in weights.items() if word in low)


GAP = "……"


def excerpt(text: str, weights: dict[str, float], budget: int, shown: set[str] | None = None) -> str:
    """The sentences of ``text`` that best match the question, in their original order, within
    ``budget`` characters; omitted stretches become "……". ``budget <= 0`` keeps the whole text.

    Every kept sentence is verbatim, so a sentence cited from the excerpt is in the passage; the
    best sentence is kept even when it alone is longer than the budget. ``shown`` holds the (compacted)
    sentences earlier passages of the same prompt already show (overlapping chunks repeat their
    edges): they are left out unless nothing else is left, and the kept ones are added to it."""
    spans = sentence_spans(text) or [(0, len(text))]
    seen = shown if shown is not None else set()
    fresh = [i for i in range(len(spans)) if compact(text[slice(*spans[i])]) not in seen] or list(range(len(spans)))
    if (budget <= 0 or len(text) <= budget) and len(fresh) == len(spans):
        seen.update(compact(text[slice(*s)]) for s in spans)
        return text
    budget = budget if budget > 0 else len(text)
    ranked = sorted(fresh, key=lambda i: (-weighted_overlap(text[slice(*spans[i])], weights), i))
    keep: list[int] = []
    used = 0
    for i in ranked:
        a, b = spans[i]
        if used + (b - a) <= budget or not keep:
            keep.append(i)
            used += b - a
    keep.sort()
    seen.update(compact(text[slice(*spans[i])]) for i in keep)
    parts: list[str] = []
    end = 0
    for i in keep:
        a, b = spans[i]
        if a > end and text[end:a].strip():
            parts.append(GAP)
        parts.append(text[a:b])
        end = b
    if text[end:].strip():
        parts.append(GAP)
    return "".join(parts).strip()
