"""The grounding check on hand-labelled pairs (calibration), and marker parsing."""

from __future__ import annotations

from assistant.grounding import check_answer, check_sentence, split_answer
from assistant.types import Chunk, Passage

EXPERTS = ["吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]


def _p(speaker: str, text: str) -> Passage:
    return Passage(Chunk("x", text, speaker, "某单位", "某标题", 1, 0, 0, len(text)), 1.0)


LV = _p("吕薇", "发展新质生产力的本质就是转变发展方式,从依靠增加投入为主转向依靠技术进步和创新,实现创新驱动发展。"
              "人才是创新的关键核心要素,尤其是在人口老龄化的形势下,需要实现人口红利向人才红利转变。")
REN = _p("任保平", "根据工信部数据,中国算力产业规模快速增长,近五年平均增速超过 30%。"
                 "数字经济时代新质生产力的核心价值可以归结为“数据+算力+算法=服务”。")
ZH = _p("张辉", "2022 年我国新能源汽车出口量超过德国,位居世界第二;2023 年超过日本,位居世界第一。"
              "对于传统产业不是忽视或者放弃,而是应该用新技术加以改造提升。")

# (label, expected verdict is supported?, sentence, passage)
PAIRS = [
    ("faithful", True, "吕薇认为，发展新质生产力的本质就是转变发展方式，实现创新驱动发展。", LV),
    ("faithful", True, "任保平指出，中国算力产业规模近五年平均增速超过 30%。", REN),
    ("faithful", True, "张辉说，2023 年我国新能源汽车出口量超过日本，位居世界第一。", ZH),
    ("faithful", True, "对于传统产业，应该用新技术加以改造提升。", ZH),
    ("faithful", True, "新质生产力的核心价值可以归结为“数据+算力+算法=服务”。", REN),
    ("paraphrase", True, "在人口老龄化形势下，需要实现从人口红利向人才红利的转变。", LV),
    ("paraphrase", True, "吕薇认为人才是创新的关键核心要素。", LV),
    ("reversed", False, "吕薇认为，发展新质生产力要从依靠技术进步和创新转向依靠增加投入。", LV),
    ("reversed", False, "张辉说，2023 年我国新能源汽车出口量低于日本。", ZH),
    ("reversed", False, "需要实现人才红利向人口红利转变，吕薇说这会降低要素质量。", LV),
    ("negated", False, "发展新质生产力的本质不是转变发展方式。", LV),
    ("negated", False, "张辉认为对于传统产业应该忽视或者放弃。", ZH),
    ("negated", False, "人才并非创新的关键核心要素。", LV),
    ("misattributed", False, "金碚认为发展新质生产力的本质就是转变发展方式。", LV),
    ("misattributed", False, "李平指出中国算力产业规模近五年平均增速超过 30%。", REN),
    ("number", False, "中国算力产业规模近五年平均增速超过 50%。", REN),
    ("number", False, "2021 年我国新能源汽车出口量超过日本，位居世界第一。", ZH),
    ("quote", False, "任保平把核心价值归结为“数据+模型+算法=利润”。", REN),
    ("unrelated", False, "美国的经济增长率在 2024 年有所放缓。", LV),
    ("unrelated", False, "光刻机是芯片制造的核心设备。", REN),
]


def test_calibration_accuracy_on_labelled_pairs() -> None:
    results = []
    for label, expected, sentence, passage in PAIRS:
        verdict = check_sentence(sentence, (1,), [passage], EXPERTS).verdict
        results.append((label, expected, verdict == "supported", sentence, verdict))
    wrong = [(lbl, s, v) for lbl, exp, got, s, v in results if exp != got]
    accuracy = 1 - len(wrong) / len(results)
    assert accuracy >= 0.9, wrong
    # never let a reversed, negated, misattributed or number-changed claim through
    assert not [w for w in wrong if w[0] in ("reversed", "negated", "misattributed", "number")], wrong


def test_split_and_markers() -> None:
    text = "吕薇认为本质是转变发展方式。[1] 任保平提出公式【2】；张辉谈到汽车[1,3]。无引用的一句。Done [2][3]."
    parts = split_answer(text)
    assert [m for _, m in parts] == [(1,), (2,), (1, 3), (), (2, 3)]
    assert parts[0][0] == "吕薇认为本质是转变发展方式。"


def test_uncited_and_dangling_markers() -> None:
    checks = check_answer("发展新质生产力的本质就是转变发展方式。[7]", [LV], EXPERTS)
    assert checks[0].verdict == "uncited"  # marker 7 points at no passage


def test_uncited_answer_is_attributed_sentence_by_sentence() -> None:
    from assistant.grounding import attribute

    passages = [REN, LV, ZH]
    text = "吕薇认为，发展新质生产力的本质就是转变发展方式。张辉说，对于传统产业应该用新技术加以改造提升。"
    cited = attribute(text, passages, EXPERTS)
    assert cited == ("吕薇认为，发展新质生产力的本质就是转变发展方式。[2]"
                     "张辉说，对于传统产业应该用新技术加以改造提升。[3]", 2)
    assert all(c.verdict == "supported" for c in check_answer(cited[0], passages, EXPERTS))
    # one sentence the passages do not back (own knowledge, a changed number, a flipped claim): no citations
    for bad in ("光刻机是芯片制造的核心设备。", "中国算力产业规模近五年平均增速超过 50%。",
                "发展新质生产力的本质不是转变发展方式。"):
        assert attribute(text + bad, passages, EXPERTS) is None, bad


def test_a_name_without_a_claim_is_not_supported() -> None:
    for empty in ("吕薇认为……[1]。", "吕薇指出：[1]"):
        assert [c.verdict for c in check_answer(empty, [LV], EXPERTS)] == ["unsupported"], empty


def test_partly_cited_answer_gets_only_the_missing_markers() -> None:
    from assistant.grounding import attribute

    passages = [REN, LV, ZH]
    text = ("吕薇认为，发展新质生产力的本质就是转变发展方式。[2]张辉说，对于传统产业应该用新技术加以改造提升。"
            "光刻机是芯片制造的核心设备。")
    repaired, added = attribute(text, passages, EXPERTS, require_all=False)
    assert added == 1
    assert repaired == ("吕薇认为，发展新质生产力的本质就是转变发展方式[2]。张辉说，对于传统产业应该用新技术加以"
                        "改造提升。[3]光刻机是芯片制造的核心设备。")
    verdicts = [c.verdict for c in check_answer(repaired, passages, EXPERTS)]
    assert verdicts == ["supported", "supported", "uncited"]  # the unsupported sentence stays flagged
