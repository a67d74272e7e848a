"""Every answer sentence checked against the passages it cites: claim by claim, offline.

A sentence is *supported* only if each of its content units (``claims.py``) is found in the cited
passages, bound the same way:
* every content word is there (itself, a thesaurus synonym, or most of its characters), every name
  exactly; a missing one is named in the reason;
* every number is there with the same words beside it (two numbers swapped between the nouns
  they count is a mismatch; "5%" is not "5G");
* against the passage clause the claim clause aligns with: the same negation scope, no comparative or
  quantifier class the passage lacks or reverses (超过/不足, 首次/再次), no antonym of its wording, the same
  side of a definition (X 是 Y: the Y bound to X), and the same roles (A 引领 B is not B 引领 A);
* the experts it names are the speakers of the cited passages (attribution framing such as 认为/指出
  and the speaker's own name and affiliation are not claims).
English sentences over Chinese passages: numbers, pinyin names and quoted Chinese are checked; a
contradiction is *unsupported*, the rest *unverifiable*. An optional ``judge`` (an LLM asked an
entailment question) can only take support away.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from . import align, claims, lexicon
from .text import SENTENCE_END, mostly_english, sentence_spans
from .types import EDITORIAL_SPEAKER, Passage, SentenceCheck

MARKER_RE = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、;；]\s*\d+)*)\s*[\]】]")
SUPPORTED, WEAK, UNSUPPORTED, UNCITED = "supported", "weak", "unsupported", "uncited"
MIN_MATCHED = 0.6  # a claim most of whose content words the passage lacks is not supported, whatever else holds
UNVERIFIABLE = "unverifiable"  # an English sentence nothing contradicts: it cannot be matched to the Chinese
# WEAK (partly covered) is no longer given by this check; the name stays for the verdicts already stored
# (sentence, texts of the cited passages) -> True if the passages entail the sentence
Judge = Callable[[str, Sequence[str]], bool]
numbers = claims.numbers
_numbers = numbers  # the pipeline's name for it; use ``numbers``
_QUOTE_RE = re.compile(r"「([^」]{2,})」|“([^”]{2,})”|\"([^\"]{2,})\"|『([^』]{2,})』")


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


def answer_spans(text: str) -> tuple[str, list[tuple[int, int, str, tuple[int, ...]]]]:
    """``text`` with markers moved in front of the sentence ends they follow, and its sentences in it:
    (start, end, body without markers, markers)."""
    moved = _markers_before_ends(text)
    out = []
    for s, e in sentence_spans(moved):
        start = s
        cuts = [(s + m.start(), s + m.end()) for m in re.finditer(r"(?<=[a-z\]】)][.!?])\s+(?=[A-Z])", moved[s:e])]
        for a, b in [*cuts, (e, e)]:
            body, markers = parse_markers(moved[start:a])
            if letters(body):
                out.append((start, a, body, markers))
            start = b
    return moved, out


def split_answer(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Answer sentences with their markers; markers after a sentence end belong to that sentence."""
    return [(body, markers) for _, _, body, markers in answer_spans(text)[1]]


def letters(s: str) -> str:
    """Letters, digits and CJK only, lower-cased, NFKC."""
    s = unicodedata.normalize("NFKC", s).lower()
    return "".join(c for c in s if c.isalnum())


# ------------------------------------------------------------------------------------------- the check


def _attribution(body: str, cited: Sequence[Passage], names: Iterable[str]) -> tuple[str, str]:
    """(the body without speakers' names, affiliations and titles; a reason if it names another expert)."""
    speakers = {p.speaker for p in cited}
    source = "".join(p.text for p in cited)
    wrong = sorted({n for n in names if n and n in body and n not in speakers and n not in source})
    reason = f"names {', '.join(wrong)}, who is not the cited passage's speaker" if wrong else ""
    for piece in sorted({*names, *speakers, *(p.chunk.affiliation for p in cited), *(p.chunk.title for p in cited)},
                        key=len, reverse=True):
        for part in re.split(r"[,，、;；]", piece) if piece else ():
            if len(part.strip()) >= 2:
                body = body.replace(part.strip(), " " * len(part.strip()))
    return body, reason


def _argument(ws: Sequence[claims.Word], w: claims.Word) -> bool:
    """True if a preposition stands right before the word (以联想为例: 联想 is what the clause is about)."""
    i = next((k for k, x in enumerate(ws) if x is w), 0)
    before = [x for x in ws[:i] if x.text.strip()]
    return bool(before) and before[-1].pos.startswith("p")


def _first_n(claim: str, n: claims.Number, source: str) -> bool:
    """"前三次" (the first three) where the passage counts them off as 第一次……第三次: the same count, said as the
    range's first and last ordinals, with the same unit."""
    if n.ordinal or not n.unit or not claim[:n.start].endswith("前"):
        return False
    ordinals = {(m.value, m.unit) for m in claims.number_mentions(source) if m.ordinal}
    return {("第1", n.unit), (f"第{n.value}", n.unit)} <= ordinals


