"""Questions about the speakers themselves, answered from their bylines.

A symposium record prints each statement under a byline: the speaker, their posts, the title. A student's
first questions are often about those (几位专家发言？金碚是谁？张辉在哪工作？哪几位是社科院的？第一个发言的是谁？),
and no sentence of the statements answers them. This stage recognises such a question from how questions
about people are asked in general (not from this document's words) and names the bylines that answer it:

* ``person``: one or more named experts, asked who they are, where they work, their posts, their talk's title;
* ``position``: the expert who spoke in a given place (第一个, 最后一位, 王蕴前面那位);
* ``filter``: which experts' bylines have something (社科院的, 在大学当教授的, 头衔带“原”字的);
* ``roster``: the speakers as a whole (几位专家发言, 都有谁, 每个人的单位).

A question that also asks about something a byline does not hold (金碚是谁，他怎么看AI; 金碚多大年纪) is not one
of these: its other words are left over, and the ordinary search answers it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .chunk import BYLINE_LABEL, chinese_numeral
from .claims import cn_value
from .speakers import Mention, english_name
from .types import Passage, SpeakerQuestion

PERSON, POSITION, FILTER, ROSTER = "person", "position", "filter", "roster"  # SpeakerQuestion.kind

# what a byline holds, as questions about a person ask for it: who they are, where they work and what they hold,
# what their talk is called (a general device of questions about people, in Chinese and English)
_FIELD_RE = re.compile(
    r"是谁|是哪位|(?:是)?(?:干|做)(?:啥|嘛|什么)的|(?:什么|啥)(?:人|来头|身份)|何许人|来头|身份|简介|介绍一下|"
    r"(?:哪|什么|啥)(?:个|家|所)?(?:单位|机构|部门|学校|大学|学院|研究所|研究院|地方)|单位|"
    r"在哪(?:儿|里)?(?:工作|上班|任职|高就|供职|就职|教书|任教|(?=[的呢吗啊呀\s，,。？?]|$))|哪(?:儿|里)?的|来自哪|"
    r"职务|职位|职称|头衔|官职|任职|当(?:什么|啥)|(?:什么|啥)(?:职|官)|"
    r"(?:发言|演讲|报告|文章|那篇|讲话)?(?:的)?(?:题目|标题|题名)|(?:发言|文章|那篇)叫(?:啥|什么)|"
    r"\bwho(?:'s| is| was)\b|\baffiliat\w*|\bwork(?:s|ed)?\b|\bposition\b|\bjob\b|\binstitution\b|"
    r"\b(?:which|what) (?:university|institution|organi[sz]ation|school|institute)\b|\btitled?\b|\bbackground\b",
    re.IGNORECASE)
_TITLE_ASKED = re.compile(r"题目|标题|题名|\btitle", re.IGNORECASE)
# the speakers as a whole: how many, who, the list, the order
_ROSTER_RE = re.compile(
    r"几(?:位|个|名)|多少(?:位|个|名)?(?:专家|学者|人|嘉宾|发言人)|都有谁|都是谁|都有哪些|有哪(?:些|几位)|"
    r"(?:是|有)(?:谁|哪些人|哪几位)|谁(?:发言|参加|出席|参与|讲)了?|名单|顺序|依次|每(?:个|位|一位)|各(?:位|个)|分别|都|"
    r"\bhow many\b|\bwho (?:spoke|took part|participated|attended|were)\b|\blist\b|"
    r"\ball (?:the )?(?:experts|speakers)\b|\beach\b|\border\b",
    re.IGNORECASE)
# a question asking which of them (for a filter over the bylines)
_WHICH_RE = re.compile(r"谁|哪(?:些|几|位|个|[两二三四五六七八九十\d]+(?:位|个|名))|\bwhich\b|\bwho\b", re.IGNORECASE)
# a place in the order of speaking, and the place of a named speaker (盛朝迅是第几个发言的)
_ORDINAL_RE = re.compile(r"(倒数)?(?:第([一二三四五六七八九十两\d]+)|(最后|末|头|首))(?:一)?(?:个|位|名)?"
                         r"(?:发言|讲|出场|上台|登场)")
_ORDINAL_EN = re.compile(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)\s+"
                         r"(?:speaker|expert|talk|presentation|statement|to speak|one to speak)", re.IGNORECASE)
_WHICH_PLACE = re.compile(r"第几(?:个|位|名)?|排(?:在)?第几|\bin what (?:place|order)\b", re.IGNORECASE)
_RELATIVE_RE = re.compile(r"(前后|前面|之前|前一个|前一位|上一个|上一位|后面|之后|后一个|后一位|下一个|下一位|"
                          r"\bbefore\b|\bafter\b)", re.IGNORECASE)
_SAY_RE = re.compile(r"提到|提及|说|讲|(?<![座会])谈(?!会)|认为|指出|主张|强调|提出|观点|看法|"
                     r"怎么看|咋看|如何看|建议|"
                     r"\b(?:say|said|mention\w*|argue\w*|think\w*|view\w*|discuss\w*|talk\w* about)\b",
                     re.IGNORECASE)
_WHEN_RE = re.compile(r"哪一?年|什么时候|何时|几岁|多大|多少(?!位|个|名|人|专家|学者|嘉宾)|几年|"
                      r"\bwhen\b|\bwhat year\b|\bhow old\b", re.IGNORECASE)
_COUNTED = re.compile(r"^(?:[一二三四五六七八九十两几多]+|\d{1,2})[个位名]?$")  # a count, not a year
_EN_ORD = {w: i for i, w in enumerate("first second third fourth fifth sixth seventh eighth ninth tenth".split(), 1)}
# words every question about a symposium's speakers may use, which a byline need not hold: the people, the
# event, taking part, counting and listing them, asking (a general vocabulary of such records, not this document's)
_FRAME = frozenset("""说说 谈谈 讲讲 专家 学者 嘉宾 发言 发言人 讲话 演讲 报告 出场 上台 座谈会 研讨会
会议 论坛 座谈 研讨 会 会上 参加 出席 参与 与会 一共 总共 共 一下 分别 各自 每个
每位 各位 大家 人 老师 这次 这个 那个 这位 那位 个 位 名 请问 介绍 知道 告诉
发言题目 题目 标题 名字 叫 顺序 依次 名单 前面 后面 之前 之后 第一 最后 工作 上班
任职 单位 职务 职位 职称 头衔 身份 来头 干 当 官 那篇 文章 这篇 篇 哪儿 哪里
来自 出来 出身 列 列出 列出来 整理 表 表格 汇总 一览 帮 帮忙 我 给 词 字 里 带
含 包含 现在 目前 当时 原来 以前 过去 来 到底 究竟 具体 的 了 是 有 都 还 呢
吗 啊 呀 吧 嘛 呗 啥 什么 哪 谁 几 speaker speakers expert
experts scholar scholars symposium meeting talk
talks title affiliation work works worked
position job institution background who what
which where is are was were the of a an at for
did does do how many list all each order first
last spoke speak took part participated attended
gave give from university""".split())


def _ordinal(text: str) -> int | None:
    """1 for 一/1, -1 for 最后/末/last; None if it is no place in an order."""
    if text in ("最后", "末", "last"):
        return -1
    if text in ("头", "首"):
        return 1
    if text.isdigit():
        return int(text)
    if text.lower() in _EN_ORD:
        return _EN_ORD[text.lower()]
    value = cn_value(text)
    return int(value) if value is not None else None


def classify(question: str, mention: Mention, experts: Sequence[str], affiliations: dict[str, str],
             titles: dict[str, str], event: str, words: Callable[[str], list[str]],
             without_names: Callable[[str], str], without_institutions: Callable[[str], str],
             posts: Callable[[str], bool], is_place: Callable[[str], bool] = lambda w: False,
             ) -> SpeakerQuestion | None:
    """What the question asks of the bylines, or None when it asks about anything else.

    ``experts`` are the speakers in the order they spoke; ``affiliations`` and ``titles`` each one's byline
    as printed; ``event`` the name of the symposium (the editors' heading); ``words`` gives the content words
    of a text, ``without_names`` takes the experts' names out of it and ``without_institutions`` the
    institutions of their bylines (and their abbreviations), ``posts`` tells a post or title (教授, 主任),
    ``is_place`` a place name (北京).
    Words of the frame above, numbers and words the asked-about bylines hold are not left over."""
    if not experts or mention.excluded:
        return None
    title_asked = bool(_TITLE_ASKED.search(question))

    def byline(s: str) -> str:
        return affiliations.get(s, "") + (titles.get(s, "") if title_asked else "")

    def rest(*held: str, institutions: bool = False) -> list[str]:
        text = without_names(question)
        if institutions:
            text = without_institutions(text)
        for pattern in (_FIELD_RE, _ROSTER_RE, _ORDINAL_RE, _ORDINAL_EN, _WHICH_PLACE, _RELATIVE_RE):
            text = pattern.sub(" ", text)
        return [w for w in words(text) if w.lower() not in _FRAME and not _COUNTED.match(w)
                and not any(w.lower() in h.lower() for h in held)]

    named = [s for s in experts if s in mention.speakers] if not mention.by_institution else []
    # what they said (说, 讲, 谈, 认为…), not a request (说说, 谈谈, 讲一下), a talk's title, or a place in the order
    asked = re.sub(r"(?:发言|演讲|讲话|讲)(?:的)?(?:是|叫)?(?:啥|什么)?(?:题目|标题)"
                   r"|说说|谈谈|讲讲|说一下|讲一下|谈一下|介绍", " ", question)
    if _RELATIVE_RE.search(asked) or _ORDINAL_RE.search(asked) or _WHICH_PLACE.search(asked):
        asked = re.sub(r"谁讲", " ", asked)  # 钱红前后是谁讲的: who spoke there, in the order of speaking
    said = bool(_SAY_RE.search(_RELATIVE_RE.sub(" ", _ORDINAL_RE.sub(" ", asked))))
    if not mention.editorial:
        event = ""  # the symposium's name excuses its words only where the question speaks of the symposium
    if said or _WHEN_RE.search(question):
        return None  # what they think, or a date or a number: no byline gives those
    relative = _RELATIVE_RE.search(question)
    speaking = re.search(r"发言|讲|speaker|spoke|talk", question, re.IGNORECASE)
    if len(named) == 1 and speaking and _WHICH_PLACE.search(question) and not rest(event):
        return SpeakerQuestion(POSITION, tuple(named), "the speaker's place in the order of the bylines",
                               (experts.index(named[0]) + 1,))
    if len(named) == 1 and relative and speaking and not rest(event):
        before = relative.group(1) in ("前面", "之前", "前一个", "前一位", "上一个", "上一位") \
            or relative.group(1).lower() == "before"
        at = experts.index(named[0])
        around = [at - 1, at + 1] if relative.group(1) == "前后" else [at - 1] if before else [at + 1]
        at_places = tuple(i for i in around if 0 <= i < len(experts))
        if at_places:
            return SpeakerQuestion(POSITION, tuple(experts[i] for i in at_places), f"who spoke {relative.group(1)} "
                                   f"{named[0]}, from the order of the bylines", tuple(i + 1 for i in at_places),
                                   named[0], at + 1)
        return None
    place = _ORDINAL_RE.search(question) or _ORDINAL_EN.search(question)
    if place and not named and not rest(event):
        if place.re is _ORDINAL_EN:
            n = _ordinal(place.group(1))
            back = n == -1
        else:
            n = _ordinal(place.group(2) or place.group(3) or "")
            back = bool(place.group(1)) or n == -1
        if n is None or n == 0 or abs(n) > len(experts):
            return None
        i = len(experts) - abs(n) if back else n - 1
        return SpeakerQuestion(POSITION, (experts[i],), "the place in the order of speaking, from the bylines",
                               (i + 1,))
    if named and (_FIELD_RE.search(question) or any(posts(w) for w in words(without_names(question)))):
        # who they are, where they work, what the talk is called: unless it also asks what their bylines lack
        # (a post the byline does not hold is asked about too: 是教授还是研究员 is answered by the byline)
        held = "".join(affiliations.get(s, "") + titles.get(s, "") for s in named)
        left = rest(held, event)
        if [w for w in left if not posts(w)]:
            return None
        # a post the named speaker does not hold, and another does (李开孟是监事长吧): that speaker's byline too
        others = tuple(s for s in experts if s not in named
                       and any(w in affiliations.get(s, "") for w in left if len(w) > 2))
        return SpeakerQuestion(PERSON, (*named, *others) if others and len(others) < 3 else tuple(named),
                               "a question about the speaker, from the byline")
    if named:
        return None
    if mention.by_institution:
        # the question names an institution (by its name or an abbreviation: 社科院), and the speakers who work
        # there were found by it: which of them, unless it asks something else of them
        # (中国技术经济学会理事长是哪位: of those, the ones whose bylines also hold what else it asks for)
        need = [w for w in rest(institutions=True) if not _org_word(w)]
        having = tuple(s for s in experts if s in mention.speakers and all(w in byline(s) for w in need))
        if _WHICH_RE.search(question) and having:
            return SpeakerQuestion(FILTER, having, "the speakers whose bylines name the institution asked about")
        return None
    left = rest()
    quoted = re.findall(r"[“\"「『]([^”\"」』]{1,12})[”\"」』]", question)
    if (left or quoted) and _WHICH_RE.search(question):
        # which of them: those whose byline has every word the question adds (在大学当教授的, 头衔带“原”字的)
        need = quoted or left  # what it quotes is the criterion; the rest may explain it (已经卸任了的)
        if not quoted and any(is_place(w) for w in need):
            return None  # 来自北京: where an institution is, no byline says (北京大学 is not all of Beijing)
        having = tuple(s for s in experts if all(w.lower() in byline(s).lower() for w in need))
        if having and len(having) < len(experts):
            return SpeakerQuestion(FILTER, having, f"the speakers whose bylines have {'、'.join(need)}")
    if not rest(event) \
            and (_ROSTER_RE.search(question) or (_FIELD_RE.search(question) and mention.experts)) \
            and (mention.experts or re.search(r"谁|几|多少|\bhow many\b|\bwho\b", question, re.IGNORECASE)):
        return SpeakerQuestion(ROSTER, tuple(experts), "a question about the speakers as a whole, from the bylines")
    return None


def _org_word(word: str) -> bool:
    """An institution's name or abbreviation as a word of its own (社科院, 北大): what the filter matched on."""
    return bool(re.search(r"(?:院|大|所|中心|部|会|校)$", word))


def quote(about: SpeakerQuestion, passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """What an answer from the bylines quotes: (passage rank, verbatim text), each asked-about speaker's byline
    from where the document's own words begin (the index's label before them left out), and the title (the
    passages that follow them are the closest others, for the reader, not quoted)."""
    return [(rank, p.text.removeprefix(BYLINE_LABEL)) for rank, p in enumerate(passages)
            if p.chunk.kind == "profile" and (p.speaker in about.speakers or p.speaker == about.anchor)]


def heading(about: SpeakerQuestion, total: int, english: bool) -> str:
    """The line over an answer from the bylines; for a place in the order, which place (of how many), and for
    the speakers as a whole, how many: the count and the order are the bylines' own, which no sentence of
    them states."""
    if about.kind == ROSTER:
        if english:
            return f"From the bylines of the statements: {total} experts spoke, in this order (in Chinese):"
        return f"据各篇发言的署名，共有{total}位专家发言，依次是："
    if about.kind != POSITION or not about.places:
        return "据各篇发言的署名：" if not english else "From the bylines of the statements, in Chinese:"
    if english:
        places = ", ".join(f"speaker {n} of {total}" for n in about.places)
        anchor = f"; {english_name(about.anchor)} is speaker {about.anchor_place}" if about.anchor else ""
        return f"From the bylines, in the order they spoke ({places}{anchor}), in Chinese:"
    anchor = f"，{about.anchor}为第{chinese_numeral(about.anchor_place)}位" if about.anchor else ""
    places = "、第".join(chinese_numeral(n) for n in about.places)
    return f"据各篇发言的署名（共{total}位，按发言顺序为第{places}位{anchor}）："

