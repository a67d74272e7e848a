"""The extractive composer: an answer made of the passages' own words, cited, with no LLM.

It leads with the one sentence (or clause run) that answers, then adds at most a few supporting
ones, grouped by speaker, bounded by the kind of question:

* one fact: the answering sentence, and a second one only when it adds a question word;
* a list (哪些/几个/分别/what three…): the enumerated items of the lead's section (一是/二是…), each cut
  to its first clause;
* across experts (哪些专家/谁/which experts) or naming several: one sentence per speaker.

Never a heading, a rhetorical question, or a sentence opening with a connective (因此/例如/however…)
whose antecedent is not shown. Every piece is verbatim from the passage it cites, so the grounding
check can verify it. Deterministic and instant; streamed piece by piece.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .claims import cn_value
from .text import sentence_spans
from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER, Passage

# a sentence that opens with one of these leans on the sentence before it (Chinese and English connectives)
_CONNECTIVE = re.compile(
    r"^(?:因此|因而|所以|为此|由此|对此|同时|此外|另外|另一方面|其次|再次|最后|例如|比如|譬如|如(?![果何今同])|但|但是|然而|而且|并且|"
    r"而|则|于是|可见|总之|换言之|也就是说|即(?![使便将时刻兴席日期插位墨食])|这|这些|这种|这样|那么|其中|与此同时|相反|反之|当然)"
    r"|^(?:therefore|thus|hence|so|however|but|moreover|also|for example|for instance|this|these|then)\b",
    re.IGNORECASE)
# the connectives that only mark how a sentence goes on from the one before (contrast, addition, example,
# consequence, order) and point at nothing in it: without them the sentence says the same on its own (unlike
# 这/其中/为此/由此/则, which name what came before)
_MARKER = re.compile(r"^(?:(?:因此|因而|所以|但是|然而|例如|比如|譬如|与此同时|而且|并且|总之|但(?![凡愿是]))[,，]?|"
                     r"(?:如|同时|此外|另外|当然|其次|再次|最后)[,，])")  # 但凡, 同时期, 另外一个, 最后一公里: words
# the markers of a sentence that adds to the one before it or goes on to the next point, and says nothing of it
# a sentence that gives an instance of the one before it (例如，进一步完善……): what a general claim comes down to
_INSTANCE = re.compile(r"^(?:例如|比如|譬如|诸如(?!此类)|举例来说|具体来说|具体而言)[,，]?")
_GOES_ON = re.compile(r"^(?:另外|此外|其次|再次|最后|同时|与此同时|而且|并且)[,，]")
_ORDINAL = re.compile(r"^(?:[一二三四五六七八九十]+是|首先|其次|再次|最后|第[一二三四五六七八九十]+[,，、]|"
                      r"[一二三四五六七八九十]+[、.]|（[一二三四五六七八九十]+）|\(\d+\)|\d+[、.])")
_CLAUSE = re.compile(r"[^,，；;：:]+[,，；;：:]?")
# a sentence that announces an enumeration by its count ("……呈现为三大支柱。", "有以下四个方面：")
_COUNTED = re.compile(r"(?<![一二三四五六七八九十百\d第])([两二三四五六七八九十])"
                      r"(?:大|个|种|类|条|项|点|层|场|方面|重)")
LEAD_CHARS = 130  # a lead sentence longer than this is cut to its best run of clauses
SUPPORT_UNDER = 120  # a supporting sentence is added only to a lead shorter than this
SHORT_LEAD = 30  # a lead shorter than this is followed by the next sentence
BYLINE_PRIOR = 0.6
ITEM_CHARS = 60
MAX_ITEMS = 6
MAX_SPEAKERS = 6


@dataclass(frozen=True)
class Piece:
    """One cited span of the answer: verbatim text of ``passages[rank]``."""

    rank: int
    text: str


def starts_item(s: str) -> bool:
    """The sentence is an item of an enumeration (一是…, 首先…, 第二，…, (3)…)."""
    return bool(_ORDINAL.match(s))


def _is_heading(s: str) -> bool:
    """A title line rather than a sentence: short and unpunctuated, or numbered like 一、…"""
    return (not re.search(r"[。！？!?；;]$", s) and len(s) <= 40) or bool(re.match(r"^[一二三四五六七八九十]+、", s))


def _usable(s: str) -> bool:
    return len(s) >= 6 and not _is_heading(s) and not re.search(r"[？?]\W*$", s)


def _clauses(sentence: str) -> list[str]:
    return [m.group(0) for m in _CLAUSE.finditer(sentence) if m.group(0).strip()]


def _best_run(sentence: str, score: Callable[[str], float], limit: int) -> str:
    """The run of consecutive clauses of ``sentence`` within ``limit`` characters that scores best
    (the sentence itself when it is short enough)."""
    if len(sentence) <= limit:
        return sentence
    parts = _clauses(sentence)
    best, best_score = parts[0] if parts else sentence[:limit], -1.0
    for i in range(len(parts)):
        run = ""
        for j in range(i, len(parts)):
            if len(run) + len(parts[j]) > limit and run:
                break
            run += parts[j]
            sc = score(run) - 0.001 * len(run)  # prefer the shorter of two runs that score the same
            if sc > best_score:
                best, best_score = run, sc
    return best.rstrip(",，；;：:")


def _sentences(p: Passage) -> list[tuple[int, str]]:
    return [(i, p.text[a:b]) for i, (a, b) in enumerate(sentence_spans(p.text))]


def _standing(sents: list[tuple[int, str]], i: int, run: str, depth: int = 0) -> list[str] | None:
    """``run`` (sentence ``i``, or a run of its clauses) as text a reader can take on its own: itself, unless
    it opens with a connective (因此, 但, 例如, 这…), which leans on what comes before it. Then the clauses of
    its own sentence before it, or, for a whole sentence, the sentence before it (a question it answers
    included; its last clauses when it is long) come first. None when what it leans on is not there: the
    passage starts with it, or a heading is before it. The sentence before may lean on its own one (a chain
    of 因此…其中…): up to two sentences back, or its marker left out (``_unmarked``)."""
    if not _CONNECTIVE.match(run):
        return [run]
    s = sents[i][1]
    at = s.find(run)
    if at > 0:  # a run from inside its sentence: with the clauses before it, back to one that needs none
        head = _clauses(s[:at])
        while head and _CONNECTIVE.match(run):
            run = head.pop() + run
        return _standing(sents, i, run, depth) if not head and _CONNECTIVE.match(run) else [run]
    if i == 0 or _is_heading(sents[i - 1][1]):
        return None
    before = sents[i - 1][1]
    if len(before) > 2 * LEAD_CHARS:
        tail = ""
        for c in reversed(_clauses(before)):
            if tail and len(tail) + len(c) > LEAD_CHARS:
                break
            tail = c + tail
        before = tail
    elif _CONNECTIVE.match(before):
        bare = _unmarked(before)
        earlier = _standing(sents, i - 1, before, depth + 1) if depth < 1 else None
        if earlier is None:
            return [bare, run] if bare else None
        return [*earlier, run]
    return [before, run]


def _unmarked(run: str) -> str | None:
    """``run`` without the marker it opens with (但是,…→…), when that leaves a sentence that leans on nothing
    (a verbatim run of the passage all the same); None otherwise."""
    m = _MARKER.match(run)
    rest = run[m.end():] if m else ""
    return rest if len(rest) >= 6 and not _CONNECTIVE.match(rest) else None


def compose(passages: Sequence[Passage], score: Callable[[str], float], *, kind: str = "fact",
            speakers: Sequence[str] = (), mentioned: str = "", editors: bool = False) -> list[Piece]:
    """The cited pieces of an extractive answer, lead first.

    ``score`` rates a piece of text against the question; ``kind`` is "fact", "list" or "across";
    ``speakers`` (for "across" with named experts) are the experts to give one sentence each; ``mentioned``
    (for "across", 谁提到了X) the word asked about: each expert's best sentence that has it, and with
    ``editors`` (有谁提到X, not 哪几位专家) the editors' introduction's."""
    candidates: list[tuple[float, int, int]] = []  # (score, passage rank, sentence index)
    by_rank = {r: _sentences(p) for r, p in enumerate(passages)}
    for r, sents in by_rank.items():
        # a byline (name, affiliation, title) answers questions about the speaker; for anything else the
        # statement's own sentences come first, since a title shares many words with the question
        prior = BYLINE_PRIOR if passages[r].chunk.kind != "text" else 1.0
        for i, s in sents:
            # a passage's first sentence that leans on the one before it cannot be read on its own (这, 其中; and
            # 因此, 但, 例如, whose claim is a consequence, a turn or an instance of what came before); one that only
            # adds to it or goes on to the next point (另外, 其次: the chunk boundary fell before it) can, without it
            if _usable(s) and not (i == 0 and _CONNECTIVE.match(s) and not (_GOES_ON.match(s) and _unmarked(s))):
                candidates.append((prior * score(s), r, i))
    if not candidates:
        return [Piece(0, passages[0].text)] if passages else []
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    top_score, lead_rank, lead_i = candidates[0]
    if kind == "list":
        # a heading that announces a list ("……主要涉及三个问题") and is followed by its items answers the question
        # better than any one sentence: its items are the answer
        heading = _announcing_heading(passages, by_rank, score, top_score)
        if heading is not None:
            items = _items_under(passages, *heading)
            if len(items) >= 2:
                return items
    if passages[lead_rank].chunk.kind == "overview":
        # the list of speakers answers a question about the speakers as a whole (how many, who, in what order)
        return [Piece(lead_rank, by_rank[lead_rank][lead_i][1])]
    if kind == "across":
        def has(t: str) -> bool:  # as the retriever compares: lower case, without spaces
            return bool(mentioned) and mentioned in t.lower().replace(" ", "")

        having = [c for c in candidates if has(by_rank[c[1]][c[2]][1])]
        with_it = (lambda t: score(t) + has(t))  # noqa: E731  (a run that keeps the word)
        across = (_one_per_speaker(passages, by_rank, having, with_it, speakers, editorial=editors)
                  if having else []) or \
            _one_per_speaker(passages, by_rank, candidates, score, speakers)
        if across:
            return across
    lead_sents = by_rank[lead_rank]
    counted = next(reversed(list(_COUNTED.finditer(lead_sents[lead_i][1]))), None)  # the last count announces
    if counted and passages[lead_rank].chunk.kind == "text" and not starts_item(lead_sents[lead_i][1]):
        # the best sentence announces an enumeration (三大支柱。一是…): without its items it says nothing, so
        # the items that follow it in the statement are the answer, whatever the question's form
        count = int(cn_value(counted.group(1)) or MAX_ITEMS)
        items = _items_under(passages, lead_rank, lead_i, limit=count, right_after=True)
        if len(items) >= 3:
            return items
    if kind == "list":
        items = _list_items(passages, by_rank, lead_rank, lead_i, score)
        if len(items) >= 2:
            return items
    lead = lead_sents[lead_i][1]
    # a lead that opens with a connective comes whole, after what it leans on; a run of its clauses that
    # does, after the clauses before it
    run = lead if _CONNECTIVE.match(lead) else _best_run(lead, score, LEAD_CHARS)
    bare = _unmarked(run)
    pieces = [Piece(lead_rank, t) for t in _standing(lead_sents, lead_i, run) or
              ([bare] if bare else [_best_run(lead, score, LEAD_CHARS)])]
    # a short lead is a topic sentence (以华为为例。 / X 的本质是什么？): what it introduces follows it
    nxt = lead_i + 1
    if sum(len(p.text) for p in pieces) < SHORT_LEAD and nxt < len(lead_sents) and _usable(lead_sents[nxt][1]):
        pieces.append(Piece(lead_rank, _best_run(lead_sents[nxt][1], score, LEAD_CHARS)))
    # one supporting sentence: the instance the lead's passage gives right after it (要建立……机制。例如，完善……),
    # which says what the general claim comes down to; else one of the same speaker that matches nearly as
    # well; either only while the answer stays short
    lead_text = "".join(p.text for p in pieces)
    after = nxt + 1 if len(pieces) > 1 and nxt < len(lead_sents) and pieces[-1].text in lead_sents[nxt][1] else nxt
    instance = lead_sents[after][1] if after < len(lead_sents) else ""
    if _INSTANCE.match(instance) and _usable(instance) and len(instance) <= LEAD_CHARS \
            and len(lead_text) < SUPPORT_UNDER:
        return [*pieces, Piece(lead_rank, instance)]
    for sc, r, i in candidates[1:6]:
        s = by_rank[r][i][1]
        if passages[r].speaker != passages[lead_rank].speaker or s in lead_text or any(p.text in s for p in pieces):
            continue
        standing = _standing(by_rank[r], i, _best_run(s, score, LEAD_CHARS)) or []
        if len(standing) == 2 and r == pieces[-1].rank and standing[0] == pieces[-1].text:
            standing = standing[1:]  # what it leans on is the answer's last sentence
        if len(standing) != 1:
            bare = _unmarked(standing[-1] if standing else _best_run(s, score, LEAD_CHARS))
            standing = [bare] if bare else []
        if len(standing) != 1 or len(standing[0]) > LEAD_CHARS:
            continue  # optional: a support that would need a sentence the answer leaves out is not added
        if sc >= 0.6 * top_score and len(lead_text) < SUPPORT_UNDER:
            pieces.append(Piece(r, standing[0]))
        break
    return pieces


def _announcing_heading(passages: Sequence[Passage], by_rank: dict[int, list[tuple[int, str]]],
                        score: Callable[[str], float], best: float) -> tuple[int, int] | None:
    """(rank, index) of a heading of a statement that matches the question at least as well as the best
    sentence and is followed by the items of an enumeration."""
    found = None
    for r, sents in by_rank.items():
        if passages[r].chunk.kind != "text":
            continue
        for j, (_, s) in enumerate(sents):
            if _is_heading(s) and j + 1 < len(sents) and starts_item(sents[j + 1][1]) and score(s) >= best:
                if found is None or score(s) > found[0]:
                    found = (score(s), r, j)
    return None if found is None else (found[1], found[2])


def _items_under(passages: Sequence[Passage], rank: int, j: int, *, limit: int = MAX_ITEMS,
                 right_after: bool = False) -> list[Piece]:
    """The heading ``j`` of ``passages[rank]`` (its numbering left out) and the enumerated sentences that
    follow it up to the next heading, gathered across the retrieved passages of the same statement: at most
    ``limit`` of them, ending where the numbering starts again; ``right_after``: only if the sentence after
    the heading is the first item (nothing in between that retrieval left out)."""
    head = passages[rank]
    spans = sentence_spans(head.text)
    at = head.chunk.start + spans[j][0]
    seen: set[int] = set()
    after: list[tuple[int, int, str]] = []  # (position in the statement, rank, sentence)
    for r, p in enumerate(passages):
        if p.chunk.section != head.chunk.section or p.speaker != head.speaker or p.chunk.kind != "text":
            continue
        for a, b in sentence_spans(p.text):
            pos = p.chunk.start + a
            if pos > at and pos not in seen:
                seen.add(pos)
                after.append((pos, r, p.text[a:b]))
    after.sort()
    if right_after and (not after or not starts_item(after[0][2])
                        or after[0][0] - (at + spans[j][1] - spans[j][0]) > 2):
        return []
    items: list[Piece] = []
    first = ""
    for pos, r, s in after:
        if _is_heading(s) or (items and pos - after[0][0] > 1200):
            break
        if starts_item(s):
            mark = _ORDINAL.match(s).group(0)  # type: ignore[union-attr]
            if items and mark == first:
                break  # 一是… again: another enumeration
            first = first or mark
            items.append(Piece(r, _first_clauses(s)))
    title = head.text[slice(*spans[j])]
    title = title[m.end():] if (m := re.match(r"^[一二三四五六七八九十]+、", title)) else title
    return [Piece(rank, title), *items[:min(limit, MAX_ITEMS)]] if len(items) >= 2 else []


def _list_items(passages: Sequence[Passage], by_rank: dict[int, list[tuple[int, str]]], lead_rank: int,
                lead_i: int, score: Callable[[str], float]) -> list[Piece]:
    """The enumerated sentences (一是…/首先…/第一，…) of the lead passage's section, in text order."""
    section = passages[lead_rank].chunk.section
    speaker = passages[lead_rank].speaker
    sents = by_rank[lead_rank]
    near = [s for _, s in sents[max(0, lead_i - 1):lead_i + 2]]
    if not any(_ORDINAL.match(s) for s in near):
        return []  # the answering sentence is not part of an enumeration: answer it as a fact
    lead_start = passages[lead_rank].chunk.start
    seen: set[str] = set()
    items: list[tuple[int, int, int, str]] = []  # (chunk start, sentence index, rank, text)
    for r, p in enumerate(passages):
        # the same statement, and near the lead (an enumeration spans a few hundred characters)
        if p.chunk.section != section or p.speaker != speaker or abs(p.chunk.start - lead_start) > 1200:
            continue
        for i, s in by_rank[r]:
            key = s[:20]
            if _ORDINAL.match(s) and key not in seen:
                seen.add(key)
                items.append((p.chunk.start, i, r, s))
    items.sort()
    items = _enumeration_of(items, lead_rank, lead_i)
    if len(items) < 2:
        return []
    lead = by_rank[lead_rank][lead_i][1]
    # the sentence that answers, before the items, if it is not one of them: a long one (an item's elaboration,
    # 聚焦基于生物技术的基因诊疗、……) by its run of clauses that matches best, or it says only the items' heads
    run = lead if len(lead) <= LEAD_CHARS else _best_run(lead, score, LEAD_CHARS)
    bare = _unmarked(run)
    intro = [Piece(lead_rank, t) for t in _standing(sents, lead_i, run) or ([bare] if bare else [])] \
        if not _ORDINAL.match(lead) else []
    if any(_ORDINAL.match(p.text) for p in intro):
        intro = [Piece(lead_rank, bare)] if bare else []  # what it leans on is an item, listed below anyway
    return intro + [Piece(r, _first_clauses(s)) for _, _, r, s in items[:MAX_ITEMS]]


