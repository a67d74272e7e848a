"""Who a question is about: names (with or without spaces), pinyin, affiliations, and
whether it asks across experts. Built from the index's own sections, so it knows the
speakers of any ingested document, not only the seed's."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER

# a question about several experts at once: "which experts / who", comparisons, "each", "all of them"
# (哪些人 is "which people", not the start of a word made with 人: 哪些人才 asks for kinds of talent)
_ACROSS_RE = re.compile(
    r"哪(些|几)(个|位|名)?(专家|学者|人(?!才|员|口|民|群|力|士|类|工|物|性|格|文|事|生)|发言人)|哪(个|位|名)?(专家|学者|发言人)们|还有谁|都有谁|有谁|哪些人(?!才|员|口|民|群|力|士|类|工|物|性|格|文|事|生)|各位|几位|专家们|"
    r"多位|不同专家|各(个)?专家|大家|都(谈|提|说|讲|认为)|"
    # "谁提到了X" / "谁说过X" / "X在哪几处提到": everyone who said it (not 谁提出, which asks for one originator)
    r"谁(?:都|还|也)?(?:提到|提过|提及|谈到|谈过|谈了|说过|说了(?!算)|讲到|讲过|讲了|强调|主张|呼吁|关注|涉及)|"
    r"哪(?:几|些)处|哪(?:几|些)个?地方(?:提到|谈到|说到|讲到|提及)|"
    r"比较|对比|异同|区别|分别|共识|一致"
    r"|which (experts|speakers|scholars)|who else|each (expert|speaker)|the experts|all (the )?(experts|speakers)"
    r"|compare|comparison|differ|in common|agree|both",
    re.IGNORECASE)
# the editors' own text named as the source ("编者按里说……", "according to the editor's note"): answered from it
_EDITOR_RE = re.compile(r"编者按|编辑部|editor'?s'? note|editorial", re.IGNORECASE)
# "除了任保平，还有谁……" / "besides Ren Baoping, who …": the words after the keyword, up to where the clause goes
# on; they leave experts out only if they are nothing but names (除了任保平提到的人才问题 is about 任保平). 除 must
# open a word (not 消除, 破除)
_EXCEPT_RE = re.compile(
    r"(?<![\u4e00-\u9fff])(?:除了|除去|除开|除)(.{1,16}?)(?:以外|之外|外|[，,。？?\s]|还|也|$)"
    r"|\b(?:besides|except(?: for)?|other than|apart from|aside from)\s+(.{2,80}?)(?=[,;?.]|\s(?:who|which|what|did|"
    r"does|do|has|have|also|talk\w*|discuss\w*|sa(?:y|id)|mention\w*|spoke|speak\w*|argue\w*|think\w*)\b|$)",
    re.IGNORECASE)
_NAME_GLUE = re.compile(r"[\s,，、和与及跟同以外之外老师教授专家的]+|\b(?:and|or|the|professor|prof|dr|mr|ms)\b"
                        r"|['’]s\b", re.IGNORECASE)
# the people a question asks about are the experts (the editors' introduction is no one's statement)
_EXPERTS_RE = re.compile(r"专家|学者|嘉宾|发言人|\b(?:experts?|scholars?|speakers?|panell?ists?)\b", re.IGNORECASE)
_EDITORIAL_RE = re.compile(r"编者按|编辑部|座谈会|研讨会|主办|举办|召开|editor|symposium|the meeting", re.IGNORECASE)
_ORG_RE = re.compile(r"[\u4e00-\u9fff]{2,}?(?:大学|学院|研究院|研究中心|研究所|科学院|学会|公司|中心|部)")
_ROLE_RE = re.compile(r"副?(?:院长|所长|部长|主任|理事长|监事长|教授|研究员|经济师)")
# what a student puts after a surname for a speaker (金教授, 盛主任, 吕老师): titles and honorifics in general use
_TITLE_RE = re.compile(r"副?(?:老师|教授|主任|院长|所长|部长|理事长|研究员|博士|先生|女士|总|委员|专家|学者|经济师|"
                       r"校长|书记|局长|处长|司长)")
# the common two-character (compound) Chinese surnames: 欧阳明远 is a name of four characters, not four words
COMPOUND_SURNAMES = frozenset("欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 独孤 南宫 "
                              "西门 申屠 轩辕 呼延 澹台 公冶 太史 万俟 闻人 赫连 钟离 宗政 濮阳 淳于 单于 "
                              "拓跋 百里".split())
_ORG_ALIASES = {"北京大学": ("北大", "peking university"), "南京大学": ("南大",), "中国社会科学院": ("社科院",),
                "国务院发展研究中心": ("国研中心",)}


def _fold(text: str) -> str:
    """Lower-case ASCII with diacritics removed (Lü -> lu), other text unchanged."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _pinyin_forms(name: str) -> set[str]:
    try:
        from pypinyin import lazy_pinyin
    except ImportError:
        return set()
    syllables = lazy_pinyin(name)
    if not syllables or not all(s.isascii() and s.isalpha() for s in syllables):
        return set()
    variants = [syllables]
    if "lv" in syllables or "nv" in syllables:
        for sub in ("lu", "lyu"):
            variants.append([s.replace("v", "u" if sub == "lu" else "yu") for s in syllables])
    forms = set()
    for syl in variants:
        surname, given = syl[0], "".join(syl[1:])
        forms |= {f"{surname} {given}", f"{given} {surname}", f"{surname}{given}", f"{surname}-{given}"}
    return forms


