"""The decide stage's rules that need no fitting: questions about a time after the record."""

from __future__ import annotations

import pytest

from assistant.pipeline import Assistant
from assistant.retrieve import Retriever
from tests.helpers import made_up_index


@pytest.fixture(scope="module")
def assistant(seed_index):  # type: ignore[no-untyped-def]
    return Assistant(seed_index.settings.with_overrides(model="extractive"), index=seed_index)


def test_the_record_is_dated_by_its_latest_full_date(assistant) -> None:
    # the seed reports events up to 2024 年 3 月; it names 2035 and 2050 too, as targets, without a month
    assert assistant.retriever.document_year == 2024


@pytest.mark.parametrize("question", ["2025年政府工作报告对新质生产力是咋说的？",
                                      "What did the 2025 Government Work Report say about it?",
                                      "这几个专家2027年又发了什么新文章"])
def test_a_question_about_a_year_after_the_record_is_refused_saying_why(assistant, question) -> None:
    a = assistant.ask(question)
    assert a.decision == "refuse" and a.abstained and "after the document's date (2024)" in a.reason
    assert "2024" in a.text and ("2025" in a.text or "2027" in a.text)


@pytest.mark.parametrize("question", ["有人说人工智能奇点最早2026年到来，是谁说的？",  # the record names 2026
                                      "2024年3月24日的座谈会讨论了什么？",
                                      "有专家提到投资2080亿元的项目吗？",  # an amount, not a year
                                      "2024—2025年新质生产力发展有什么变化？",  # the record's own year too
                                      "到2030年新质生产力要达到什么水平？"])  # a target a record may discuss
def test_a_year_the_record_names_or_has_reached_is_not_refused_for_it(assistant, question) -> None:
    a = assistant.ask(question)
    assert a.decision != "refuse" and "document's date" not in a.reason


def test_a_record_without_dates_refuses_nothing_for_a_year(tmp_path) -> None:
    index = made_up_index(tmp_path, "## 赵明 | 某某大学 | 数据要素\n\n数据是新型生产要素，只有在使用中才能创造价值。\n")
    r = Retriever(index, index.settings)
    assert r.document_year is None
    assert r.later_years(r.search("2030年数据要素会怎样？")) == []


@pytest.mark.parametrize("question, kind", [("金碚说华为员工持股比例到底是多少？", "number"),
                                            ("金碚说的美国小院高墙政策是哪一年开始的？", "date")])
def test_a_figure_no_matching_passage_gives_is_refused_saying_so(assistant, question, kind) -> None:
    a = assistant.ask(question)
    assert a.decision == "refuse" and f"asks for a {kind}" in a.reason
    assert ("具体数字" if kind == "number" else "具体时间") in a.text
    assert a.passages  # the closest passages are still shown


@pytest.mark.parametrize("question", ["盛朝迅说制造业增加值占全球比重是多少？",  # 超过 30%
                                      "李平说我国GDP是印度的几倍？",  # 5 倍以上
                                      "新质生产力是哪一年首次提出的？",  # 2023 年 9 月
                                      "王蕴讲的实现路径一共有几条？"])  # a count of items: the list answers it
def test_a_figure_the_passages_give_is_answered(assistant, question) -> None:
    a = assistant.ask(question)
    assert a.decision != "refuse" and "asks for a" not in a.reason


def _tiny_assistant(tmp_path):  # type: ignore[no-untyped-def]
    index = made_up_index(tmp_path, "## 赵明 | 东方理工大学 | 智能制造\n\n"
                                    "无人值守的黑灯工厂正在兴起，生产线几乎不需要照明。\n\n"
                                    "在智能仓储方面，海尔集团建成了全自动的立体仓库。\n\n"
                                    "数据中心正向西部转移，以利用那里便宜的电力。\n")
    return Assistant(index.settings, index=index)