_FIRST_ITEM = re.compile(r"^(?:一是|首先|第一[,，、]|一[、.]|（一）|\(1\)|1[、.])")


def _enumeration_of(items: list[tuple[int, int, int, str]], lead_rank: int,
                    lead_i: int) -> list[tuple[int, int, int, str]]:
    """Of the enumerations among ``items`` (in text order, each starting at a first item: 一是, 首先, 第一), the one
    the lead sentence belongs to: the one with an item right after it in its passage (the lead announces it or is
    its first item), else the one with an item nearest to it there, else the first."""
    runs: list[list[tuple[int, int, int, str]]] = []
    for item in items:
        if not runs or _FIRST_ITEM.match(item[3]):
            runs.append([])
        runs[-1].append(item)
    if len(runs) < 2:
        return items

    def distance(run: list[tuple[int, int, int, str]]) -> tuple[int, int]:
        here = [i - lead_i for _, i, r, _ in run if r == lead_rank]
        after = [d for d in here if d >= 0]
        return (0, min(after)) if after else (1, min((abs(d) for d in here), default=10**6))

    return min(runs, key=distance)


def _first_clauses(s: str) -> str:
    out = ""
    for c in _clauses(s):
        if out and len(out) + len(c) > ITEM_CHARS:
            break
        out += c
    return out.rstrip(",，；;：:")


