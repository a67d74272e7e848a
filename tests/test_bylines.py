"""Questions about the speakers themselves (issue 11, item 3), answered from their bylines: on a made-up symposium
the code was not written for, and on the seed; with the questions about the same people that the bylines do not
answer (what they think, their age, a date) as the controls."""

from __future__ import annotations

import pytest

from tests.helpers import made_up_index

RECORD = "".join(f"## {sp} | {aff} | {title}\n\n{text}\n\n" for sp, aff, title, text in [
    ("赵明", "浙江大学农业经济研究中心主任,教授", "数字农业的三个抓手", "发展现代农业需要良种、良法和良田。" * 4),
    ("钱红", "国家信息中心原副主任,研究员", "教育数字化从课堂做起", "教育数字化要从课堂做起，老师要会用新工具。" * 4),
    ("孙亮", "复旦大学经济学院院长,教授", "金融科技的监管", "金融科技的监管要跟上创新的步伐。" * 4),
    ("周平", "中国农业科学院研究员", "种业振兴的路径", "种业振兴要靠科技创新和良种繁育体系。" * 4),
])


@pytest.fixture(scope="module")
def symposium(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from assistant.pipeline import Assistant

    index = made_up_index(tmp_path_factory.mktemp("bylines"), RECORD)
    return Assistant(index.settings, index=index)


def _cited(answer) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(c.passage.speaker, c.passage.chunk.kind) for c in answer.citations]


@pytest.mark.parametrize("question, kind, speakers", [
    ("赵明是谁", "person", ("赵明",)),
    ("钱红在哪上班的", "person", ("钱红",)),
    ("孙亮的发言题目是啥", "person", ("孙亮",)),
    ("周平是教授吗", "person", ("周平",)),  # a post the byline does not hold: the byline answers no
    ("第二个发言的是谁", "position", ("钱红",)),
    ("最后一位发言的是哪位专家", "position", ("周平",)),
    ("钱红后面那个发言的是谁", "position", ("孙亮",)),
    ("孙亮是第几个发言的", "position", ("孙亮",)),
    ("哪几位专家是大学的教授", "filter", ("赵明", "孙亮")),
    ("哪些人是研究员", "filter", ("钱红", "周平")),
    ("谁的头衔带“原”字", "filter", ("钱红",)),
    ("浙江大学来的是谁", "filter", ("赵明",)),
    ("一共有几位专家发言 都是谁", "roster", ("赵明", "钱红", "孙亮", "周平")),
    ("把每位专家的单位都列出来", "roster", ("赵明", "钱红", "孙亮", "周平")),
    ("Who is Zhao Ming?", "person", ("赵明",)),
    ("How many experts spoke?", "roster", ("赵明", "钱红", "孙亮", "周平")),
])
def test_a_question_about_the_speakers_is_answered_plainly_from_their_bylines(symposium, question, kind,
                                                                             speakers) -> None:
    r = symposium.retriever.search(question)
    assert r.about_speakers is not None and r.about_speakers.kind == kind, r.about_speakers
    assert r.about_speakers.speakers == speakers
    a = symposium.ask(question)
    assert a.decision == "answer" and a.model == "extractive", (a.decision, a.reason)
    assert "未必" not in a.text and "may not" not in a.text  # not hedged: the bylines say it
    assert a.citations and all(k != "text" for _, k in _cited(a)), a.text
    assert all(s.verdict in ("supported", "unverifiable") for s in a.sentences), a.sentences
    # the document's words are quoted, from the byline as printed on, not the index's label before them
    printed = {"赵明": "浙江大学农业经济研究中心主任,教授赵明", "钱红": "国家信息中心原副主任,研究员钱红"}
    assert "署名（工作单位" not in a.text, a.text
    assert all(line in a.text for s, line in printed.items() if s in speakers), a.text
    if kind != "roster":
        # each asked-about speaker's own byline; for a place next to a named speaker, that speaker's too, in order
        anchor = r.about_speakers.anchor
        cited = sorted([*speakers, anchor], key=RECORD.index) if anchor else list(speakers)
        assert [sp for sp, _ in _cited(a)] == cited, a.text
    else:
        assert all(sp in a.text for sp in speakers)
    if kind == "position":
        assert "按发言顺序" in a.text.splitlines()[0] or "in the order" in a.text.splitlines()[0]


@pytest.mark.parametrize("question", [
    "赵明怎么看现代农业",  # what he thinks: his statement answers it
    "哪几位专家提到了良种",  # who said something
    "赵明多大年纪",  # an attribute no byline gives
    "赵明是哪年去的浙江大学",  # a date no byline gives
    "钱红的邮箱是啥",
    "赵明是谁 他怎么看种业",  # a question about the person and about what he said
    "除了赵明还有谁是教授",  # a list that leaves someone out: the ordinary search
])
def test_the_controls_questions_the_bylines_do_not_answer_take_the_ordinary_path(symposium, question) -> None:
    assert symposium.retriever.search(question).about_speakers is None


def test_a_place_in_the_order_is_said_in_the_heading_from_the_order_of_the_bylines(symposium) -> None:
    """The bylines' order is the index's own; no sentence of them states it, so the heading over the quoted
    byline says it (and the searched texts do not carry 第N位, which would match every 第三点 question)."""
    assert "第三位" in symposium.ask("第三个发言的是谁").text.splitlines()[0]
    assert "第一、第三位，钱红为第二位" in symposium.ask("钱红前后分别是谁讲的").text.splitlines()[0]
    assert "Qian Hong is speaker 2" in symposium.ask("Who spoke after Qian Hong?").text.splitlines()[0]
    assert all("位发言" not in c.text for c in symposium.retriever.chunks if c.kind == "profile")


