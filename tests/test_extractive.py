"""The extractive composer on passages of a record it was not written for (a made-up 平台经济 symposium)."""

from __future__ import annotations

from assistant.extractive import compose
from assistant.types import Chunk, Passage

SECTION = ("平台经济已经成为数字经济的重要组成部分。"
           "二、平台经济的规范发展仍有需要关注的几个方面\n"
           "一是完善平台规则,维护公平竞争。二是保护劳动者权益。平台企业要承担社会责任。三是加强数据安全。"
           "此外,平台企业在促进就业方面作用很大。")


def _passages(*spans: tuple[int, int]) -> list[Passage]:
    return [Passage(Chunk(f"c{n}", SECTION[a:b], "钱小红", "某某研究院", "平台经济的规范与发展", 1, n, a, b), 1.0)
            for n, (a, b) in enumerate(spans)]


def _score(question_words: tuple[str, ...]):  # type: ignore[no-untyped-def]
    return lambda s: sum(w in s for w in question_words) / len(question_words)


def test_a_heading_announcing_a_list_is_answered_with_its_items() -> None:
    # the items run across two sentence-aligned chunks that overlap by one sentence
    passages = _passages((0, SECTION.index("二是")), (SECTION.index("一是"), len(SECTION)))
    pieces = compose(passages, _score(("规范发展", "关注", "方面")), kind="list")
    texts = [p.text for p in pieces]
    # the heading without its numbering, then each item in the order of the text, and nothing else
    assert texts[0] == "平台经济的规范发展仍有需要关注的几个方面"
    assert [t[:2] for t in texts[1:]] == ["一是", "二是", "三是"]
    assert all(SECTION.find(t) >= 0 for t in texts)  # verbatim


def test_a_heading_is_not_the_answer_to_a_fact_question() -> None:
    passages = _passages((0, len(SECTION)))
    pieces = compose(passages, _score(("规范发展", "关注", "方面")), kind="fact")
    assert not any(p.text.startswith(("二、", "平台经济的规范发展")) for p in pieces)


COUNTED = ("平台治理的研究在方法上呈现为三大支柱。一是从法学的视角,研究平台规则。二是从经济学的视角,研究平台定价。"
           "三是从社会学的视角,研究平台劳动。具体而言,要围绕两类平台开展研究。一是交易平台。二是内容平台。")


def _counted(*spans: tuple[int, int]) -> list[Passage]:
    return [Passage(Chunk(f"k{n}", COUNTED[a:b], "钱小红", "某某研究院", "平台治理", 1, n, a, b), 1.0)
            for n, (a, b) in enumerate(spans)]


def test_a_sentence_announcing_a_count_is_followed_by_its_items_whatever_the_question() -> None:
    """"三大支柱是啥" is no list question by its words, but the best sentence only announces the items."""
    cut = COUNTED.index("二是从经济学")
    passages = _counted((0, cut), (cut, len(COUNTED)))  # the items run on into the next chunk
    pieces = compose(passages, _score(("方法", "三大支柱")), kind="fact")
    texts = [p.text for p in pieces]
    assert texts[0].endswith("三大支柱。") and [t[:2] for t in texts[1:]] == ["一是", "二是", "三是"]
    assert not any("交易平台" in t for t in texts)  # the next enumeration (一是… again) is not this one's
    # the control: a sentence with no count that happens to precede an item is answered alone
    plain = _counted((COUNTED.index("具体而言"), len(COUNTED)))
    plain[0] = Passage(Chunk("k9", "具体而言,要围绕平台开展研究。一是交易平台。二是内容平台。", "钱小红", "某某研究院",
                             "平台治理", 1, 9, 0, 28), 1.0)
    texts = [p.text for p in compose(plain, _score(("围绕", "平台", "研究")), kind="fact")]
    assert not any(t.startswith("二是") for t in texts), texts


def test_the_last_count_of_a_sentence_is_the_one_it_announces() -> None:
    from assistant.extractive import _COUNTED

    found = list(_COUNTED.finditer("他用两个案例说明了三大支柱。"))
    assert found[-1].group(1) == "三"


LEANING = {
    "钱小红": "平台企业的数量增长很快。平台企业吸纳了大量灵活就业人员。但平台劳动者的社会保障仍然不足,需要补上短板。",
    "孙大伟": ("这一点在外卖行业尤其明显,骑手的社会保障不足。平台规则应当公开透明。"
            "平台劳动者的社会保障要由政府和企业共担。"),
}


def _leaning(speaker: str, n: int) -> Passage:
    text = LEANING[speaker]
    return Passage(Chunk(f"l{n}", text, speaker, "某某研究院", "平台劳动", n, 0, 0, len(text)), 1.0)


