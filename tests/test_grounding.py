"""The grounding check: its figures on the labelled pairs, the content units it compares, marker parsing.

The labelled pairs (tests/gold/grounding_*.jsonl, see tests/gold/README.md) were written before the check
by someone who never saw it. Rules and thresholds were fitted on the calibration half only; the test half
is read here only through ``category_table`` (counts per category). Print both tables with

    .venv/bin/python -m tests.test_grounding
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pytest

from assistant import claims
from assistant.grounding import (
    SUPPORTED,
    UNCITED,
    UNSUPPORTED,
    UNVERIFIABLE,
    attribute,
    check_answer,
    check_sentence,
    numbers,
    parse_markers,
    split_answer,
)
from assistant.text import sentence_spans as sentence_spans_of
from assistant.types import Chunk, Passage, SentenceCheck
from tests.helpers import SEED

GOLD = Path(__file__).resolve().parent / "gold"
EXPERTS = ["吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]
FAITHFUL = ("verbatim", "paraphrase", "summary2", "english_faithful")
# the bar of issue 12, on the test half
MAX_FAITHFUL_FLAGGED = 0.05  # weak, unsupported or uncited; "unverifiable" (English) is not a flag
MIN_CORRUPTED_CAUGHT = 0.95  # anything but supported

Checker = Callable[[str, list[Passage]], SentenceCheck]


@lru_cache(maxsize=1)
def _sections() -> tuple[tuple[str, str, str, str], ...]:
    from assistant.parse import parse_file

    doc = parse_file(SEED)
    return tuple((s.speaker, s.affiliation, s.title, re.sub(r"\s+", "", s.text)) for s in doc.sections)


def passage(text: str, default_speaker: str) -> Passage:
    """A gold passage as retrieval would return it: with the speaker, affiliation and title of the section
    of the seed it was taken from (a summary's second passage may be another expert's)."""
    found = [s for s in _sections() if re.sub(r"\s+", "", text) in s[3]]
    default_speaker = default_speaker.split("、")[0]  # "吕薇、盛朝迅": a summary across two experts
    speaker, affiliation, title = found[0][:3] if len(found) == 1 else (default_speaker, "", "")
    return Passage(Chunk("g", text, speaker, affiliation, title, 1, 0, 0, len(text)), 1.0)


def rows(half: str) -> list[dict]:
    path = GOLD / f"grounding_{half}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def lexical(sentence: str, passages: list[Passage]) -> SentenceCheck:
    return check_sentence(sentence, parse_markers(sentence)[1] or (1,), passages, EXPERTS)


def category_table(half: str, checker: Checker = lexical) -> dict[str, tuple[int, int]]:
    """{category: (pairs, flagged)}: for faithful categories the pairs flagged (not supported and not
    unverifiable), for corrupted ones the pairs caught (anything but supported)."""
    table: dict[str, tuple[int, int]] = {}
    for r in rows(half):
        verdict = checker(r["sentence"], [passage(t, r["speaker"]) for t in r["passages"]]).verdict
        hit = verdict not in (SUPPORTED, UNVERIFIABLE) if r["category"] in FAITHFUL else verdict != SUPPORTED
        n, k = table.get(r["category"], (0, 0))
        table[r["category"]] = (n + 1, k + hit)
    return table


def totals(table: dict[str, tuple[int, int]]) -> tuple[float, float]:
    """(share of faithful pairs flagged, share of corrupted pairs caught)."""
    f = [v for c, v in table.items() if c in FAITHFUL]
    c = [v for c, v in table.items() if c not in FAITHFUL]
    return sum(k for _, k in f) / sum(n for n, _ in f), sum(k for _, k in c) / sum(n for n, _ in c)


def bigram_coverage(sentence: str, passages: list[Passage]) -> SentenceCheck:
    """The naive checker the issue replaced: share of the sentence's character pairs found in the passages."""
    def pairs(t: str) -> set[str]:
        c = re.sub(r"\W", "", t)
        return {c[i:i + 2] for i in range(len(c) - 1)}

    body = parse_markers(sentence)[0]
    mine, theirs = pairs(body), set().union(*(pairs(p.text) for p in passages))
    share = len(mine & theirs) / (len(mine) or 1)
    return SentenceCheck(body, (1,), SUPPORTED if share >= 0.6 else UNSUPPORTED, share)


# ------------------------------------------------------------------------------------------- figures


def test_the_halves_do_not_regress() -> None:
    """Where the check stands today (issue 12's bar is <= 5% flagged, >= 95% caught; not met on the test
    half), so that a change that makes either half worse fails. The calibration half is what the rules were
    written against; the test half is read only through these totals."""
    flagged, caught = totals(category_table("calibration"))
    assert flagged <= 0.05 and caught >= 0.98, ("calibration", flagged, caught)
    flagged, caught = totals(category_table("test"))
    # session 14: 13.7% / 92.4% -> 11.5% / 91.9% (a definition's predicate no longer runs on into the next clause)
    assert flagged <= 0.12 and caught >= 0.915, ("test", flagged, caught)


def test_naive_bigram_checker_fails_the_same_bar() -> None:
    """The negative control: character-pair coverage alone passes corrupted claims."""
    for half in ("calibration", "test"):
        flagged, caught = totals(category_table(half, bigram_coverage))
        assert caught < MIN_CORRUPTED_CAUGHT, (half, caught)


# ------------------------------------------------------------------------------------------- units


def _p(speaker: str, text: str, title: str = "") -> Passage:
    return Passage(Chunk("x", text, speaker, "", title, 1, 0, 0, len(text)), 1.0)


def _verdict(sentence: str, p: Passage, *more: Passage) -> SentenceCheck:
    ps = [p, *more]
    return check_sentence(sentence, tuple(range(1, len(ps) + 1)), ps, ["甲", "乙", "丙"])