def test_the_list_of_speakers_is_followed_by_the_introduction(tmp_path) -> None:
    """The list of speakers holds every byline, so the editors' introduction, where a record says who spoke on
    what and why, comes second (its closest passage), not after every speaker's byline beyond the first five.
    Without an introduction nothing is put there: the closest passage of some statement is no answer to who
    spoke."""
    from assistant.pipeline import Assistant

    intro = "# 数字乡村座谈会\n\n本刊编辑部邀请四位专家围绕数字乡村建设座谈，现将专家发言摘编刊发，供读者参考。\n\n"
    for record, second in ((intro + RECORD, ("编者按", "text")), (RECORD, (None, "profile"))):
        folder = tmp_path / str(len(record))
        folder.mkdir()
        index = made_up_index(folder, record)
        r = Assistant(index.settings, index=index).retriever.search("一共有几位专家发言 都是谁", k=5)
        got = [(p.speaker, p.chunk.kind) for p in r.passages]
        assert got[0][1] == "overview" and got[1][1] == second[1], got
        assert second[0] is None or got[1][0] == second[0], got
        assert [k for _, k in got].count("profile") == 4, got


@pytest.mark.parametrize("question, wrong", [("第二个发言的是谁", ""), ("这四位专家都是谁", ""),
                                             ("倒数第二个发言的是谁", ""), ("哪两位专家是大学的教授", ""),
                                             ("大学的五位教授是谁", "5位")])
def test_the_count_and_the_place_in_the_order_are_held_against_the_answer(symposium, question, wrong) -> None:
    """The heading of a byline answer gives the count and the place from the bylines' order, and the answer
    names so many speakers: a question's 第二个, 倒数第二个 or 两位 that they bear out is no figure the passages
    lack, one they do not (five professors where the bylines show two) is reported."""
    a = symposium.ask(question)
    assert a.model == "extractive" and a.decision == "answer", (a.model, a.decision, a.text)
    if wrong:
        assert f"the question's {wrong} is not in the cited passages" in a.notice, a.notice
    else:
        assert "not in the cited passages" not in a.notice, a.notice
    # the control: a question about what was said, with a figure no passage has, keeps the notice
    assert "not in the cited passages" in symposium.ask("赵明说现代农业需要的五个条件是什么").notice


@pytest.mark.parametrize("question, speakers", [
    ("这个座谈会一共有几个专家发言 都是谁", ("吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟")),
    ("哪几位专家是社科院出来的", ("金碚", "李平")),
    ("张辉前面那个发言的是谁啊", ("任保平",)),
    ("李开孟是谁", ("李开孟",)),
])
def test_on_the_seed(seed_index, question, speakers) -> None:
    """The seed's own questions of this kind: hedged (文档中未必有直接的回答) or answered from another passage
    before (0.10.0 answered 哪几位专家是社科院出来的 with a sentence of 李平's statement about data sets)."""
    from assistant.pipeline import Assistant

    a = Assistant(seed_index.settings.with_overrides(model="extractive"), index=seed_index).ask(question)
    assert a.decision == "answer", (a.decision, a.reason, a.text)
    assert all(sp in a.text for sp in speakers) and all(c.passage.chunk.kind != "text" for c in a.citations)


def test_an_expert_filter_that_leaves_the_speaker_out_searches_as_before(seed_index) -> None:
    """The UI's expert filter on 吕薇: a question about 张辉's byline is not answered from it."""
    from assistant.retrieve import Retriever

    r = Retriever(seed_index, seed_index.settings)
    assert r.search("张辉在哪工作", speakers=("吕薇",)).about_speakers is None
    assert r.search("张辉在哪工作", speakers=("张辉",)).about_speakers is not None



class _Model:
    """A fake LLM that would answer anything with one fixed (wrong) sentence."""

    is_llm = True
    name = "fake-llm"

    def stream(self, request):  # type: ignore[no-untyped-def]
        yield "赵明是浙江大学的教授。[1]"


def test_with_an_llm_configured_the_bylines_answer_without_it(tmp_path) -> None:
    """The bylines are quoted whatever the engine (a model restates them, and does not know their order); the
    answer says it came from the bylines, not from the model. The control: a question about what an expert
    said still goes to the model."""
    from assistant.pipeline import BYLINES_ENGINE, Assistant

    index = made_up_index(tmp_path, RECORD)
    a = Assistant(index.settings, generator=_Model(), index=index)
    answer = a.ask("第二个发言的是谁")
    assert answer.model == BYLINES_ENGINE and "钱红" in answer.text and "浙江大学" not in answer.text
    assert a.ask("赵明怎么看现代农业").model == "fake-llm"



@pytest.mark.parametrize("question, kind", [
    # found by a review: words of the symposium's own name, a word of a workplace's name, a place, asked about
    ("新质生产力有几个特征", None),
    ("第一个发言的专家讲的新质生产力特征", None),
    ("创新是哪位专家讲的", None),  # 创新 is in 吕薇's department's name, and she is not the one who said it
    ("谁讲数字经济", None),
    ("哪些专家来自北京", None),  # the bylines do not say where an institution is
    ("一共多少人发言", "roster"),
    ("说说金碚是谁", "person"),  # a request (说说), not what he said
    ("李平和王蕴是哪的", "person"),
    ("最后一个讲的是哪位专家", "position"),
])
def test_review_cases_on_the_seed(seed_index, question, kind) -> None:
    from assistant.retrieve import Retriever

    about = Retriever(seed_index, seed_index.settings).search(question).about_speakers
    assert (about.kind if about else None) == kind, about
