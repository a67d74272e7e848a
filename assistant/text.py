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