def test_a_name_the_passages_do_not_give_is_refused_and_one_they_give_is_not(tmp_path) -> None:
    """The answer type of 哪家企业/哪个城市: the passages on the topic must name an organisation or a place
    the question does not; an expert's byline names where the expert works."""
    a = _tiny_assistant(tmp_path)
    dark = a.ask("赵明说的黑灯工厂是哪家企业建的？")
    assert dark.decision == "refuse" and "asks for an organisation" in dark.reason, dark.reason
    assert "机构或企业" in dark.text and dark.passages
    west = a.ask("赵明说数据中心转移到了西部哪个城市？")
    assert west.decision == "refuse" and "asks for a place" in west.reason, west.reason
    # the controls: the passage names the company; the byline names the university
    store = a.ask("赵明说的全自动立体仓库是哪家企业建的？")
    assert "asks for" not in store.reason and store.decision != "refuse", store.reason
    works = a.ask("赵明是哪个单位的？")
    assert "asks for" not in works.reason and works.decision != "refuse", works.reason


@pytest.mark.parametrize("question", ["哪家强", "文章哪个地方提到了数据要素", "哪个模型更好", "用哪个单位计量"])
def test_a_question_that_does_not_ask_for_a_name_is_not_read_as_one(question) -> None:
    assert Retriever.asks_figure(question) is None


def test_it_in_a_follow_up_is_the_previous_topic_and_he_is_the_expert(tmp_path) -> None:
    """那它…: 它 stands for a thing of the previous question, which is searched with it; 他 stays the expert."""
    a = _tiny_assistant(tmp_path)
    first = a.ask("赵明说的黑灯工厂是什么？")
    history = [("赵明说的黑灯工厂是什么？", first)]
    it = a.condense("那它为什么可以无人值守？", history)
    assert "黑灯工厂" in it.text and it.speakers == ("赵明",), it
    he = a.condense("那他在哪个大学工作？", history)  # the control: a person, the same expert, no topic carried
    assert "黑灯工厂" not in he.text and he.speakers == ("赵明",), he


def test_other_is_not_it() -> None:
    from assistant.condense import _THING

    assert _THING.search("那它是哪天开的") and _THING.search("what is its origin")
    assert not _THING.search("他还说了其它什么？") and not _THING.search("is it true that he said so?")


def test_a_person_the_passages_do_not_name_is_refused_and_one_they_name_is_not(tmp_path) -> None:
    """谁最早提出/哪位学者创立/哪个官员: someone other than the speakers, by name. The passages on the topic must
    name a person (two characters or more) the question does not."""
    index = made_up_index(tmp_path, "## 赵明 | 东方理工大学 | 智能制造\n\n"
                                    "无人值守的黑灯工厂正在兴起，生产线几乎不需要照明。\n\n"
                                    "柔性制造的概念出自经济学家张国华的著作，后来被广泛采用。\n")
    a = Assistant(index.settings, index=index)
    dark = a.ask("黑灯工厂这个说法最早是谁提出来的？")
    assert dark.decision == "refuse" and "asks for a person" in dark.reason, dark.reason
    assert "人名" in dark.text and dark.passages
    # the control: the passage names him
    flex = a.ask("柔性制造的概念最早是谁提出来的？")
    assert "asks for" not in flex.reason and flex.decision != "refuse", flex.reason


@pytest.mark.parametrize("question", ["谁提到了黑灯工厂", "黑灯工厂是谁说的", "哪位专家讲了黑灯工厂", "赵明是谁",
                                      "哪位学者认为数据是新型生产要素", "哪个学者谈到了绿色低碳", "首先谁发言",
                                      "这篇文章是谁写的", "黑灯工厂是哪位学者提出的"])
def test_who_said_it_asks_for_a_speaker_not_a_name(question) -> None:
    """Which speaker said it: the statements answer that without naming anyone, so no name is asked for."""
    assert Retriever.asks_figure(question) is None


@pytest.mark.parametrize("question", ["黑灯工厂最早是谁提出来的", "这个会的主持人是谁", "是哪位学者创立的",
                                      "是哪个美国官员提出的", "是谁最早提出黑灯工厂的"])
def test_who_first_proposed_or_chaired_asks_for_a_name(question) -> None:
    asked = Retriever.asks_figure(question)
    assert asked is not None and asked[0] == "person"