@pytest.mark.parametrize(("text", "expected"), [
    ("两个方面", {"2"}), ("三种渠道", {"3"}), ("十五项", {"15"}), ("百分之三十", {"30%"}), ("30%", {"30%"}),
    ("2.4亿人", {"240000000"}), ("24000万人", {"240000000"}), ("1,000元", {"1000"}), ("5倍以上", {"5"}),
    ("第十一次", {"第11"}), ("第二要素", {"第2"}), ("二〇二三年", {"2023"}), ("20世纪六七十年代", {"20", "六七十"}),
    ("一个问题", set()), ("统一大市场", set()), ("5G和6G", set()), ("G20", set()),
])
def test_numbers_are_normalised(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


@pytest.mark.parametrize("text", ["1. 要坚持改革", "2、要坚持改革", "（一）要坚持改革", "一是要坚持改革",
                                  "第一，要坚持改革"])
def test_list_numbering_is_structure_not_a_number(text: str) -> None:
    assert numbers(text) == set()


def test_a_percentage_is_not_a_product_name() -> None:
    p = _p("甲", "量子信息、5G等领域专利数量居全球第一。")
    assert "5%" not in numbers(p.text) and numbers("增长5%") == {"5%"}
    assert _verdict("甲指出，5G领域专利数量居全球第一。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出，6G领域专利数量居全球第一。[1]", p).verdict == UNSUPPORTED


def test_numbers_with_their_unit_and_noun() -> None:
    p = _p("甲", "已形成45个先进制造集群和66个新兴产业集群,过去一双鞋子的价格是1000元,但现在网上只要100元。")
    assert _verdict("甲认为已形成45个先进制造集群。[1]", p).verdict == SUPPORTED
    moved = _verdict("甲认为已形成66个先进制造集群。[1]", p)
    assert moved.verdict == UNSUPPORTED and "66" in moved.reason
    swapped = _verdict("甲说过去一双鞋子的价格是100元，现在网上只要1000元。[1]", p)
    assert swapped.verdict == UNSUPPORTED
    assert _verdict("甲认为已形成三个先进制造集群。[1]", p).verdict == UNSUPPORTED  # a count the passage lacks


def test_a_number_is_measured_in_its_longest_unit() -> None:
    # 年代 (a decade), not 年: "the 1960s" is not "60 years"; 方面, not 方
    assert [(n.value, n.unit) for n in claims.number_mentions("20世纪60年代以来,从3方面")] == \
        [("20", "世纪"), ("60", "年代"), ("3", "方面")]
    assert [(n.value, n.unit) for n in claims.number_mentions("60年来")] == [("60", "年")]
    assert [(n.value, n.unit) for n in claims.number_mentions("2024年代表委员")] == [("2024", "年")]  # review


def test_every_sentence_of_the_seed_quoted_word_for_word_is_supported() -> None:
    """The invariant under every rule: a sentence copied from its passage says what the passage says (the
    rules for roles, definitions and quantifiers once flagged verbatim copies of list-like sentences)."""
    from assistant.parse import parse_file

    doc = parse_file(SEED)
    experts = [s.speaker for s in doc.sections]
    checked = 0
    for s in doc.sections:
        for para in s.paragraphs:
            p = Passage(Chunk("x", para, s.speaker, s.affiliation, s.title, s.index, 0, 0, len(para)), 1.0)
            for a, b in sentence_spans_of(para):
                sent = para[a:b].strip()
                if len(sent) >= 12 and re.search(r"[。！？；]$", sent):
                    verdict = check_sentence(sent + "[1]", (1,), [p], experts)
                    assert verdict.verdict == SUPPORTED, (sent, verdict.reason)
                    checked += 1
    assert checked > 300


def test_a_quotation_cut_after_its_negator_is_not_supported() -> None:
    """The control of the invariant above: words copied from a passage are still read against the clause they
    were cut from, so dropping the negator before them is caught."""
    p = _p("甲", "我们不能说数字经济已经全面超过了实体经济。")
    assert _verdict("甲认为，数字经济已经全面超过了实体经济。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为，不能说数字经济已经全面超过了实体经济。[1]", p).verdict == SUPPORTED


def test_a_negation_only_the_claim_has_is_caught_even_around_a_repeated_word() -> None:
    """生产力 on both sides of 不是 used to read as both stated and negated, which matched the passage."""
    p = _p("甲", "新质生产力是对整个生产力理论的重大发展。")
    assert _verdict("甲认为，新质生产力是对整个生产力理论的重大发展。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为，新质生产力不是对整个生产力理论的重大发展。[1]", p).verdict == UNSUPPORTED
    assert _verdict("新质生产力是对生产力理论的重大倒退。[1]", p).verdict == UNSUPPORTED  # an antonym
    q = _p("甲", "算力为数字经济发展提供了基本的计算能力支撑。")
    assert _verdict("算力阻碍了数字经济发展。[1]", q).verdict == UNSUPPORTED


def test_one_of_the_most_is_not_the_most() -> None:
    p = _p("甲", "该公司是全国规模最大的企业之一,员工超过一万人。")
    assert _verdict("甲说该公司是全国规模最大的企业之一。[1]", p).verdict == SUPPORTED
    dropped = _verdict("甲说该公司是全国规模最大的企业。[1]", p)
    assert dropped.verdict == UNSUPPORTED and "之一" in dropped.reason
    assert _verdict("甲说该公司是全国规模较大的企业之一。[1]", _p("甲", "该公司是全国规模最大的企业。")).verdict \
        == UNSUPPORTED  # 较 where the passage says 最


def test_a_recommendation_is_not_reported_as_done() -> None:
    p = _p("甲", "应当加快建设城市轨道交通,完善公交网络。")
    assert _verdict("甲主张加快建设城市轨道交通。[1]", p).verdict == SUPPORTED
    done = _verdict("甲指出城市轨道交通已经建设完善。[1]", p)
    assert done.verdict == UNSUPPORTED and "已经" in done.reason
    built = _p("甲", "城市轨道交通已基本建成,公交网络也更加完善。")  # the control: the passage says it is done
    assert _verdict("甲指出城市轨道交通已经基本建成。[1]", built).verdict == SUPPORTED


def test_certainty_and_direction_the_passage_does_not_give() -> None:
    p = _p("甲", "有人预计明年经济增速可能回升。")
    assert _verdict("甲认为明年经济增速可能回升。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为明年经济增速必然回升。[1]", p).verdict == UNSUPPORTED
    cheaper = _p("甲", "水路运输比公路运输的成本更为低廉。")
    assert _verdict("甲认为水路运输的成本不如公路运输低廉。[1]", cheaper).verdict == UNSUPPORTED


def test_an_identity_turned_round_is_the_same_claim_but_swapped_heads_are_not() -> None:
    p = _p("甲", "城市发展的第一要素是高素质的人才。")
    assert _verdict("甲认为高素质的人才是城市发展的第一要素。[1]", p).verdict == SUPPORTED
    q = _p("甲", "教育是科技进步的基础。")
    assert _verdict("甲认为科技进步的基础是教育。[1]", q).verdict == SUPPORTED
    assert _verdict("甲认为科技进步是教育的基础。[1]", q).verdict == UNSUPPORTED


def test_a_summary_of_two_definitions_names_both_subjects() -> None:
    one, two = _p("甲", "铁路是重要的交通方式,运量很大。"), _p("甲", "公路也是重要的交通方式,线路很密。")
    assert _verdict("甲认为铁路和公路都是重要的交通方式。[1][2]", one, two).verdict == SUPPORTED
    alone = _verdict("甲认为铁路和公路都是重要的交通方式。[1]", one)  # the control: 公路 is defined nowhere cited
    assert alone.verdict == UNSUPPORTED


def test_an_abbreviation_is_its_long_form() -> None:
    p = _p("甲", "科学技术是第一生产力,人才是第一资源。")
    assert _verdict("甲认为科技是第一生产力。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为科技是第一资源。[1]", p).verdict == UNSUPPORTED


def test_an_english_sentence_may_leave_its_country_unsaid_but_not_swap_it() -> None:
    p = _p("甲", "人口老龄化加快,需要实现人口红利向人才红利转变。")
    said = _verdict("Jia says that as the population ages, China must turn its demographic dividend into a "
                    "talent dividend.[1]", p)
    assert said.verdict == UNVERIFIABLE, said.reason
    de = _p("甲", "新能源汽车出口超过德国。")
    assert _verdict("Jia says new energy vehicle exports overtook Japan.[1]", de).verdict == UNSUPPORTED


def test_chinese_numerals_are_compared() -> None:
    p = _p("甲", "通常而言,技术溢出有三种渠道:信息渠道、人员流动、资本流动。")
    assert _verdict("甲指出，技术溢出有三种渠道。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出，技术溢出有3种渠道。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出，技术溢出有四种渠道。[1]", p).verdict == UNSUPPORTED


def test_negation_against_the_aligned_clause() -> None:
    p = _p("甲", "日本在六十年代并没有什么核心技术,但随后着力进行了产业更替。对于传统产业不是忽视,而是加以改造提升。")
    assert _verdict("甲指出，日本在六十年代缺乏核心技术。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出，日本在六十年代已经掌握了不少核心技术。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为，对于传统产业应该忽视。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为，对传统产业不应忽视，而应加以改造提升。[1]", p).verdict == SUPPORTED


def test_comparatives_and_quantifiers() -> None:
    p = _p("甲", "制造业增加值全球占比超过30%,2023年9月首次提到这一概念,传统产业增长率低。")
    assert _verdict("甲指出，制造业增加值全球占比不足30%。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲指出，2023年9月再次提到这一概念。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲指出，传统产业增长率高。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲指出，制造业增加值全球占比超过30%。[1]", p).verdict == SUPPORTED


def test_a_named_entity_must_be_the_passage_s_own() -> None:
    p = _p("甲", "2023年9月,总书记在黑龙江考察时首次提到这一概念。以汽车产业为例,我国新能源汽车出口量超过德国。")
    assert _verdict("甲说，2023年9月总书记在吉林考察时首次提到这一概念。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲说，我国新能源汽车出口量超过美国。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲说，我国新能源汽车出口量超过德国。[1]", p).verdict == SUPPORTED


def test_definitions_bind_the_predicate_to_its_subject() -> None:
    p = _p("甲", "科技创新是发展新质生产力的核心要素,人才是第一资源。算法是物理世界运行规律的模型化表达,"
                 "算力决定着发展潜力。工业化就是新质生产力的实现路径。")
    assert _verdict("甲认为，科技创新是发展新质生产力的核心要素。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为，人才是发展新质生产力的核心要素。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为，算力是物理世界运行规律的模型化表达。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为，新质生产力就是工业化的实现路径。[1]", p).verdict == UNSUPPORTED


def test_roles_swapped_around_a_verb() -> None:
    p = _p("甲", "要以科技创新引领产业创新,使劳动者从体力劳动者转变为知识创造者。")
    assert _verdict("甲强调要以科技创新引领产业创新。[1]", p).verdict == SUPPORTED
    assert _verdict("甲强调要以产业创新引领科技创新。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为劳动者从知识创造者转变为体力劳动者。[1]", p).verdict == UNSUPPORTED


def test_roles_swapped_around_the_passage_verb_said_another_way() -> None:
    # 带动 for 带着 (the verb with another aspect or complement): the order still counts
    p = _p("甲", "在这个地区,龙头企业带着中小企业一起转型升级。")
    assert _verdict("甲认为龙头企业带动中小企业一起转型升级。[1]", p).verdict == SUPPORTED
    swapped = _verdict("甲认为中小企业带动龙头企业一起转型升级。[1]", p)
    assert swapped.verdict == UNSUPPORTED and "带动" in swapped.reason
    # the controls (review): a function verb is no stem (使 of 使用), and the thesaurus' synonyms are not the
    # verb (出租 and 租赁 are the two sides of one deal; 对 and 是 share a group)
    for passage, faithful in (("数字技术使企业提高了效率。", "企业使用数字技术提高了效率"),
                              ("村集体把土地出租给企业。", "企业租赁了村集体的土地"),
                              ("生产力是科学技术乘上三要素。", "这体现了科学技术对生产力三要素的乘法效应")):
        assert "swaps" not in _verdict(f"甲认为{faithful}。[1]", _p("甲", passage)).reason, faithful


def test_an_adjective_against_the_one_character_antonym_of_the_passage() -> None:
    p = _p("甲", "这一模式很难复制到其他地区。")
    flipped = _verdict("甲认为这一模式很容易复制到其他地区。[1]", p)
    assert flipped.verdict == UNSUPPORTED and "容易" in flipped.reason
    assert _verdict("甲认为这一模式不易复制到其他地区。[1]", p).verdict == SUPPORTED  # the control: 不易 is 难


def test_an_antonym_bound_to_another_noun_of_the_passage_sentence() -> None:
    # both 上升 and 下降 are in the passage sentence, each with its own noun: 制造业 goes with 下降
    p = _p("甲", "服务业占比逐年上升,制造业占比有所下降。短期内企业成本上升,长期看成本下降。")
    wrong = _verdict("甲认为制造业占比有所上升。[1]", p)
    assert wrong.verdict == UNSUPPORTED and "制造业" in wrong.reason
    for faithful in ("甲认为服务业占比逐年上升。[1]", "甲认为制造业占比有所下降。[1]", "甲认为长期看成本下降。[1]",
                     "甲认为短期内企业成本上升。[1]"):
        assert _verdict(faithful, p).verdict == SUPPORTED, faithful


def test_roles_of_verbal_nouns_swapped_around_a_verb() -> None:
    # 消费 and 教育 are verbal nouns (jieba's vn): as a verb's subject or object their order counts like a noun's
    p = _p("甲", "消费升级带动产业转型,教育支撑科技。数字化转型提升了企业的生产效率。")
    assert _verdict("甲认为产业转型带动消费升级。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为科技支撑教育。[1]", p).verdict == UNSUPPORTED
    # the controls: the passage's order, a passive with 由, and a verb after 的, which is a noun (效率的提升)
    for faithful in ("甲认为消费升级带动产业转型。[1]", "甲认为产业转型是由消费升级带动的。[1]",
                     "甲认为企业生产效率的提升得益于数字化转型。[1]"):
        assert _verdict(faithful, p).verdict == SUPPORTED, faithful


def test_an_adjective_of_degree_with_yu_is_a_comparative() -> None:
    # 快于 / 快 于 (faster than) is "more", 慢于 "less": flipped, or its two sides swapped, it is not the claim
    p = _p("甲", "新兴产业的增速明显快于传统产业。这一结论等于说新兴产业更有活力,其原因在于创新。")
    flipped = _verdict("甲认为新兴产业的增速明显慢于传统产业。[1]", p)
    assert flipped.verdict == UNSUPPORTED and "慢于" in flipped.reason
    assert _verdict("甲认为传统产业的增速明显快于新兴产业。[1]", p).verdict == UNSUPPORTED
    # the controls: the same comparison in other words, and 等于 / 在于, which compare nothing
    for faithful in ("甲认为新兴产业比传统产业增速更快。[1]", "甲认为新兴产业的增长速度明显快于传统产业。[1]",
                     "甲认为这等于说新兴产业更有活力。[1]", "甲认为原因在于创新。[1]"):
        assert _verdict(faithful, p).verdict == SUPPORTED, faithful


def test_comparative_verbs_with_yu_have_a_direction() -> None:
    # 领先于 / 落后于 (ahead of / behind) compare like 高于 / 低于: a flip is caught, a converse or a synonym is not
    p = _p("甲", "我国的数字经济规模领先于多数国家,服务业增速快于制造业。")
    assert _verdict("甲认为我国的数字经济规模落后于多数国家。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为服务业增速落后于制造业。[1]", p).verdict == UNSUPPORTED
    for faithful in ("甲认为多数国家的数字经济规模落后于我国。[1]", "甲认为我国的数字经济规模优于多数国家。[1]"):
        assert _verdict(faithful, p).verdict == SUPPORTED, faithful


@pytest.mark.parametrize("passage, faithful", [
    ("服务业的恢复比制造业更快。", "服务业恢复快于制造业"),  # 快于 for 比…更快
    ("消费增长快于投资增长。", "投资增长慢于消费增长"),  # the converse: both sides and the comparative turned
    ("东部地区的人均收入高于西部地区。", "西部地区的人均收入低于东部地区"),
    ("今年制造业投资增加,但利润减少。", "制造业利润减少"),  # the subject said once, for both clauses
    ("一线城市房价上涨,三四线城市则出现下跌。", "三四线城市房价出现下跌"),
    ("出口增长带动投资增长。", "投资增长由出口增长带动"),  # 增长 heads both nouns: no verb between them
    ("投资需求拉动了消费需求。", "消费需求靠投资需求拉动"),
])
def test_faithful_comparisons_and_bindings_said_another_way(passage: str, faithful: str) -> None:
    """Faithful paraphrases the second review found flagged by the order, comparative and antonym rules."""
    assert _verdict(f"甲认为{faithful}。[1]", _p("甲", passage)).verdict == SUPPORTED, faithful


def test_attribution_framing_and_the_speaker_are_not_claims() -> None:
    p = _p("甲", "人才是创新的关键核心要素。", title="发展新质生产力要提高人才素质")
    for framing in ("甲认为，", "甲指出：", "据甲介绍，", "在甲看来，", "她强调，", ""):
        assert _verdict(f"{framing}人才是创新的关键核心要素。[1]", p).verdict == SUPPORTED, framing
    wrong = _verdict("乙认为，人才是创新的关键核心要素。[1]", p)
    assert wrong.verdict == UNSUPPORTED and "乙" in wrong.reason
    assert [c.verdict for c in check_answer("甲认为……[1]。", [p], ["甲"])] == [UNSUPPORTED]


def test_a_missing_content_word_is_named() -> None:
    p = _p("甲", "数据作为新型生产要素成为重要劳动对象,直接创造社会价值。")
    c = _verdict("甲认为，数据已被列为继土地、资本之后的第五大生产要素。[1]", p)
    assert c.verdict == UNSUPPORTED and ("土地" in c.reason or "资本" in c.reason or "第五" in c.reason)


def test_faithful_paraphrase_passes() -> None:
    p = _p("甲", "大量体力和脑力的重复性劳动正在被智能机器所替代,人类可以用更少的劳动时间来创造更多的物质财富。")
    assert _verdict("甲认为，智能机器正在替代大量重复性的体力和脑力劳动，人类能用更少的劳动时间创造更多物质财富。[1]",
                    p).verdict == SUPPORTED
    assert _verdict("甲认为，人类需要用更多的劳动时间来创造物质财富。[1]", p).verdict == UNSUPPORTED


def test_english_is_unverifiable_unless_something_contradicts_it() -> None:
    p = _p("张辉", "2022年我国新能源汽车出口量超过德国,位居世界第二;2023年在湖南超过日本,位居世界第一。")
    ok = check_sentence("Zhang Hui notes that China's exports overtook Germany's in 2022, ranking second.",
                        (1,), [p], ["张辉", "李平"])
    assert ok.verdict == UNVERIFIABLE
    for bad in ("Zhang Hui notes that China's exports overtook Germany's in 2021.",
                "Zhang Hui notes that exports ranked third in the world.",
                "Zhang Hui says this happened in Jiangsu in 2023.",
                "Li Ping notes that China's exports overtook Germany's in 2022.",
                "Zhang Hui notes that exports overtook those of India in 2022."):
        assert check_sentence(bad, (1,), [p], ["张辉", "李平"]).verdict == UNSUPPORTED, bad
    assert check_sentence("Zhang Hui mentions 湖南 in 2023.", (1,), [p], ["张辉"]).verdict == UNVERIFIABLE
    assert check_sentence("Zhang Hui mentions 江苏 in 2023.", (1,), [p], ["张辉"]).verdict == UNSUPPORTED


def test_a_judge_can_only_take_support_away() -> None:
    p = _p("甲", "人才是创新的关键核心要素。")
    asked: list[str] = []

    def yes(sentence: str, passages: list[str]) -> bool:
        asked.append(sentence)
        return True

    assert check_sentence("甲认为人才是创新的关键核心要素。[1]", (1,), [p], ["甲"], judge=yes).verdict == SUPPORTED
    no = check_sentence("甲认为人才是创新的关键核心要素。[1]", (1,), [p], ["甲"], judge=lambda s, ps: False)
    assert no.verdict == UNSUPPORTED and "judge" in no.reason
    flipped = check_sentence("甲认为人才不是创新的关键核心要素。[1]", (1,), [p], ["甲"], judge=yes)
    assert flipped.verdict == UNSUPPORTED  # the lexical check AND the judge
    assert asked and "[1]" not in asked[0]


def test_content_units_of_a_clause() -> None:
    ws = claims.words("传统产业增长率低、创新较少,但其影响不可忽视")
    assert {"不可"} <= {w.text for w in ws} and claims.polarity(ws)["忽视"] == {True}
    assert claims.comparative_classes(claims.words("占比超过30%")) == {"more": "超过"}
    left, copula, right = claims.split_copula(claims.words("算法是物理世界运行规律的模型化表达"))
    assert [w.text for w in left] == ["算法"] and copula == "是" and "表达" in [w.text for w in right]


# ------------------------------------------------------------------------------------------- markers


LV = _p("吕薇", "发展新质生产力的本质就是转变发展方式,从依靠增加投入为主转向依靠技术进步和创新,实现创新驱动发展。"
              "人才是创新的关键核心要素,尤其是在人口老龄化的形势下,需要实现人口红利向人才红利转变。")
REN = _p("任保平", "根据工信部数据,中国算力产业规模快速增长,近五年平均增速超过 30%。"
                 "数字经济时代新质生产力的核心价值可以归结为“数据+算力+算法=服务”。")
ZH = _p("张辉", "2022 年我国新能源汽车出口量超过德国,位居世界第二;2023 年超过日本,位居世界第一。"
              "对于传统产业不是忽视或者放弃,而是应该用新技术加以改造提升。")
SPEAKERS = ["吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]


def test_split_and_markers() -> None:
    text = "吕薇认为本质是转变发展方式。[1] 任保平提出公式【2】；张辉谈到汽车[1,3]。无引用的一句。Done [2][3]."
    parts = split_answer(text)
    assert [m for _, m in parts] == [(1,), (2,), (1, 3), (), (2, 3)]
    assert parts[0][0] == "吕薇认为本质是转变发展方式。"


def test_uncited_and_dangling_markers() -> None:
    checks = check_answer("发展新质生产力的本质就是转变发展方式。[7]", [LV], SPEAKERS)
    assert checks[0].verdict == UNCITED  # marker 7 points at no passage


def test_uncited_answer_is_attributed_sentence_by_sentence() -> None:
    passages = [REN, LV, ZH]
    text = "吕薇认为，发展新质生产力的本质就是转变发展方式。张辉说，对于传统产业应该用新技术加以改造提升。"
    cited = attribute(text, passages, SPEAKERS)
    assert cited == ("吕薇认为，发展新质生产力的本质就是转变发展方式。[2]"
                     "张辉说，对于传统产业应该用新技术加以改造提升。[3]", 2)
    assert all(c.verdict == SUPPORTED for c in check_answer(cited[0], passages, SPEAKERS))
    for bad in ("光刻机是芯片制造的核心设备。", "中国算力产业规模近五年平均增速超过 50%。",
                "发展新质生产力的本质不是转变发展方式。"):
        assert attribute(text + bad, passages, SPEAKERS) is None, bad


def test_partly_cited_answer_gets_only_the_missing_markers() -> None:
    passages = [REN, LV, ZH]
    text = ("吕薇认为，发展新质生产力的本质就是转变发展方式。[2]张辉说，对于传统产业应该用新技术加以改造提升。"
            "光刻机是芯片制造的核心设备。")
    repaired, added = attribute(text, passages, SPEAKERS, require_all=False)
    assert added == 1
    assert repaired == ("吕薇认为，发展新质生产力的本质就是转变发展方式[2]。张辉说，对于传统产业应该用新技术加以"
                        "改造提升。[3]光刻机是芯片制造的核心设备。")
    verdicts = [c.verdict for c in check_answer(repaired, passages, SPEAKERS)]
    assert verdicts == [SUPPORTED, SUPPORTED, UNCITED]  # the unsupported sentence stays flagged


def _print_tables() -> None:  # pragma: no cover - the report's command
    for half in ("calibration", "test", "fresh", "fresh2", "fresh3", "fresh4", "fresh5_calibration", "fresh5_test",
                 "heldout"):
        table = category_table(half)
        print(f"\n{half} {'half' if half.endswith(('calibration', 'test')) else 'set'} "
              f"({sum(n for n, _ in table.values())} pairs)")
        if half == "heldout":  # kept apart: its totals only, never its pairs or categories
            flagged, caught = totals(table)
            print(f"faithful flagged {flagged:.1%}; corrupted caught {caught:.1%}")
            continue
        print(f"{'category':<18} {'pairs':>5}  {'flagged (faithful) / caught (corrupted)':>40}")
        for cat in sorted(table, key=lambda c: (c not in FAITHFUL, c)):
            n, k = table[cat]
            print(f"{cat:<18} {n:>5}  {k:>4} = {k / n:6.1%}  {'flagged' if cat in FAITHFUL else 'caught'}")
        flagged, caught = totals(table)
        print(f"faithful flagged {flagged:.1%} (bar <= 5%); corrupted caught {caught:.1%} (bar >= 95%)")
        nf, nc = totals(category_table(half, bigram_coverage))
        print(f"naive bigram coverage: faithful flagged {nf:.1%}; corrupted caught {nc:.1%}")


if __name__ == "__main__":  # pragma: no cover
    _print_tables()


# ------------------------------------------------------------------ paraphrase forms (session 8), each with its control


def test_a_clause_that_only_says_who_remembers_frames_the_claim() -> None:
    p = _p("周明", "早在十年前我们就提出了城乡融合的问题。")

    def verdict(sentence: str) -> str:
        return check_sentence(sentence, (1,), [p], ["周明"]).verdict

    assert verdict("周明回忆，早在十年前他们就提出了城乡融合的问题。[1]") == SUPPORTED
    assert verdict("说到底，早在十年前周明他们就提出了城乡融合的问题。[1]") == SUPPORTED
    # the controls: a one-word clause that is a claim (a company), and a frame the claim does not have alone
    assert verdict("周明以联想为例，早在十年前他们就提出了城乡融合的问题。[1]") == UNSUPPORTED
    assert verdict("周明回忆起城乡融合，早在十年前他们就提出了城乡融合的问题。[1]") == SUPPORTED
    assert verdict("周明回忆起乡村振兴，早在十年前他们就提出了城乡融合的问题。[1]") == UNSUPPORTED
    assert verdict("周明回忆说，早在十年前他们就提出了城乡融合的问题。[1]") == SUPPORTED  # with a framing verb


def test_a_word_of_degree_said_another_way_in_the_same_direction() -> None:
    p = _p("甲", "目前要素成本上升,传统产业增长率低、创新较少。")
    assert _verdict("甲指出要素成本走高。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出传统产业增长慢、创新少。[1]", p).verdict == SUPPORTED
    rising = _p("甲", "目前要素成本上升,人口老龄化。")
    assert _verdict("甲指出要素成本走高。[1]", rising).verdict == SUPPORTED
    assert _verdict("甲指出要素成本下降。[1]", rising).verdict == UNSUPPORTED  # the other direction
    assert _verdict("甲指出传统产业增长快、创新少。[1]", p).verdict == UNSUPPORTED


def test_a_name_may_be_its_abbreviation_but_not_another_name() -> None:
    p = _p("甲", "美国主导着第二次世界大战以来的国际经济秩序。")
    assert _verdict("甲指出美国主导着二战以来的国际经济秩序。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出美国主导着一战以来的国际经济秩序。[1]", p).verdict == UNSUPPORTED


def test_a_negated_potential_complement_is_a_negation() -> None:
    p = _p("甲", "传统产业不可能在短期内被替代,靠部署规划已无法解决。")
    assert _verdict("甲认为传统产业短期内替代不了。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为靠部署规划已经解决不了。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为传统产业短期内可以替代。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲认为靠部署规划已经能够解决。[1]", p).verdict == UNSUPPORTED
    q = _p("甲", "科学技术并不必然能够形成现实生产力。")
    assert _verdict("甲认为科学技术并不一定能够形成现实生产力。[1]", q).verdict == SUPPORTED
    assert _verdict("甲认为科学技术一定能够形成现实生产力。[1]", q).verdict == UNSUPPORTED


def test_tenths_are_a_percentage_and_a_count_of_experts_is_of_the_speakers_cited() -> None:
    p = _p("甲", "制造业增加值全球占比超过 30%。")
    assert numbers("超过三成") == {"30%"}
    assert _verdict("甲指出制造业增加值占全球超过三成。[1]", p).verdict == SUPPORTED
    assert _verdict("甲指出制造业增加值占全球超过四成。[1]", p).verdict == UNSUPPORTED
    one, two = _p("甲", "要用新技术改造提升传统产业。"), _p("乙", "要加快改造提升传统产业。")
    assert _verdict("两位专家都主张改造提升传统产业。[1][2]", one, two).verdict == SUPPORTED
    assert _verdict("三位专家都主张改造提升传统产业。[1][2]", one, two).verdict == UNSUPPORTED


def test_roles_in_the_passage_order_somewhere_or_through_a_relative_clause() -> None:
    p = _p("甲", "以促进效率提升为目标,产生于追求科技进步和提升经济效率的需要。")
    assert _verdict("甲认为它产生于追求科技进步、提升经济效率的需要。[1]", p).verdict == SUPPORTED
    q = _p("甲", "数据等新生产要素进入生产函数,改变了增长方式。")
    assert _verdict("甲认为进入生产函数的数据等新生产要素改变了增长方式。[1]", q).verdict == SUPPORTED
    r = _p("甲", "科技可以渗透到生产力三要素当中。")
    assert _verdict("甲认为生产力三要素可以渗透到科技当中。[1]", r).verdict == UNSUPPORTED  # the control


def test_an_identity_turned_round_may_use_a_synonym_on_one_side() -> None:
    p = _p("甲", "城市发展的第一要素是高素质的人才。")
    assert _verdict("甲认为高素质的人才是城市发展的首要要素。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为充足的资金是城市发展的首要要素。[1]", p).verdict == UNSUPPORTED  # another object


def test_from_to_said_with_a_verb_of_reaching() -> None:
    p = _p("甲", "加速前沿技术从创意到产品的产业化过程。")
    assert _verdict("甲认为这会加快前沿技术从创意走向产品。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为这会加快前沿技术从产品走向创意。[1]", p).verdict == UNSUPPORTED
    q = _p("甲", "推动各类要素便捷化流动、网络化共享。")
    assert _verdict("甲认为要让各类要素便捷地流动、网络化地共享。[1]", q).verdict == SUPPORTED


def test_the_paraphrase_forms_do_not_let_a_changed_claim_through() -> None:
    """A reviewer's cases: each form above has an edge where a corruption could pass."""
    assert _verdict("甲认为人工智能将取代人类。[1]", _p("甲", "人工智能将取代工作。")).verdict == UNSUPPORTED
    west_east = _p("甲", "数字经济从西部到东部。")
    assert _verdict("甲认为数字经济从西部走向东部。[1]", west_east).verdict == SUPPORTED
    assert _verdict("甲认为数字经济从东部走向西部。[1]", west_east).verdict == UNSUPPORTED
    assert "where the cited passage says" not in _verdict("甲认为差距不小。[1]", _p("甲", "差距很大。")).reason
    assert numbers("三成为重点") == set() and numbers("三成五") == set()


def test_negation_hidden_in_a_cut_or_a_fixed_phrase() -> None:
    """是非功利 is 是 + 非功利 (jieba cuts 是非); 不仅局限于 denies the limit, as 不再只限于 does."""
    p = _p("甲", "科学是非功利的。")
    assert _verdict("甲认为科学并不追求功利。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为科学追求功利。[1]", p).verdict == UNSUPPORTED
    q = _p("甲", "劳动对象已不仅局限于具体的物质形态。")
    assert _verdict("甲认为劳动对象不再只限于具体的物质形态。[1]", q).verdict == SUPPORTED
    assert _verdict("甲认为劳动对象仍局限于具体的物质形态。[1]", q).verdict == UNSUPPORTED


def test_the_second_reviews_cases_stay_claims() -> None:
    """A stance is no frame (担心), 不仅限制 is no denied limit, a name ending in 才 is a name."""
    p = _p("周明", "人才是创新的第一资源，要改革评价制度。")
    assert check_sentence("周明非常担心，人才是创新的第一资源。[1]", (1,), [p], ["周明"]).verdict == UNSUPPORTED
    assert claims.polarity(claims.words("他不仅限制了创新，还提高了成本。"))["限制"] == {False}
    assert any(w.text == "张才" and w.content for w in claims.words("张才认为创新重要。"))


# ----------------------------------------------- session 14: forms found on the round-13 calibration half


def test_a_decimal_point_set_apart_by_the_pdf_is_the_same_number() -> None:
    p = _p("甲", "全省参加职业培训的人数超过1. 8 万人,其中青年占多数。")
    assert _verdict("甲说，全省参加职业培训的人数超过 1.8 万人。[1]", p).verdict == SUPPORTED
    # the controls: another decimal, and the digits read as two numbers
    assert _verdict("甲说，全省参加职业培训的人数超过 1.9 万人。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲说，全省参加职业培训的人数超过 8 万人。[1]", p).verdict == UNSUPPORTED


def test_the_first_n_is_the_range_the_passage_counts_off() -> None:
    p = _p("甲", "从第一轮到第四轮改革,试点城市都集中在东部沿海。")
    assert _verdict("甲指出，前四轮改革的试点城市都集中在东部沿海。[1]", p).verdict == SUPPORTED
    # the controls: a count the passage does not reach, another unit, and a range that does not start at the first
    assert _verdict("甲指出，前五轮改革的试点城市都集中在东部沿海。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲指出，前四年改革的试点城市都集中在东部沿海。[1]", p).verdict == UNSUPPORTED
    q = _p("甲", "从第二轮到第四轮改革,试点城市都集中在东部沿海。")
    assert _verdict("甲指出，前四轮改革的试点城市都集中在东部沿海。[1]", q).verdict == UNSUPPORTED


def test_so_called_is_not_the_subject_of_a_definition() -> None:
    p = _p("甲", "所以,新业态的“态”,指的是形态,改变形态的根本力量是平台组织。")
    assert _verdict("甲认为，所谓“态”指的是形态。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为，所谓“态”指的是速度。[1]", p).verdict == UNSUPPORTED  # the control: another predicate


def test_a_definition_of_the_passage_subject_keeps_its_predicate() -> None:
    p = _p("甲", "所以,改变形态的根本动力是平台组织,数字技术的作用在于降低交易成本。")
    assert _verdict("甲认为，改变形态的根本动力是平台组织。[1]", p).verdict == SUPPORTED
    # the predicate replaced by words of the passage's next clause, which has no copula of its own: it is not
    # part of the definition
    for wrong in ("数字技术", "交易成本的降低"):
        check = _verdict(f"甲认为，改变形态的根本动力是{wrong}。[1]", p)
        assert check.verdict == UNSUPPORTED and "平台" in check.reason, wrong
    # "X,就是 Y" still reads the clause that opens with the copula as the predicate of the one before
    for joined in ("就是", "其实是", "实际上就是"):
        q = _p("甲", f"改变形态的根本动力,{joined}平台组织,数字技术也有作用。")
        assert _verdict("甲认为，改变形态的根本动力是平台组织。[1]", q).verdict == SUPPORTED, joined
        assert _verdict("甲认为，改变形态的根本动力是数字技术。[1]", q).verdict == UNSUPPORTED, joined


def test_still_not_and_not_by_are_negations() -> None:
    p = _p("甲", "但是这一做法目前已被新技术所取代。")
    assert _verdict("甲认为，这一做法目前已被新技术所取代。[1]", p).verdict == SUPPORTED
    assert _verdict("甲认为，这一做法至今仍未被新技术所取代。[1]", p).verdict == UNSUPPORTED
    q = _p("甲", "问题在于这些规则无法让所有成员接受,所以统一市场也就无法实现。")
    assert _verdict("甲认为，这些规则并不为所有成员所接受。[1]", q).verdict == SUPPORTED
    assert _verdict("甲认为，这些规则为所有成员所接受。[1]", q).verdict == UNSUPPORTED  # the control: no negation


def test_two_common_words_run_together_are_a_phrase_not_a_name() -> None:
    p = _p("甲", "近年来我国前沿领域重大科技成果不断涌现,华为等企业专利数量居全球第一。")
    assert _verdict("甲指出，我国前沿领域的重大成果不断涌现。[1]", p).verdict == SUPPORTED
    # the controls: another thing of the kind, and a company's name, which is still matched exactly
    assert _verdict("甲指出，我国前沿领域的重大产品不断涌现。[1]", p).verdict == UNSUPPORTED
    assert _verdict("甲指出，小米等企业专利数量居全球第一。[1]", p).verdict == UNSUPPORTED


def test_a_noun_that_says_something_is_not_a_shell_the_paraphrase_may_add() -> None:
    """A shell noun (方面, 作用, 问题) frames a claim and may be added around the passage's words; a noun of the same
    abstract thesaurus classes that says something (风险, 难题, 优势) may not replace the passage's noun."""
    p = _p("甲", "数字经济的发展给传统产业带来了新的机遇。")
    assert _verdict("甲认为，数字经济的发展给传统产业带来了新的机遇。[1]", p).verdict == SUPPORTED
    for swapped in ("风险", "难题", "优势", "障碍"):  # the controls: the passage's noun replaced
        got = _verdict(f"甲认为，数字经济的发展给传统产业带来了新的{swapped}。[1]", p)
        assert got.verdict == UNSUPPORTED and swapped in got.reason, (swapped, got)
    q = _p("甲", "要加快培育新型劳动者队伍。")
    assert _verdict("甲认为，在这方面，要加快培育新型劳动者队伍这一问题。[1]", q).verdict == SUPPORTED
    # abstract nouns that carry the claim are not shells (地位, 水平 for 技能; 机制 for 体系; 模式 for 路径)
    for passage_says, claim in (("要提升劳动者的技能。", "要提升劳动者的地位。"),
                                ("要提升劳动者的技能。", "要提升劳动者的水平。"),
                                ("要完善人才评价体系。", "要完善人才评价机制。"),
                                ("要探索新的发展路径。", "要探索新的发展模式。")):
        assert _verdict(f"甲认为，{claim}[1]", _p("甲", passage_says)).verdict == UNSUPPORTED, claim


def test_a_verb_used_as_a_noun_in_the_passage_noun_s_place_is_a_substitution() -> None:
    """新的挑战 where the passage says 新的机遇: the dictionary calls 挑战 a verb, but after 的 it heads the noun
    phrase the passage's noun heads; controls: the passage's own noun, and a verb that is not in a noun's
    place (a paraphrase's own verb) are not flagged so."""
    p = _p("甲", "数字经济的发展给传统产业带来了新的机遇。")
    for swapped in ("挑战", "冲击", "考验"):
        got = _verdict(f"甲认为，数字经济的发展给传统产业带来了新的{swapped}。[1]", p)
        assert got.verdict == UNSUPPORTED and "机遇" in got.reason, (swapped, got)
    assert _verdict("甲认为，数字经济的发展为传统产业带来了新的机遇。[1]", p).verdict == SUPPORTED
    # a word the thesaurus also knows as a noun is a paraphrase's noun, not a verb in a noun's place (review)
    assert _verdict("甲认为，要降低企业的开支。[1]", _p("甲", "要降低企业的成本。")).verdict == SUPPORTED
    q = _p("甲", "新一代信息技术的融合应用孕育出一大批新型生产工具。")
    assert _verdict("甲认为，新一代信息技术的融合应用催生了一大批新型生产工具。[1]", q).verdict == SUPPORTED