def _one_per_speaker(passages: Sequence[Passage], by_rank: dict[int, list[tuple[int, str]]],
                     candidates: list[tuple[float, int, int]], score: Callable[[str], float],
                     speakers: Sequence[str], editorial: bool = False) -> list[Piece]:
    """The best sentence of each speaker (the named ones, or every expert whose passage matches nearly
    as well as the best; with ``editorial``, the editors' introduction too: the candidates are then the
    sentences that have the word a question asks about, 有谁提到X), best speaker first."""
    top = candidates[0][0]
    chosen: dict[str, list[Piece]] = {}
    for sc, r, i in candidates:
        sp = passages[r].speaker
        if sp in chosen or (speakers and sp not in speakers) or sp == UNKNOWN_SPEAKER:
            continue
        if not speakers and (sc < 0.5 * top or (sp == EDITORIAL_SPEAKER and not editorial)):
            continue
        run = _best_run(by_rank[r][i][1], score, LEAD_CHARS)
        bare = _unmarked(run)
        standing = _standing(by_rank[r], i, run) or ([bare] if bare else None)
        if standing is None:
            continue  # what it leans on is not in the passage: the speaker's next best sentence
        chosen[sp] = [Piece(r, t) for t in standing]
        if len(chosen) >= MAX_SPEAKERS:
            break
    return [p for group in chosen.values() for p in group]