def test_a_figure_asked_in_a_unit_must_be_given_in_that_unit(tmp_path) -> None:
    """多少个/多少人/多少美元: the passages on the topic must give a number in the unit asked for; any number
    (a count of factories, for a question about jobs) does not answer it."""
    index = made_up_index(tmp_path, "## 赵明 | 东方理工大学 | 智能制造\n\n"
                                    "全国已建成智能工厂 300 多个,累计投资超过 2000 亿元。\n\n"
                                    "数据中心正向西部转移，以利用那里便宜的电力。\n")
    a = Assistant(index.settings, index=index)
    for question in ("赵明说智能工厂一共雇了多少人？", "赵明说智能工厂累计投资了多少美元？"):
        got = a.ask(question)
        assert got.decision == "refuse" and "asks for a number" in got.reason, (question, got.reason)
    # the controls: the unit the passage gives, with a scale before it, and a figure asked in no unit
    for question in ("赵明说全国建成了多少个智能工厂？", "赵明说智能工厂累计投资了多少万亿元？",
                     "赵明说智能工厂累计投资了多少？"):
        got = a.ask(question)
        assert "asks for" not in got.reason and got.decision != "refuse", (question, got.reason)


def test_a_low_confidence_refuses_only_when_most_of_the_question_is_not_there() -> None:
    """A refusal says the document has nothing on it. With half of the question's words (by specificity) in the
    passages, a low confidence is hedged, with the passages; with few of them there, it is refused."""
    from assistant.decide import HEDGE, REFUSE, route
    from assistant.settings import Settings
    from assistant.types import Chunk, Passage, Retrieval, Signals

    settings = Settings()
    p = Passage(Chunk("x", "某段文字。", "赵明", "", "", 1, 0, 0, 5), 1.0)
    low = settings.refuse_below / 2
    most = Retrieval("问题", (p,), low, signals=Signals(coverage=0.73))
    few = Retrieval("问题", (p,), low, signals=Signals(coverage=0.2))
    assert route(most, settings).outcome == HEDGE
    assert route(few, settings).outcome == REFUSE  # the control
    assert route(most, settings.with_overrides(refuse_coverage_below=0.9)).outcome == REFUSE  # it is the setting


def test_an_expert_asked_about_what_only_others_spoke_of_is_refused_naming_them(tmp_path) -> None:
    """X对Y怎么看, when Y is in another speaker's statement and not in X's: X did not speak of it, and the refusal
    says who did. The controls: the speaker who did, X on X's own topic, and Y in no statement at all."""
    index = made_up_index(tmp_path, "## 赵明 | 东方理工大学 | 智能制造\n\n"
                                    "无人值守的黑灯工厂正在兴起，生产线几乎不需要照明。新一轮技术革命改变了工厂。\n\n"
                                    "## 钱芳 | 西湖研究院 | 人口与就业\n\n"
                                    "人口老龄化正在改变劳动力市场，养老服务业需要更多护理人员。工业革命以来就业不断转移。\n")
    a = Assistant(index.settings, index=index)
    asked = a.ask("赵明对人口老龄化怎么看？")
    assert asked.decision == "refuse", asked.reason
    assert "赵明's statement does not mention 人口老龄化" in asked.reason and "钱芳" in asked.reason, asked.reason
    assert "赵明的发言没有谈到“人口老龄化”" in asked.text and "钱芳" in asked.text, asked.text
    # the passages shown beside it are where 钱芳 speaks of it
    assert asked.passages and asked.passages[0].speaker == "钱芳" and "人口老龄化" in asked.passages[0].text
    assert not asked.text.startswith("文档中没有")  # the document has it, from 钱芳
    assert "statement does not mention" not in a.ask("钱芳对人口老龄化怎么看？").reason
    # a question that names him to leave him out, or that he half answers, is no question about what he never said
    # nor one he speaks of in other words (工业革命 to one who speaks of 技术革命)
    for other in ("赵明以外还有谁谈到人口老龄化？", "除了赵明，专家们怎么看人口老龄化？",
                  "赵明怎么看黑灯工厂和人口老龄化？", "赵明对工业革命怎么看？"):
        assert "statement does not mention" not in a.ask(other).reason, other
    own = a.ask("赵明对黑灯工厂怎么看？")
    assert own.decision != "refuse" and "statement does not mention" not in own.reason, own.reason
    assert "statement does not mention" not in a.ask("赵明对量子计算怎么看？").reason  # no one spoke of it

