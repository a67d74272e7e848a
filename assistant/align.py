"""The passage side of the grounding check: cited passages cut into clauses, a claim clause aligned with
the run of passage clauses that holds it, and the comparisons made there (``grounding.py`` gives the
verdict): a word found, where, and how; numbers bound to the nouns they count; negation, comparatives
and antonyms against the aligned clause; a noun put in another's place; roles and definitions swapped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from . import claims, lexicon

_SENTENCE_RE = re.compile(r"[^。！？!?\n]+[。！？!?]*")


class Clause:
    """One clause of a cited passage with its words."""

    def __init__(self, text: str, words: Sequence[claims.Word], passage: int, sentence: int) -> None:
        self.text, self.words, self.passage, self.sentence = text, tuple(words), passage, sentence
        self.fold = claims.fold(text)
        self.all = {w.text for w in self.words}


@lru_cache(maxsize=4096)
def passage_clauses(text: str) -> tuple[tuple[str, tuple[claims.Word, ...], int], ...]:
    """(clause text, its words, sentence number) of a passage; sentences end at 。！？ (not ；)."""
    out = []
    for n, m in enumerate(_SENTENCE_RE.finditer(text)):
        for a, b in claims.clauses(m.group(0)):
            a, b = a + m.start(), b + m.start()
            out.append((text[a:b], claims.words(text[a:b]), n))
    return tuple(out)


@lru_cache(maxsize=50000)
def _forms(text: str, entity: bool) -> tuple[str, tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """(folded word, its folded synonyms of two characters or more, its one-character synonyms, its characters)."""
    t = claims.fold(text)
    syn = () if entity else tuple(lexicon.synonyms(text))
    return (t, tuple(claims.fold(x) for x in syn if len(x) > 1), frozenset(x for x in syn if len(x) == 1),
            tuple(c for c in t if c.isalnum()))


def _abbreviated(short: str, words: set[str]) -> bool:
    """True if a word of the passage is at least twice as long and holds the name's characters in order."""
    if not 2 <= len(short) <= 3 or not all("\u3400" <= c <= "\u9fff" for c in short):
        return False
    pattern = re.compile(".*?".join(map(re.escape, short)))
    return any(len(x) >= 2 * len(short) and pattern.search(x) for x in words)