def _check_chinese(claim: str, cited: Sequence[Passage]) -> tuple[str, float, str]:
    clause_objs = [align.Clause(t, ws, i, n) for i, p in enumerate(cited) for t, ws, n in align.passage_clauses(p.text)]
    source = "\n".join(p.text for p in cited)
    source_fold = claims.fold(source + "".join(p.chunk.title for p in cited))  # a speech's title is its context
    source_numbers = claims.numbers(source)
    f: list[str] = []
    matched = total = 0
    all_words = claims.words(claims.strip_structure(claim))
    speakers = {p.speaker for p in cited}
    counted: set[int] = set()  # where the noun of a count of the cited speakers starts (两位|专家)
    for n in claims.number_mentions(claim):
        if n.unit in ("位", "名", "人") and len(speakers) > 1 and n.value == str(len(speakers)):
            counted.add(n.end)  # "两位专家都…" over two experts' passages: the count is of the speakers cited
            continue
        if n.value not in source_numbers and not _first_n(claim, n, source):
            f.append(f"number not in the cited passage: {claim[n.start:n.end]}")
    align.number_swaps(claim, clause_objs, f)
    bare = re.sub(r"\W", "", source_fold)
    for m in _QUOTE_RE.finditer(claim):
        quoted = next(g for g in m.groups() if g)
        if re.sub(r"\W", "", claims.fold(quoted)) not in bare:
            f.append(f"quoted text not in the cited passage: {quoted[:20]}")
    for a, b in claims.clauses(claim):
        ws = [w for w in all_words if a <= w.start < b]
        content = [w for w in ws if w.content]
        hits = {id(w): {k: kind for k, c in enumerate(clause_objs) if (kind := align.match(w, c.fold, c.all))}
                for w in content}
        total += len(content)
        matched += sum(1 for w in content if hits[id(w)])
        extra = [claims.fold(x) for x in (*claims.comparative_classes(ws, "才" in claim).values(),
                                          *(n.value for n in claims.number_mentions(claim[a:b])))]
        span = align.align(content, hits, clause_objs, extra) if content else None
        window = clause_objs[span[0]:span[1] + 1] if span else []
        wwords = [w for c in window for w in c.words]
        missing = [w for w in content if not hits[id(w)] and claims.fold(w.text) not in source_fold
                   and w.start - 1 not in counted and w.start not in counted]
        here = sum(1 for w in content if span and any(span[0] <= k <= span[1] for k in hits[id(w)]))
        allowed = max(1, len(content) // 3)
        # a word of degree the passage does not have, where every character of degree the aligned clauses add
        # goes the other way (增长快 against 增长率低, 强劲 against 减弱): a direction flipped in other words
        added = [(ch, d) for c in window for ch in c.text if ch not in claim[a:b] and (d := lexicon.direction(ch))]
        degrees = {d for _, d in added}
        negated = any(claims.is_negator(x.text) or x.text[0] in "不没未无非" for x in (*ws, *wwords))
        for w in content:  # (a negation on either side, 不小 for 大, turns a direction round: not compared here)
            way = lexicon.direction(w.text)
            if way and not negated and degrees == {-way} and claims.fold(w.text) not in source_fold:
                f.append(f"says {w.text!r} where the cited passage says {added[0][0]!r}")
                break
        for w in missing:
            # a paraphrase may bring a few words of its own into a clause the passage otherwise backs (交由, 旨在,
            # a shell noun such as 途径; a word of change or degree only if it shares a character with one of the
            # clause, 深化 for 深度): never a name or another noun (服务业 for 制造业), never more than a third
            near = [x for x in wwords if x.content and x.text != w.text and set(x.text) & set(w.text)]
            alone = claim[a:b].strip() == w.text and lexicon.discourse(w.text)  # "说到底，…"
            framing = all(lexicon.framing_verb(x.text) and not _argument(ws, x) for x in content) \
                and not any(claims.is_negator(x.text) or x.text in claims.COMPARATIVES for x in ws)
            if not here and (alone or framing):
                continue  # "李平回忆说，…", "说到底，…": a clause that frames the next one and claims nothing
            # a word of change or degree the passage says another way, in the same direction (走高 for 上升, 增长慢
            # for 增长率低): the aligned clauses' characters of degree that the claim's clause lacks all go that way
            way = lexicon.direction(w.text)
            same_way = way != 0 and degrees == {way}
            start = claim.rfind("从", a, w.start)
            if w.text[-1] in "向到" and start >= 0 and not w.entity \
                    and any(claims.fold(claim[start:w.start]) + "到" in c.fold for c in window):
                continue  # "从创意走向产品" for "从创意到产品": a verb of reaching in the same 从…到 frame
            # a verb or adjective used as a noun (新的挑战, 带来的困难) where the passage has a noun of its own between
            # the same words (新的机遇): a noun replaced, whatever the dictionary calls the new word
            nominal = claim[max(0, w.start - 1):w.start] == "的"  # the head of a noun phrase: 新的挑战
            # (a word the thesaurus also knows as a noun, 开支 for 成本, is a paraphrase's noun: not this rule's)
            senses = lexicon.known_words().get(w.text, ())
            verbal = not w.noun and not w.entity and not any(c[0] in "ABCD" for c in senses)
            slot = align.in_slot(content, w, wwords) if nominal and verbal else None
            if slot is not None and not lexicon.synonyms_share(w.text, slot.text) \
                    and not lexicon.related(w.text, slot.text):
                f.append(f"says {w.text!r} where the cited passage says {slot.text!r}")
                continue
            if w.entity or len(missing) > allowed or here < len(missing) \
                    or (w.noun and not lexicon.shell_noun(w.text) and not lexicon.generic_people(w.text)) \
                    or (lexicon.directional(w.text) and not near and not same_way):
                f.append(f"{w.text!r} is not in the cited passage")
        if not window or span is None:
            continue
        quoted = claims.fold(claim[a:b])
        holding = [c for c in clause_objs if quoted in c.fold] if quoted in source_fold else []
        if holding:  # quoted word for word: compared with the clause it was cut from (and what negates it there)
            window = holding[:1]
        home = (window[0].passage, window[0].sentence)
        align.compare_clause(ws, window, f, "才" in claim,
                             [c for c in clause_objs if (c.passage, c.sentence) == home])
        if holding:
            continue  # no swap of nouns or roles in a quotation, however the clause is built
        align.substitution(content, hits, span, clause_objs, f, claims.numbers(claim[a:b]))
        align.roles(ws, tuple(w for c in window for w in c.words), f)
    align.definition(claim, clause_objs, f, source_fold)
    score = matched / total if total else 0.0
    if total and score < MIN_MATCHED and not f:  # mostly words of its own: the passage does not carry it
        f.append(f"only {matched} of its {total} content words are in the cited passage")
    if f:
        return UNSUPPORTED, score, f[0]
    if not total and not claims.number_mentions(claim):
        return UNSUPPORTED, 0.0, "no claim beyond the expert's name"
    return SUPPORTED, score, ""


def check_sentence(text: str, markers: Sequence[int], passages: Sequence[Passage],
                   experts: Iterable[str] = (), judge: Judge | None = None) -> SentenceCheck:
    """The verdict on one answer sentence, given the passages (numbered from 1) it may cite."""
    cited = [passages[m - 1] for m in markers if 1 <= m <= len(passages)]
    if not cited:
        return SentenceCheck(text, tuple(markers), UNCITED, 0.0, "no citation")
    if "\ufffd" in text:  # bytes a model's tokenizer could not decode: not a sentence anyone can check
        return SentenceCheck(text, tuple(markers), UNSUPPORTED, 0.0, "the sentence has undecodable characters (�)")
    names = {*experts, EDITORIAL_SPEAKER, *(p.speaker for p in passages)}
    body, wrong = _attribution(parse_markers(text)[0], cited, names)
    if wrong:
        return SentenceCheck(text, tuple(markers), UNSUPPORTED, 0.0, wrong)
    if mostly_english(body):
        source = "\n".join(p.text for p in cited)
        reason = claims.english_contradiction(body, source, {p.speaker for p in cited}, names)
        verdict, score = (UNSUPPORTED, 0.0) if reason else (UNVERIFIABLE, 0.0)
        reason = reason or "English: numbers and names checked, the rest cannot be matched to the Chinese text"
    else:
        verdict, score, reason = _check_chinese(body, cited)
    if judge is not None and verdict in (SUPPORTED, WEAK, UNVERIFIABLE):
        if not judge(parse_markers(text)[0], [p.text for p in cited]):
            verdict, reason = UNSUPPORTED, "the judge model does not find it in the cited passage"
        elif verdict == UNVERIFIABLE:
            reason = "the judge model finds it in the cited passage; " + reason
    return SentenceCheck(text, tuple(markers), verdict, score, reason)


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
        if MARKER_RE.search(piece) or not letters(MARKER_RE.sub("", piece)):
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


def best_aligned(sentence: str, passages: Sequence[Passage]) -> str:
    """The passage sentence that shares most character pairs with an answer sentence (for highlighting)."""
    def pairs(t: str) -> set[str]:
        c = letters(t)
        return {c[i:i + 2] for i in range(len(c) - 1)}

    grams = pairs(parse_markers(sentence)[0])
    best, score = "", 0
    for p in passages:
        for a, b in sentence_spans(p.text):
            n = len(grams & pairs(p.text[a:b]))
            if n > score:
                best, score = p.text[a:b], n
    return best


_best_aligned = best_aligned  # the UI's name for it


def check_answer(answer: str, passages: Sequence[Passage], experts: Iterable[str] = (),
                 judge: Judge | None = None) -> list[SentenceCheck]:
    experts = list(experts)
    return [check_sentence(t, m, passages, experts, judge) for t, m in split_answer(answer)]