@dataclass(frozen=True)
class Mention:
    speakers: tuple[str, ...]
    across: bool
    editorial: bool  # about the symposium or the editors' text
    editor: bool = False  # names the editors' text as the source of the answer
    excluded: tuple[str, ...] = ()  # speakers the question leaves out (除了 X，还有谁……; 除了编者按……)
    experts: bool = False  # asks about the experts (哪几位专家, which experts), not anyone whose text says it
    by_institution: bool = False  # ``speakers`` were found by an institution the question names (社科院的), not by name


class SpeakerDirectory:
    """Every speaker of the index with the ways a question may name them."""

    def __init__(self, sections: Iterable[tuple[str, str]]) -> None:
        self.speakers: list[str] = []
        self.affiliation: dict[str, str] = {}
        for speaker, affiliation in sections:
            if speaker not in self.affiliation:
                self.speakers.append(speaker)
                self.affiliation[speaker] = affiliation
        self._pinyin = {s: _pinyin_forms(s) for s in self.experts}
        orgs: dict[str, set[str]] = {}
        for s in self.experts:
            for org in self._orgs(self.affiliation[s]):
                orgs.setdefault(org, set()).add(s)
        self._orgs_map = orgs
        # words of a question (jieba's precise mode), for surname + title; the retriever passes its tokenizer's
        self.cut: Callable[[str], list[str]] | None = None

    @property
    def experts(self) -> list[str]:
        return [s for s in self.speakers if s not in (EDITORIAL_SPEAKER, UNKNOWN_SPEAKER)]

    @staticmethod
    def _orgs(affiliation: str) -> set[str]:
        found = set()
        for part in re.split(r"[,，、;；]", affiliation):
            for m in _ORG_RE.finditer(part):
                org = m.group(0)
                found.add(org)
                found.update(_ORG_ALIASES.get(org, ()))
                if org.endswith("大学"):  # "Nanjing University" for 南京大学
                    place = "".join(sorted(_pinyin_forms(org[:-2]), key=len)[:1]).replace(" ", "")
                    if place:
                        found.add(f"{place} university")
        return found

    def find(self, question: str) -> Mention:
        excluded: tuple[str, ...] = ()
        rest = question
        for m in _EXCEPT_RE.finditer(question):
            span = m.group(1) or m.group(2) or ""
            who = self._named(span)
            left = self._without_names(span, who) if who else span
            if _EDITOR_RE.search(left) and EDITORIAL_SPEAKER in self.speakers:  # 除了编者按，还有谁……
                who, left = (*who, EDITORIAL_SPEAKER), _EDITOR_RE.sub(" ", left)
            if who and not _NAME_GLUE.sub("", left).strip():
                excluded += tuple(w for w in who if w not in excluded)
                rest = rest.replace(m.group(0), " ")
        people = self._named(question, institutions=False)
        named = tuple(s for s in (people or self._named(question)) if s not in excluded)
        editor = bool(_EDITOR_RE.search(rest))
        return Mention(named, bool(excluded) or bool(_ACROSS_RE.search(question)),
                       bool(_EDITORIAL_RE.search(rest)), editor, excluded, bool(_EXPERTS_RE.search(rest)),
                       by_institution=bool(named) and not people)

    def without_names(self, text: str) -> str:
        """``text`` without the experts' names, as the question writes them (with a typo, in pinyin, as surname
        and title); institutions and posts are kept (unlike ``strip_names``)."""
        out = self._without_names(text, [*self._named(text, institutions=False)])
        for _, written in self._homophones(re.sub(r"[\s\u3000]+", "", out)):
            out = out.replace(written, " ")
        return out

    def without_institutions(self, text: str) -> str:
        """``text`` without the institutions of the bylines (社科院, 南京大学, Peking University)."""
        for org in sorted(self._orgs_map, key=len, reverse=True):
            text = re.sub(re.escape(org), " ", text, flags=re.IGNORECASE)
        return text

    def _without_names(self, text: str, who: Sequence[str]) -> str:
        """``text`` with the names (and their pinyin forms) of ``who`` taken out."""
        out = text
        for w in who:
            out = out.replace(w, " ")
            out = re.sub(re.escape(w[:2] if w[:2] in COMPOUND_SURNAMES else w[:1]) + _TITLE_RE.pattern, " ", out)
            for form in sorted(self._pinyin.get(w, ()), key=len, reverse=True):
                out = re.sub(re.escape(form).replace("\\ ", r"[\s\-]*"), " ", out, flags=re.IGNORECASE)
        return out

    def _named(self, question: str, institutions: bool = True) -> tuple[str, ...]:
        compact_q = re.sub(r"[\s\u3000]+", "", question)
        folded = " " + re.sub(r"[^a-z\- ]+", " ", _fold(question)) + " "
        named: list[str] = []
        for s in self.experts:
            if s in compact_q or any(f" {form} " in folded for form in self._pinyin[s]):
                named.append(s)
        if len(named) < len(self.experts):
            named.extend(s for s, _ in self._homophones(compact_q) if s not in named)
        for s, _ in self._titled(compact_q):
            if s not in named:
                named.append(s)
        if not named and institutions:
            for org, who in sorted(self._orgs_map.items(), key=lambda kv: -len(kv[0])):
                if org in compact_q or (org.isascii() and f" {org} " in folded):
                    named.extend(w for w in self.experts if w in who and w not in named)
                    break
        return tuple(named)

    def _titled(self, compact_q: str) -> list[tuple[str, str]]:
        """(expert, the words that name them) for experts the question calls by surname and a title (金教授,
        盛主任; 李老师 names both experts named 李, 李理事长 the one whose affiliation holds the title). The
        surname must be a word of its own before the title (or one with it: 任教授), so 担任主任 and 黄金教授
        name no one."""
        surnames = {s: s[:2] if s[:2] in COMPOUND_SURNAMES else s[0] for s in self.experts
                    if len(s) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in s)}
        if not any(sn in compact_q for sn in surnames.values()) or not _TITLE_RE.search(compact_q):
            return []
        words = self._words(compact_q)
        found: list[tuple[str, str]] = []
        for i, w in enumerate(words):
            for s, sn in surnames.items():
                if w == sn and i + 1 < len(words) and _TITLE_RE.fullmatch(words[i + 1]):
                    found.append((s, w + words[i + 1]))
                elif w.startswith(sn) and len(w) > len(sn) and _TITLE_RE.fullmatch(w[len(sn):]):
                    found.append((s, w))
        for form in {f for _, f in found}:
            same = [s for s, f in found if f == form]
            title = form[len(surnames[same[0]]):]
            held = [s for s in same if title.lstrip("副") in self.affiliation.get(s, "")]
            if len(same) > 1 and held:
                found = [(s, f) for s, f in found if f != form or s in held]
        return found

    def _words(self, compact_q: str) -> list[str]:
        """The question cut into words (jieba, loaded on the first question that needs it)."""
        if self.cut is None:
            import jieba

            self.cut = jieba.lcut
        return self.cut(compact_q)

    @staticmethod
    def _dictionary_words(compact_q: str) -> list[str]:
        """The question cut into the dictionary's words only: without its guesses at unknown words (HMM),
        which glue a mistyped name to the word before it (介绍下任宝平 -> 下任, 问王韵 -> 问王)."""
        import jieba

        return jieba.lcut(compact_q, HMM=False)

    def _homophones(self, compact_q: str) -> list[tuple[str, str]]:
        """Experts whose name the question writes with other characters of the same sound (a typo an
        input method makes: 任宝平 for 任保平, 张晖 for 张辉)."""
        try:
            from pypinyin import lazy_pinyin
        except ImportError:
            return []
        cjk = [(i, c) for i, c in enumerate(compact_q) if "\u4e00" <= c <= "\u9fff"]
        if not cjk:
            return []
        sounds = lazy_pinyin("".join(c for _, c in cjk))
        if len(sounds) != len(cjk):
            return []
        bounds: set[int] | None = None  # where the dictionary's words start: cut only once a span sounds right
        found = []
        for s in self.experts:
            target = lazy_pinyin(s)
            n = len(target)
            for i in range(len(sounds) - n + 1):
                # the same sounds at consecutive positions, and all characters but one the same; a span that
                # starts inside a dictionary word (扩张会 -> 张会, 生产力平衡 -> 力平) is no name the question
                # typed (its end may run into the next word: 任宝平和 -> 任宝 平和)
                same = sum(cjk[i + k][1] == s[k] for k in range(n)) if sounds[i:i + n] == target else -1
                if same < max(1, n - 1) or cjk[i + n - 1][0] - cjk[i][0] != n - 1:
                    continue
                if bounds is None:
                    bounds = {0, *accumulate(len(w) for w in self._dictionary_words(compact_q))}
                if cjk[i][0] in bounds:
                    found.append((s, "".join(c for _, c in cjk[i:i + n])))
                    break
        return found

    def misspelled(self, question: str) -> list[tuple[str, str]]:
        """(expert, as written) for each expert the question names only by a name of the same sound with
        other characters (王韵 for 王蕴): what the reader should be told was assumed."""
        compact_q = re.sub(r"[\s\u3000]+", "", question)
        return [(s, w) for s, w in self._homophones(compact_q) if s not in compact_q]

    def strip_names(self, question: str) -> str:
        """The question without the experts' names (for judging what it asks about)."""
        out = question
        for s in self.experts:
            out = out.replace(s, " ")
        for _, written in self._homophones(re.sub(r"[\s\u3000]+", "", out)):
            out = out.replace(written, " ")
        for org in sorted(self._orgs_map, key=len, reverse=True):
            out = out.replace(org, " ")
        out = _ROLE_RE.sub(" ", out)
        folded = _fold(out)
        for forms in self._pinyin.values():
            for form in forms:
                folded = re.sub(rf"(?<![a-z]){re.escape(form)}(?![a-z])", " ", folded)  # 的 is a word character
        return folded if folded != _fold(out) else out

    def chinese_names(self, question: str, mention: Mention) -> str:
        """The question with the Chinese names of experts it names in pinyin added, and a surname with a
        title (金教授) written as the name (金碚), so the title does not match the bylines (for search)."""
        titled: dict[str, list[str]] = {}
        for s, form in self._titled(re.sub(r"[\s\u3000]+", "", question)):
            titled.setdefault(form, []).append(s)
        for form, who in titled.items():
            question = question.replace(form, " ".join(who))
        extra = " ".join(s for s in mention.speakers if s not in question)
        return f"{question} {extra}".strip()


def is_post(word: str) -> bool:
    """A post or a title (教授, 副主任, 研究员), as bylines print them and students address people."""
    return bool(_ROLE_RE.fullmatch(word) or _TITLE_RE.fullmatch(word))


def english_name(name: str) -> str:
    """A Chinese name in pinyin, surname first, as English text writes it: 吕薇 -> Lü Wei, 任保平 -> Ren Baoping."""
    try:
        from pypinyin import lazy_pinyin
    except ImportError:
        return name
    syl = [s.replace("v", "ü") for s in lazy_pinyin(name)]
    if not syl or not all(s.isalpha() for s in syl) or len(syl) < 2:
        return name
    return f"{syl[0].capitalize()} {''.join(syl[1:]).capitalize()}"
