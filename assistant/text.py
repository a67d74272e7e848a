"""Small text helpers shared by the parser, the chunker and the grounding check."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Hashable, Sequence

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


_CONVERT: dict[str, Callable[[str], str]] = {}
_OPENCC = {"simplified": "t2s", "traditional": "s2t"}


def in_script(text: str, script: str) -> str:
    """``text`` in ``script`` ("simplified" or "traditional") by OpenCC's character and phrase tables (t2s,
    s2t; no regional vocabulary swaps such as 軟體→软件: tw2sp also rewrites words a simplified text means
    as they are, 核心→内核). Text already in that script comes back as it was, but for the few characters
    that are both and that the tables convert outside their phrases (t2s: 乾 in 乾清宫, the surname 於)."""
    if script not in _OPENCC or not any(is_cjk(c) for c in text):
        return text
    if script not in _CONVERT:  # loaded on first use (a few ms), not at import
        from opencc import OpenCC

        _CONVERT[script] = OpenCC(_OPENCC[script]).convert
    # the converter's time grows faster than the text (1 MB: 45 s), so it gets clause-sized pieces (a phrase
    # of its tables does not cross punctuation); time is then linear in the text
    return "".join(_CONVERT[script](piece) for piece in _PIECE_RE.findall(text))


_PIECE_RE = re.compile(r"[^。！？；，、,.!?;\s]{0,200}[。！？；，、,.!?;\s]?", re.DOTALL)


def simplified(text: str) -> str:
    return in_script(text, "simplified")


def script_of(text: str) -> str:
    """"traditional" when more than 1 in 20 of the text's Chinese characters change in simplified ones,
    else "simplified" (a simplified text changes in almost none, a traditional one in a fifth or more)."""
    cjk = [c for c in text if is_cjk(c)]
    if not cjk:
        return "simplified"
    plain = simplified("".join(cjk))
    changed = sum(a != b for a, b in zip(cjk, plain, strict=False)) + abs(len(plain) - len(cjk))
    return "traditional" if changed > len(cjk) / 20 else "simplified"


_ESCAPE_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def clean_question(q: str) -> str:
    """Drop terminal escape sequences (ESC [ 31 m: their digits are no part of the question) and control
    characters, and collapse whitespace in a user's question."""
    q = _ESCAPE_RE.sub(" ", q)
    q = "".join(c for c in q if not (unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t"))
    return re.sub(r"\s+", " ", q).strip()


def has_content(q: str) -> bool:
    """True if the text has at least one letter, digit or CJK character."""
    return any(c.isalnum() or is_cjk(c) for c in q)


def mostly_english(q: str) -> bool:
    """Latin letters outnumber Chinese characters three to one, and they are not Chinese typed in pinyin."""
    letters = sum(c.isascii() and c.isalpha() for c in q)
    cjk = sum(is_cjk(c) for c in q)
    if not (letters > 3 * cjk and letters >= 3):
        return False
    from .lexical import romanised_chinese

    return not romanised_chinese(q)


def other_language(q: str) -> bool:
    """True if the question has more letters of another script (kana, hangul, Cyrillic, accented
    Latin, ...) than Chinese characters: the answer will still be in Chinese or English."""
    if any("\u3040" <= c <= "\u30ff" or "\uac00" <= c <= "\ud7af" for c in q):  # kana, hangul
        return True
    other = sum(c.isalpha() and not c.isascii() and not is_cjk(c) for c in q)
    return other > sum(is_cjk(c) for c in q) and other >= 2


GAP = "……"
QUESTION_RUN = 3  # the most sentences a question the speaker asks brings with it (the run up to its answer)
_ASKS = re.compile(rf"[？?][！!]*[{re.escape(_CLOSERS)}]*$")  # a sentence that asks (…吗？！ …？”)
RANK_PRIOR = 0.5  # how much more a sentence of the first passage weighs than one of the last, in an excerpt


def _shown_in(sentence: str, shown: str) -> bool:
    """The (compacted) sentence is in the conversation's text; a short one only as a sentence of its own,
    not as a piece of a longer one."""
    if len(sentence) >= 8:
        return sentence in shown
    return bool(re.search(rf"(^|[。！？；…]){re.escape(sentence)}", shown))


def excerpts(passages: Sequence[tuple[str, Hashable]], score: Callable[[str], float], budget: int,
             shown: str = "", by: Callable[[Hashable], Hashable] | None = None) -> list[str]:
    """What an LLM is shown of each passage: the sentences that best match the question, across all the
    passages together, within ``budget`` characters (``budget <= 0``: whole passages), each passage's in
    their original order with omitted stretches marked "……".

    ``passages`` are (text, speech) pairs in rank order; ``score`` rates a sentence against the question.
    Each passage keeps its best sentence; the rest of the budget goes to the best-matching sentences
    wherever they are (a higher-ranked passage's a little more), so a passage that matches in one sentence
    does not take the room of one that matches in three. A sentence an earlier passage of the same
    speech already shows (overlapping chunks repeat their edges) is left out, unless nothing else of the
    passage is left; another speaker quoting the same words keeps them. A sentence already in ``shown`` (the
    compacted text of a conversation's earlier turns) is never repeated: a passage with nothing else to show
    gets "". Every kept sentence is verbatim, so a sentence cited from an excerpt is in the passage.

    A sentence that asks a question comes with the sentence after it (through a run of questions, up to
    ``QUESTION_RUN`` in all), its answer, when the passage has it to show: a passage's best sentence may
    so go over the budget by its answer. An answer only another passage shows (an overlap), or past the
    passage's end, does not come.

    ``by`` (a speech -> its speaker) shares the budget among the speakers a question compares: the sentences
    that match the question at all are taken each speaker's best in turn, then each one's second best, and so
    on (each passage's best sentence, kept first, counts as its speaker's turn), then the rest by score, so the
    speaker whose passages rank first does not take the room of the other's."""
    spans = [sentence_spans(text) or [(0, len(text))] for text, _ in passages]
    keys = [[compact(text[slice(*sp)]) for sp in sps] for (text, _), sps in zip(passages, spans, strict=True)]
    fresh: list[list[int]] = []
    by_speech: dict[Hashable, set[str]] = {}
    for (_, speech), ks in zip(passages, keys, strict=True):
        seen = by_speech.setdefault(speech, set())
        new = [i for i, k in enumerate(ks) if not (shown and k and _shown_in(k, shown))]
        mine = [i for i in new if ks[i] not in seen] or (new if not shown else [])
        seen.update(ks[i] for i in mine)
        fresh.append(mine)
    if budget <= 0:
        keep = {(n, i) for n, mine in enumerate(fresh) for i in mine}
    else:
        k = len(passages)
        scored = sorted(((score(passages[n][0][slice(*spans[n][i])]) * (1 + RANK_PRIOR * (k - n) / k), n, i)
                         for n, mine in enumerate(fresh) for i in mine), key=lambda t: (-t[0], t[1], t[2]))
        if by is not None:  # the sentences that match take turns by speaker; the rest come after, by score
            turn: dict[Hashable, int] = {}
            place = []
            for t in scored:
                who = by(passages[t[1]][1])
                turn[who] = turn.get(who, -1) + (t[0] > 0)
                place.append(turn[who] if t[0] > 0 else math.inf)
            scored = [t for _, t in sorted(zip(place, scored, strict=True), key=lambda pt: pt[0])]

        def unit(n: int, i: int) -> list[int]:
            # a question the speaker asks ("为什么一直强调……?") comes with what follows it up to its answer: the
            # next sentence, or through a run of questions (要不要改变? 如何改变? 这……), at most QUESTION_RUN
            out = [i]
            while _ASKS.search(passages[n][0][slice(*spans[n][out[-1]])]) and len(out) < QUESTION_RUN \
                    and out[-1] + 1 in fresh[n]:
                out.append(out[-1] + 1)
            return out

        keep, used, seeded = set(), 0, set()
        for _, n, i in scored:  # each passage's best sentence first
            if n not in seeded:
                seeded.add(n)
                for j in unit(n, i):
                    keep.add((n, j))
                    used += spans[n][j][1] - spans[n][j][0]
        for _, n, i in scored:
            add = [j for j in unit(n, i) if (n, j) not in keep]
            size = sum(spans[n][j][1] - spans[n][j][0] for j in add)
            if (n, i) not in keep and used + size <= budget:
                keep.update((n, j) for j in add)
                used += size
    out = []
    for n, (text, _) in enumerate(passages):
        if not fresh[n]:
            out.append("")
            continue
        parts: list[str] = []
        end = 0
        for i, (a, b) in enumerate(spans[n]):
            if (n, i) not in keep:
                continue
            if a > end and text[end:a].strip():
                parts.append(GAP)
            parts.append(text[a:b])
            end = b
        if text[end:].strip():
            parts.append(GAP)
        out.append("".join(parts).strip())
    return out