def render(pieces: Sequence[Piece], passages: Sequence[Passage], *, english: bool = False,
           names: Callable[[str], str] = lambda s: s, bylines: str = "") -> list[str]:
    """The answer text in parts (one per speaker group, for streaming): a frame naming the speaker,
    then the speaker's pieces, each followed by its marker. ``names`` gives a speaker's English name;
    ``bylines`` the line over pieces of the bylines (by default, that they are the bylines)."""
    groups: list[tuple[str, list[Piece]]] = []
    for piece in pieces:
        sp = passages[piece.rank].speaker
        if groups and groups[-1][0] == sp:
            groups[-1][1].append(piece)
        else:
            groups.append((sp, [piece]))
    parts = []
    headed = False  # the bylines' heading is given once, over all the bylines that follow one another
    for sp, group in groups:
        body = "".join(_end(p.text) + f"[{p.rank + 1}]" for p in group)
        of_bylines = all(passages[p.rank].chunk.kind != "text" for p in group)
        if of_bylines:
            # a byline or the list of speakers: from the statements' headings, not anyone's words
            # on its own line: a heading, not part of the quoted claim the check reads
            lead = "" if headed else f"{bylines}\n" if bylines else \
                "据各篇发言的署名：\n" if not english else "From the bylines of the statements, in Chinese:\n"
        elif sp == EDITORIAL_SPEAKER:
            lead = "编者按：" if not english else "The editors' introduction, in Chinese:\n"
        elif sp == UNKNOWN_SPEAKER:
            lead = "文中写道：" if not english else "The document says, in Chinese:\n"
        else:
            # an English frame stands on its own line: a heading, not a claim for the check to read
            lead = f"{sp}：" if not english else f"{names(sp)} ({sp}) says, in Chinese:\n"
        headed = of_bylines
        parts.append(lead + body)
    return parts


def _end(text: str) -> str:
    """A piece cut at a clause ends as a sentence (its clause mark becomes 。), so that each cited piece is
    one sentence for the reader and for the check."""
    return text if re.search(r"[。！？!?；;”」）)]$", text) else re.sub(r"[,，、：:]$", "", text) + "。"


def bigram_score(question: str) -> Callable[[str], float]:
    """A plain scorer: the share of the question's character pairs a text holds (for callers that have no
    retriever to weigh words with)."""
    q = re.sub(r"\W", "", question.lower())
    pairs = {q[i:i + 2] for i in range(len(q) - 1)}
    return lambda s: sum(p in s.lower() for p in pairs) / (len(pairs) or 1)


class ExtractiveGenerator:
    """The extractive engine as the backend registry knows it (``--model extractive``). The pipeline
    composes with ``compose``/``render`` and its question weights directly; ``stream`` serves callers of
    the plain Generator interface."""

    name = "extractive"
    is_llm = False

    def stream(self, request: Any) -> Iterator[str]:
        passages = tuple(request.passages)
        yield from render(compose(passages, bigram_score(request.question)), passages, english=request.english)