def match(w: claims.Word, fold: str, words: set[str]) -> str:
    """How a claim word is found in a stretch of passage text: exact, synonym, chars, related, or ""."""
    t, syn, single, chars = _forms(w.text, w.entity)
    if t in fold:
        return "exact"
    if w.entity:
        # names match exactly, or as their abbreviation: the name's characters in order in one word of the
        # passage at least twice as long (二战 for 第二次世界大战)
        return "abbreviation" if _abbreviated(t, words) else ""
    if any(x in fold for x in syn) or single & words \
            or any(lexicon.abbreviates(t, x) or lexicon.abbreviates(x, t) for x in words):
        return "synonym"
    if len(t) > 1 and claims.is_negator(t[0]) and w.text not in lexicon.known_words():  # 未获: 获, negated
        return match(claims.Word(w.text[1:], w.pos, w.start), fold, words)
    if len(t) >= 3 and t[-2:] in claims.POST_NEGATORS and w.text not in lexicon.known_words():  # 解决不了: 解决
        return match(claims.Word(w.text[:-2], w.pos, w.start), fold, words)
    if len(chars) >= 2 and sum(c in fold for c in chars) >= max(2, -(-2 * len(chars) // 3)):
        if w.noun and len(t) >= 3 and t[-2:] in fold and t[:2] not in fold and t[0] not in fold \
                and claims.dictionary_word(t[:2]):
            return ""  # the same head with another modifier (国有企业 / 民营企业): another thing of the kind
        return "chars"  # most of its characters: a recombination of the passage's morphemes
    if not w.noun and lexicon.classes(w.text) and any(
            lexicon.related(w.text, x) and lexicon.direction(w.text) * lexicon.direction(x) >= 0 for x in words):
        return "related"  # a verb or adjective of the same small class, not of the other direction (快 for 低); for
        # nouns that is another thing
    return ""



def number_swaps(claim: str, clause_objs: list[Clause], f: list[str]) -> None:
    """Two numbers of the passage exchanged between the words they go with: a word the claim puts beside
    one of its numbers shares a passage clause only with another of its numbers."""
    mine = claims.number_mentions(claim)
    values = {n.value for n in mine}
    _counted(claim, mine, clause_objs, f)
    if len(values) < 2:
        return
    with_value: dict[str, list[str]] = {}
    for c in clause_objs:
        for m in claims.number_mentions(c.text):
            with_value.setdefault(m.value, []).append(c.fold)
    for n in mine:
        if n.value not in with_value:
            continue
        for w in _beside(claim, n, mine):
            t = claims.fold(w)
            if any(t in c for c in with_value[n.value]):
                continue
            other = [v for v in values - {n.value} if any(t in c for c in with_value.get(v, ()))]
            if other:
                f.append(f"the cited passage puts {w!r} with {other[0]}, not {n.value}")
                return


_TIME_UNITS = ("年", "月", "日", "号", "天", "世纪", "年代", "小时", "分钟", "周", "岁")


def _counted(claim: str, mine: list[claims.Number], clause_objs: list[Clause], f: list[str]) -> None:
    """The noun a count counts (45个 世界级先进制造集群): if the passage counts it with another number and
    never with this one, the claim moved the number. Dates and ordinals count nothing."""
    def noun_after(text: str, n: claims.Number) -> str:
        ws = [w for w in claims.words(text[n.end:n.end + 12]) if w.content]
        return ws[0].text if ws and ws[0].start <= 3 else ""

    theirs: dict[str, set[str]] = {}
    for c in clause_objs:
        for m in claims.number_mentions(c.text):
            if m.unit not in _TIME_UNITS and not m.ordinal and (w := noun_after(c.text, m)):
                theirs.setdefault(w, set()).add(m.value)
    for n in mine:
        w = noun_after(claim, n) if n.unit not in _TIME_UNITS and not n.ordinal else ""
        if w in theirs and n.value not in theirs[w]:
            f.append(f"the cited passage counts {w!r} as {'/'.join(sorted(theirs[w]))}, not {n.value}")
            return


def _beside(text: str, n: claims.Number, mine: list[claims.Number]) -> list[str]:
    """The content words right before and after a number, within its clause and not past another number."""
    clause = next(((a, b) for a, b in claims.clauses(text) if a <= n.start < b), (0, len(text)))
    lo = max([clause[0], *(m.end for m in mine if m.end <= n.start)])
    hi = min([clause[1], *(m.start for m in mine if m.start >= n.end)])
    if any(0 <= n.start - m.end <= 1 or 0 <= m.start - n.end <= 1 for m in mine if m is not n):
        return []  # 2023年9月, 六七十年代: parts of one date or range
    ws = [w for w in claims.words(text[lo:hi]) if w.content and len(w.text) > 1 and w.text != n.unit]
    at = n.start - lo
    before = [w.text for w in ws if w.start + len(w.text) <= at][-1:]
    after = [w.text for w in ws if w.start >= n.end - lo][:1]
    return before + after


def _short(s: str, n: int = 24) -> str:
    return s if len(s) <= n else s[:n] + "…"


def align(content: list[claims.Word], hits: dict[int, dict[int, str]], clause_objs: list[Clause],
           extra: Sequence[str] = ()) -> tuple[int, int] | None:
    """The run of consecutive clauses of one passage sentence that holds most of the claim clause's
    words, each clause past the first costing one word (so a swap across two clauses shows); the
    clause's numbers and comparatives break ties."""
    weights = [{k: 1.0 if kind in ("exact", "synonym") else 0.5 for k, kind in hits[id(w)].items()} for w in content]
    best: tuple[float, int, int] | None = None
    span = (0, 0)
    n = len(clause_objs)
    for i in range(n):
        got = [0.0] * len(weights)
        seen: set[str] = set()
        for j in range(i, min(n, i + 4)):
            if (clause_objs[j].passage, clause_objs[j].sentence) != (clause_objs[i].passage, clause_objs[i].sentence):
                break
            for x, wd in enumerate(weights):
                got[x] = max(got[x], wd.get(j, 0.0))
            seen.update(e for e in extra if e in clause_objs[j].fold)
            total = sum(got) + 0.3 * len(seen)
            key = (total - 1.0 * (j - i), -(j - i), -i)
            if total and (best is None or key > best):
                best, span = key, (i, j)
    return span if best else None


def substitution(content: list[claims.Word], hits: dict[int, dict[int, str]], span: tuple[int, int],
                  clause_objs: list[Clause], f: list[str], numbers_here: set[str]) -> None:
    """One noun of the claim clause found in another clause of the same passage sentence but not in its
    aligned clauses, which hold the rest of the claim clause and a noun of their own the claim lacks: A put
    in B's place (技术端具有极大优势,但在科学端则明显不足 read as 科学端具有极大优势)."""
    lo, hi = span
    here = [w for w in content if any(lo <= k <= hi for k in hits[id(w)])]
    away = [w for w in content if hits[id(w)] and w not in here]
    if not away or len(away) > max(1, len(here) // 2) or not away[0].noun or len(here) < 2 \
            or all(kind != "exact" for kind in hits[id(away[0])].values()):
        return
    said = claims.fold("".join(w.text for w in content))
    elsewhere = [k for k, kind in hits[id(away[0])].items() if kind == "exact" and not lo <= k <= hi]
    home = (clause_objs[lo].passage, clause_objs[lo].sentence)
    if not any((clause_objs[k].passage, clause_objs[k].sentence) == home for k in elsewhere):
        return  # from another sentence: a summary joining two statements, not a swap within one
    if any(numbers_here & claims.numbers(clause_objs[k].text) for k in elsewhere):
        return  # the passage puts it with the claim's number: bound as the claim binds it
    if any(all(claims.fold(w.text) in said for w in clause_objs[k].words if w.content) for k in elsewhere):
        return  # its own clause says nothing the claim clause does not ("在宏观层面,…"): a split, not a swap
    other = in_slot(content, away[0], [w for c in clause_objs[lo:hi + 1] for w in c.words])
    if other is not None:
        f.append(f"says {away[0].text!r} where the cited passage says {other.text!r}")


def in_slot(content: list[claims.Word], x: claims.Word, wwords: list[claims.Word]) -> claims.Word | None:
    """The passage noun standing where the claim has ``x``: the claim words right before and after ``x``
    are in the passage clause with one other word between them (or beside the one there is), a noun that
    matches no claim word."""
    i = content.index(x)
    words = [w for w in wwords if w.content]
    where = {w.text: k for k, w in reversed(list(enumerate(words)))}
    before = content[i - 1].text if i else None
    after = content[i + 1].text if i + 1 < len(content) else None
    if (before is not None and before not in where) or (after is not None and after not in where) \
            or (before is None and after is None):
        return None
    if before is not None and after is not None:
        between = words[where[before] + 1:where[after]]
        cand = between[0] if len(between) == 1 else None
    elif before is not None:
        cand = words[where[before] + 1] if where[before] + 1 < len(words) else None
    else:
        assert after is not None  # one of the two neighbours exists (checked above)
        cand = words[where[after] - 1] if where[after] > 0 else None
    if cand is None or not cand.noun or any(match(c, claims.fold(cand.text), {cand.text}) for c in content):
        return None
    return cand


def compare_clause(ws: list[claims.Word], window: list[Clause], f: list[str], condition: bool,
                   sentence: Sequence[Clause] = ()) -> None:
    """Negation, comparatives/quantifiers and antonyms of a claim clause against its passage clauses;
    ``sentence``: every clause of the passage sentence they are in (a modal governs the whole sentence)."""
    wwords = tuple(w for c in window for w in c.words)
    wfold = claims.fold("，".join(c.text for c in window))
    theirs_pol: dict[str, set[bool]] = {}
    for c in window:
        for k, v in claims.polarity(c.words).items():
            theirs_pol.setdefault(k, set()).update(v)
    mine_pol = claims.polarity(ws)
    for k, v in mine_pol.items():
        if k in theirs_pol and not v & theirs_pol[k]:
            f.append(f"negates {k!r}, which the cited passage states" if True in v
                          else f"states {k!r}, which the cited passage negates")
            break
    else:
        # a negation only one side has (a word repeated on both sides of 不是 is read both ways above)
        mine_neg = any(claims.is_negator(w.text) for w in ws)
        theirs_neg = any(claims.is_negator(w.text) for c in window for w in c.words)
        if mine_neg != theirs_neg:
            side, counter = (mine_pol, theirs_pol) if mine_neg else (theirs_pol, mine_pol)
            hit = next((k for k, v in side.items() if True in v and counter.get(k) == {False}), None)
            if hit:
                f.append(f"negates {hit!r}, which the cited passage states" if mine_neg
                         else f"states {hit!r}, which the cited passage negates")
    mine, theirs = claims.comparative_classes(ws, condition), claims.comparative_classes(wwords)
    for cls, word in mine.items():
        if cls in theirs:
            continue
        other = claims.OPPOSITE_CLASS.get(cls)
        weak = next((w.text for w in wwords if w.text in claims.MORE_WEAK), "") if cls == "less" else ""
        if other in theirs or weak:
            if other in theirs and _converse(ws, word, wwords, theirs[other]):
                continue  # B 慢于 A for A 快于 B: the same comparison turned round
            f.append(f"says {word!r} where the cited passage says {theirs.get(other or '', weak)!r}")
        elif word not in claims.COMPARATIVES and claims.than(word, "") and claims.fold(word[0]) in wfold:
            continue  # 快于 for the passage's 比…更快: the same adjective, the same direction
        elif not any(claims.fold(x) in wfold for x in (word, *lexicon.synonyms(word)) if len(x) > 1):
            f.append(f"{word!r} is not in the cited passage")
    if f:
        return
    # "one of the most …" (最…之一) said as "the most …"
    if "superlative" in mine and "之一" in wfold and "之一" not in claims.fold("".join(w.text for w in ws)):
        f.append(f"says {mine['superlative']!r} where the cited passage says it is one of several (之一)")
        return
    # a recommendation (要/应/需要 …) reported as done (已经 …)
    done = next((w.text for w in ws if w.text in claims.PERFECTIVE), "")
    context = [w for c in (sentence or window) for w in c.words]
    if done and not any(w.text in claims.PERFECTIVE for w in wwords) and "已" not in wfold \
            and any(w.text in claims.DEONTIC for w in context):
        f.append(f"says {done!r} (done) where the cited passage says what should be done")
        return
    cfold = claims.fold("".join(w.text for w in ws))
    for i, w in enumerate(ws):
        parts = _parts(w.text)
        for a in sorted({x for p in parts for x in lexicon.antonyms().get(p, ())}):
            if claims.fold(a) not in wfold or claims.fold(a) in cfold:
                continue
            nxt = ws[i + 1].text if i + 1 < len(ws) else ""
            if (w.text in claims.COMPARATIVES or w.text + nxt in claims.COMPARATIVES or claims.than(w.text, nxt)) \
                    and _converse(ws, w.text, wwords, a):
                continue  # 西部的收入低于东部 for 东部的收入高于西部: the same comparison turned round
            if claims.fold(w.text) not in wfold and not (parts - {w.text}) & {x.text for x in wwords}:
                f.append(f"says {w.text!r} where the cited passage says {a!r}")
                return
            head = next((x.text for x in ws[i + 1:i + 3] if x.content), "")
            if head and re.search(re.escape(claims.fold(a)) + r"的?" + re.escape(claims.fold(head)), wfold) \
                    and not re.search(re.escape(claims.fold(w.text)) + r"的?" + re.escape(claims.fold(head)), wfold):
                f.append(f"says {w.text}{head} where the cited passage says {a}{head}")
                return
    # an adjective of two characters against the passage's one-character antonym of one of them (容易 for 难):
    # the passage's word stands alone there, an adjective of its own
    alone = {x.text for x in wwords if x.pos.startswith("a") and len(x.text) == 1}
    for w in ws:
        if w.pos.startswith("a") and len(w.text) == 2 and w.text[0] not in "不没无非未" \
                and claims.fold(w.text) not in wfold:  # 不易 says what 难 does
            a = next((a for ch in w.text for a in sorted(lexicon.antonyms().get(ch, ()))
                      if a in alone and a not in cfold), "")
            if a:
                f.append(f"says {w.text!r} where the cited passage says {a!r}")
                return
    bound_antonym(ws, window, sentence, f)


def _parts(word: str) -> set[str]:
    """A word and, if longer than two characters, its two-character pieces (上升期: 上升, 升期): what an antonym
    may be found for."""
    return {word} | ({word[k:k + 2] for k in range(len(word) - 1)} if len(word) > 2 else set())


def _converse(ws: Sequence[claims.Word], mine: str, wwords: Sequence[claims.Word], theirs: str) -> bool:
    """The claim compares the passage's two sides the other way round with the opposite comparative (B 慢于 A
    for A 快于 B, B 低于 A for A 高于 B): a noun before the comparative in one is after it in the other, both ways."""
    def sides(words: Sequence[claims.Word], comparative: str) -> tuple[set[str], set[str]] | None:
        texts = [w.text for w in words]
        at = next((k for k in range(len(texts)) if "".join(texts[k:k + 2]).startswith(comparative)
                   or texts[k] == comparative), None)
        if at is None:
            return None
        nouns = [(k, w.text) for k, w in enumerate(words)
                 if (w.content or w.pos in ("f", "r")) and (w.noun or w.pos == "vn")]  # 东部, 我国 tell sides apart
        left, right = {t for k, t in nouns if k < at}, {t for k, t in nouns if k > at}
        return left - right, right - left  # what tells the two sides apart (东部地区 / 西部地区: 东部, 西部)
    a, b = sides(ws, mine), sides(wwords, theirs)
    return a is not None and b is not None and bool(a[0] & b[1]) and bool(a[1] & b[0])


def bound_antonym(ws: list[claims.Word], window: list[Clause], sentence: Sequence[Clause], f: list[str]) -> None:
    """A claim word and its antonym both in the passage (its aligned clauses and their sentence), in different
    clauses, each with a noun of its own: the claim's noun goes with the antonym there (服务业占比上升,制造业占比下降
    read as 制造业占比上升). A clause whose noun is the claim's, or that has none of its own (今年制造业投资增加,
    但利润减少: 利润 is still 制造业's), binds nothing else to the word."""
    clauses = [(claims.fold(c.text), c) for c in {c.text: c for c in (*window, *sentence)}.values()]
    cfold = claims.fold("".join(w.text for w in ws))
    nouns = [claims.fold(x.text) for x in ws if x.content and x.noun and len(x.text) > 1]
    for w in (w for w in ws if w.content):
        for part in sorted(_parts(w.text)):
            word = claims.fold(part)
            with_w = [(t, c) for t, c in clauses if word in t]
            # the word's clauses must name something else in the noun's place: a noun the claim does not have
            if not any(x.content and x.noun and len(x.text) > 1 and claims.fold(x.text) not in cfold
                       for _, c in with_w for x in c.words):
                continue
            for a in sorted(lexicon.antonyms().get(part, ())):
                if claims.fold(a) in cfold:
                    continue
                with_a = [t for t, _ in clauses if claims.fold(a) in t and word not in t]
                bound = next((n for n in nouns if any(n in t for t in with_a)
                              and not any(n in t for t, _ in with_w)), "")
                if bound:
                    f.append(f"says {bound}…{part} where the cited passage says {bound}…{a}")
                    return


_ROLE_MARKERS = frozenset("从 到 向 给 对 比 把 将 由 为 让 使 引领 推动 决定".split())


def roles(ws: list[claims.Word], wwords: tuple[claims.Word, ...], f: list[str]) -> None:
    """Two nouns in the other order than in the passage clause, with a verb or a role marker (从…到, 向,
    给, 比) between them in both: the roles are swapped (A 引领 B is not B 引领 A; 从 A 到 B is not 从 B 到 A)."""
    if any(w.text in ("被", "受", "让") for w in (*ws, *wwords)):
        return  # a passive turns the order round
    at: dict[str, list[int]] = {}
    for k, w in enumerate(wwords):
        at.setdefault(w.text, []).append(k)
    for w in ws:  # 科学技术 in the claim where the passage writes 科技, and the reverse
        if w.text not in at:
            ks = [k for k, x in enumerate(wwords) if lexicon.abbreviates(w.text, x.text)
                  or lexicon.abbreviates(x.text, w.text)]
            if ks:
                at[w.text] = ks
    seq = [(i, w, at[w.text]) for i, w in enumerate(ws) if w.text in at and w.content
           and (w.noun or w.pos == "vn")]
    for x, (i, a, pas) in enumerate(seq):
        for j, b, pbs in seq[x + 1:]:
            if a.text == b.text or any(pa < pb for pa in pas for pb in pbs):
                continue  # the passage has them in this order too (somewhere in the clause)
            pa, pb = pas[0], max((k for k in pbs if k < pas[0]), default=-1)
            if pb < 0:
                continue  # both stand for one word of the passage (科技 / 科学技术)
            # the verbs and role markers between them; a verb after 的 is a noun there (效率的提升), no predicate
            # a verb right after both nouns heads both phrases (投资增长由出口增长带动): no predicate between them
            head = ws[i + 1].text if j + 1 < len(ws) and ws[i + 1].text == ws[j + 1].text else ""
            mine = {w.text for k, w in enumerate(ws[i + 1:j], i + 1) if ws[k - 1].text != "的" and w.text != head
                    and ((w.content and w.pos.startswith("v")) or w.text in _ROLE_MARKERS
                         or (len(w.text) > 1 and w.text[-1] in "到向")  # 渗透到, 转向: a verb with its direction
                         or claims.than(w.text, ws[k + 1].text))}  # 快于, 快 于: A is faster than B
            theirs = {w.text for w in wwords[pb + 1:pa]}
            verbs = {w.text for w in wwords[pb + 1:pa] if w.pos.startswith("v")}
            # the passage's verbs with their aspect (带 着 -> 带着); 使 in 使用, 要 in 要求 are no stems of theirs
            said = {w.text + (wwords[k + 1].text if wwords[k + 1].text in _ASPECT else "")
                    for k, w in enumerate(wwords[pb + 1:pa], pb + 1) if w.pos.startswith("v")
                    and w.text not in _ROLE_MARKERS | _LIGHT_VERBS | claims.DEONTIC}
            if "的" in {w.text for w in ws[i + 1:j]} and verbs & {w.text for w in ws[:i]}:
                continue  # a relative clause: "进入生产函数的…要素" is 要素 进入 函数, the passage's order
            if any(w[-1] in "到向" for w in mine) and theirs & {"到", "向"}:
                mine |= theirs & {"到", "向"}  # 从 A 走向 B against 从 B 到 A: the same frame turned round
            around = sorted(mine & theirs) or sorted(m for m in mine - _ROLE_MARKERS for t in said
                                                     if _same_verb(m, t))
            if around:
                f.append(f"swaps {a.text!r} and {b.text!r} around {around[0]!r} against the cited passage")
                return


_ASPECT = "着了过"


_LIGHT_VERBS = frozenset("有 是 在 能 会 可 可以 成为 作为 进行".split())


def _same_verb(mine: str, theirs: str) -> bool:
    """The claim's verb is the passage's with another aspect or complement: the passage's 带着 (带 with 着) said
    as 带动. Not a thesaurus synonym: the thesaurus files the two sides of a deal together (出租 / 租赁)."""
    a, b = mine.rstrip(_ASPECT) or mine, theirs.rstrip(_ASPECT) or theirs
    return (a != mine or b != theirs) and (a.startswith(b) or b.startswith(a))


def _opens_with_copula(words: Sequence[claims.Word]) -> bool:
    """The clause opens with a copula (是, 就是, 即, 视为), after at most two adverbs or modals (其实是, 实际上就是,
    可以视为): its subject ends the clause before it. 为了, 即使, 是否 are words of their own."""
    ws = [w for w in words if w.text.strip() and w.pos != "x"]
    for w in ws[:3]:
        if w.text in claims.COPULAS:
            return True
        if not (w.pos.startswith("d") or w.text in ("可以", "可", "应", "应当", "应该")):
            return False
    return False


def definition(claim: str, clause_objs: list[Clause], f: list[str], source: str = "") -> None:
    """X 是 Y: in the passage's definition that shares most words with the claim's, X must stand on the
    subject side and Y on the predicate side (工业化是…的实现路径 is not …是工业化的实现路径)."""
    defs = []
    for k, c in enumerate(clause_objs):
        splits = claims.split_copulas(c.words)
        if not splits and k and clause_objs[k - 1].sentence == c.sentence and _opens_with_copula(c.words):
            # "X,就是 Y": the copula opens this clause, its subject ends the one before
            splits = claims.split_copulas(clause_objs[k - 1].words + c.words)
        defs.extend(splits)
    if not defs:
        return
    parts = []
    for a, b in claims.clauses(claim):
        # parallel definitions in one clause (A 是 X、B 是 Y、C 是 Z): each on its own
        cuts = [m.end() for m in re.finditer("、", claim[a:b])]
        pieces = list(zip([0, *cuts], [*cuts, b - a], strict=True))
        defined = [(a + x, a + y) for x, y in pieces if claims.split_copula(claims.words(claim[a + x:a + y]))]
        parts.extend(defined if len(defined) >= 2 else [(a, b)])
    for a, b in parts:
        split = claims.split_copula(claims.words(claim[a:b]))
        if not split or (source and claims.fold(claim[a:b]) in source):
            continue  # not a definition, or quoted word for word
        left, _, right = split
        best, best_key, most_straight = None, (0, 0), 0
        for pl, _, pr in defs:
            lf, rf = claims.fold("".join(w.text for w in pl)), claims.fold("".join(w.text for w in pr))
            straight = sum(claims.fold(w.text) in lf for w in left) + sum(claims.fold(w.text) in rf for w in right)
            cross = sum(claims.fold(w.text) in rf for w in left) + sum(claims.fold(w.text) in lf for w in right)
            most_straight = max(most_straight, straight)
            if (straight + cross, straight) > best_key:
                best, best_key = (pl, pr, straight, cross), (straight + cross, straight)
        if best is None:
            continue
        pl, pr, straight, cross = best
        # the passage's definition has this subject (each content word of it is one of the passage subject's words,
        # or a part of one): then its predicate must be the passage's too, however few of its words are shared
        mine_subject = [claims.fold(w.text) for w in left if w.content]
        theirs_subject = [claims.fold(x.text) for x in pl if x.content]
        same_subject = bool(mine_subject) and all(
            any(w == x or (len(w) >= 2 and w in x) for x in theirs_subject) for w in mine_subject)
        if best_key[0] * 2 < len(left) + len(right) and not same_subject:
            continue
        if not any(w.content for w in pl):
            continue  # "其重要标志是…": the passage's subject is a pronoun
        said_left = "".join(w.text for w in pl)
        lf0, rf0 = claims.fold(said_left), claims.fold("".join(w.text for w in pr))
        lc, rc = [claims.fold(w.text) for w in left if w.content], [claims.fold(w.text) for w in right if w.content]
        if lc and rc and all(w in rf0 or w not in lf0 for w in lc) and all(w in lf0 or w not in rf0 for w in rc) \
                and any(w in rf0 for w in lc) and any(w in lf0 for w in rc):
            # the identity turned round whole (X 的第一要素是 Y / Y 是 X 的首要要素): the same claim; a word on
            # neither side (首要 for 第一) is the word check's to judge
            continue
        subject = claim[a:a + left[-1].start + len(left[-1].text)]  # the clause up to its subject's last word
        coordinated = bool(re.search(r"[和与及、]|以及|都|均", subject))
        nouns = [w for w in left if w.noun]
        swapped = nouns and all(claims.fold(w.text) in rf0 and claims.fold(w.text) not in lf0 for w in nouns) \
            and any(claims.fold(w.text) in claims.fold("".join(x.text for x in right)) for w in pl if w.content)
        if swapped or cross > most_straight:
            f.append(f"swaps the two sides of the cited passage's {_short(said_left, 12)}是"
                          f"{_short(''.join(w.text for w in pr), 16)}")
            return
        rf = claims.fold("".join(w.text for w in pr))
        if sum(claims.fold(w.text) in rf for w in right) * 2 >= len(right):  # the same predicate: same subject?
            lf = claims.fold(said_left)
            stray = [w.text for w in left if claims.fold(w.text) not in lf and claims.fold(w.text) not in rf
                     and not any(claims.fold(s) in lf for s in lexicon.synonyms(w.text))
                     and not any(lexicon.abbreviates(w.text, x.text) or lexicon.abbreviates(x.text, w.text) for x in pl)
                     and not lexicon.shell_noun(w.text)]
            theirs_in_mine = all(claims.fold(w.text) in claims.fold("".join(x.text for x in left))
                                 for w in pl if w.content)  # the passage's subject, with context of the claim's
            # "A 和 B 都是…" summing up two definitions: B is the subject of another definition of the passages
            subjects = {claims.fold(w.text) for dl, _, _ in defs for w in dl}
            summed = coordinated and len(stray) < len(left) and all(claims.fold(x) in subjects for x in stray)
            if stray and len(stray) * 2 >= len(left) and not theirs_in_mine and not summed:
                f.append(f"the cited passage says {_short(said_left, 12)}, not {stray[0]}, is "
                              f"{_short(''.join(w.text for w in pr), 16)}")
                return
        if straight * 2 >= len(left) + len(right) or same_subject:
            said = claims.fold("".join(w.text for w in right))
            mine = [w for w in right if w.noun and claims.fold(w.text) not in rf]
            theirs = [w for w in pr if w.noun and claims.fold(w.text) not in said
                      and not any(lexicon.synonyms_share(w.text, x.text) for x in right)]
            if mine and theirs:
                f.append(f"the cited passage says {_short(said_left, 12)} is {theirs[0].text}, "
                              f"not {mine[0].text}")
                return