def test_a_sentence_that_leans_on_the_one_before_it_never_stands_alone() -> None:
    """Across speakers, each speaker's best sentence: 钱小红's opens with 但 and comes after the sentence it
    answers; 孙大伟's best opens with 这一点 at the start of the passage, where what it points to is not there,
    so his next best sentence stands instead."""
    passages = [_leaning("钱小红", 0), _leaning("孙大伟", 1)]
    pieces = compose(passages, _score(("平台劳动者", "社会保障", "不足")), kind="across")
    texts = [p.text for p in pieces]
    at = texts.index("但平台劳动者的社会保障仍然不足,需要补上短板。")
    assert at > 0 and texts[at - 1] == "平台企业吸纳了大量灵活就业人员。", texts
    assert not any(t.startswith("这一点") for t in texts), texts
    assert "平台劳动者的社会保障要由政府和企业共担。" in texts, texts
    # the control: a best sentence that opens with no connective stands alone, with nothing put before it
    texts = [p.text for p in compose([_leaning("孙大伟", 1)], _score(("政府", "企业", "共担")), kind="fact")]
    assert texts[0] == "平台劳动者的社会保障要由政府和企业共担。", texts


def test_a_supporting_sentence_loses_its_marker_or_is_not_added() -> None:
    """然而 only marks a turn: the support stands without it (still verbatim). 这 points back at a sentence
    the answer leaves out: such a support is not added at all."""
    from assistant.extractive import _CONNECTIVE

    lead = "平台企业要承担社会责任,这是平台经济规范健康发展的一项基本要求。"
    text = lead + "平台规则需要更加透明。然而平台企业承担社会责任的方式仍有争议。"
    p = Passage(Chunk("s0", text, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(text)), 1.0)
    texts = [x.text for x in compose([p], _score(("平台企业", "社会责任", "承担")), kind="fact")]
    assert texts == [lead, "平台企业承担社会责任的方式仍有争议。"], texts
    pointed = text.replace("然而平台企业", "这让平台企业")
    p = Passage(Chunk("s1", pointed, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(pointed)), 1.0)
    texts = [x.text for x in compose([p], _score(("平台企业", "社会责任", "承担")), kind="fact")]
    assert not any(_CONNECTIVE.match(t) for t in texts) and all(t in pointed for t in texts), texts
    assert len(texts) == 1, texts


def test_a_passage_that_opens_with_a_marker_is_answered_without_the_marker() -> None:
    """A chunk may begin with a sentence that only marks how it goes on from the one before (另外, 其次): the
    boundary fell before it, yet it may be the sentence that answers. Without its marker it is still the
    passage's own text; a first sentence that points back (这, 其中) cannot be read alone and is not used."""
    text = "另外,平台企业的数据安全背后也有国际竞争的问题,需要统筹发展和安全。平台规则需要更加透明。"
    p = Passage(Chunk("m0", text, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(text)), 1.0)
    texts = [x.text for x in compose([p], _score(("数据安全", "国际竞争")), kind="fact")]
    assert texts[0] == "平台企业的数据安全背后也有国际竞争的问题,需要统筹发展和安全。", texts
    # the controls: 这 names what came before, which the passage does not have; 所以 and 但是 make the claim a
    # consequence of it or a turn from it, which without it would read as a flat statement
    for opening in ("这使平台企业的", "所以,平台企业的", "但是,平台企业的"):
        pointed = text.replace("另外,平台企业的", opening)
        p = Passage(Chunk("m1", pointed, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(pointed)), 1.0)
        texts = [x.text for x in compose([p], _score(("数据安全", "国际竞争")), kind="fact")]
        assert not any("国际竞争" in t for t in texts), (opening, texts)


def test_a_run_cut_from_inside_a_sentence_keeps_the_clause_it_turns_from() -> None:
    from assistant.extractive import _standing

    before, turn = "平台企业吸纳了大量灵活就业人员,", "但平台劳动者的社会保障仍然不足,"
    s = before + turn + "需要补上短板。"
    assert _standing([(0, s)], 0, turn) == [before + turn]
    assert _standing([(0, s)], 0, "需要补上短板。") == ["需要补上短板。"]  # the control: no connective, as it is


def test_a_list_intro_that_leans_on_an_item_does_not_repeat_it_and_a_chain_goes_back() -> None:
    from assistant.extractive import _standing

    text = ("平台治理有三项任务。一是完善平台规则,维护公平竞争。这需要政府和平台共同推动规范发展。"
            "二是保护劳动者权益。三是加强数据安全。")
    p = Passage(Chunk("i0", text, "钱小红", "某某研究院", "平台治理", 1, 0, 0, len(text)), 1.0)
    texts = [x.text for x in compose([p], _score(("政府", "平台", "共同推动", "规范发展")), kind="list")]
    assert len(texts) == len(set(texts)), texts  # 一是… once, not as the intro's antecedent and again as an item
    # a chain: 其中 leans on a sentence that itself opens with 因此; both come, after what 因此 leans on
    sents = list(enumerate(["平台经济发展很快。", "因此,要加快人才培养。", "其中,数据人才最为急需。"]))
    assert _standing(sents, 2, sents[2][1]) == [text for _, text in sents]
    # words that begin like a marker are not cut: 但凡, 同时期, 最后一公里
    from assistant.extractive import _unmarked
    assert _unmarked("但凡有条件的地区都要试点。") is None and _unmarked("最后一公里的问题要解决。") is None
    assert _unmarked("但是,试点要稳步推进。") == "试点要稳步推进。"


def _one(text: str) -> Passage:
    return Passage(Chunk("i0", text, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(text)), 1.0)


def test_a_claim_comes_with_the_instance_the_passage_gives_right_after_it() -> None:
    """要建立……机制。例如，完善……: the instance says what the general claim comes down to, and takes the place
    of the supporting sentence (so the answer stays as short)."""
    text = ("平台用工越来越普遍。在灵活就业人员增多的形势下,要建立覆盖新就业形态的社会保障制度。"
            "例如,推动职业伤害保障试点扩面,允许按单缴纳保险费。劳动关系的认定标准也要更新。")
    texts = [x.text for x in compose([_one(text)], _score(("灵活就业", "社会保障")), kind="fact")]
    assert texts == ["在灵活就业人员增多的形势下,要建立覆盖新就业形态的社会保障制度。",
                     "例如,推动职业伤害保障试点扩面,允许按单缴纳保险费。"], texts
    # the control: a sentence after it that is no instance is added only if it matches the question itself
    plain = text.replace("例如,推动", "另一些地方推动")
    texts = [x.text for x in compose([_one(plain)], _score(("灵活就业", "社会保障")), kind="fact")]
    assert not any("职业伤害" in t for t in texts), texts


def test_a_clause_that_says_namely_comes_with_what_it_names() -> None:
    """"……统一接口、统一计费、统一认证,即所谓"三统一"模式": the run that matches the question (即所谓三统一)
    opens with 即 and points back at the clause that lists them, which comes with it."""
    from assistant.extractive import _standing

    listing, namely = "从而形成平台的规则———统一接口、统一计费、统一认证,", "即所谓“三统一”模式。"
    s = "开放是前提," + listing + namely
    assert _standing([(0, s)], 0, namely) == [listing + namely]
    # the controls: 即使/即将 are words of their own, not "namely"
    for word in ("即使", "即将", "即日起"):
        alone = word + "没有补贴也能运转。"
        assert _standing([(0, "开放是前提," + alone)], 0, alone) == [alone]


def test_a_list_answer_takes_the_enumeration_the_lead_belongs_to() -> None:
    """A statement with two enumerations (一是… 二是…, then 一是… again): the items of the one the answering
    sentence announces, not both run together."""
    text = ("平台治理要注意规则。一是规则透明。二是算法公开。"
            "平台经济的发展引起了就业革命。一是岗位变革。二是技能变革。三是保障变革。")
    p = Passage(Chunk("e0", text, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(text)), 1.0)
    texts = [x.text for x in compose([p], _score(("就业革命", "变革")), kind="list")]
    items = [t[:4] for t in texts if t.startswith(("一是", "二是", "三是"))]
    assert items == ["一是岗位", "二是技能", "三是保障"], texts
    # the control: asked about the rules, the first enumeration
    texts = [x.text for x in compose([p], _score(("规则", "注意")), kind="list")]
    assert [t[:4] for t in texts if t.startswith(("一是", "二是", "三是"))] == ["一是规则", "二是算法"], texts


def test_a_long_answering_sentence_in_a_list_comes_by_its_best_clauses() -> None:
    """The sentence that answers (an item's elaboration) is too long to quote whole: its best run of clauses
    comes before the items' heads, instead of nothing but the heads."""
    long = ("聚焦基于信息技术的边缘计算、工业互联网、智能终端等,基于材料技术的石墨烯、超导材料、稀土功能材料等,"
            "基于生物技术的合成生物、细胞治疗、智慧育种等,以及深地、深海、深空等前沿领域,研究如何开辟新赛道,"
            "为构建未来产业发展新格局提供支撑,为培育新质生产力打下基础,也为长远的竞争优势积蓄力量。")
    assert len(long) > 130
    text = "一是提升传统产业。二是培育新兴产业。三是布局未来产业。" + long + "四是发展数字经济。"
    p = Passage(Chunk("e1", text, "钱小红", "某某研究院", "产业布局", 1, 0, 0, len(text)), 1.0)
    texts = [x.text for x in compose([p], _score(("生物技术", "合成生物")), kind="list")]
    assert "基于生物技术的合成生物" in texts[0] and len(texts[0]) <= 130, texts
    assert [t[:2] for t in texts[1:]] == ["一是", "二是", "三是", "四是"], texts
