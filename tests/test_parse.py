"""The parser on the seed as it is, on another record of the same shape, on Markdown, on bad files."""

from __future__ import annotations

import re

import pytest

from assistant.chunk import chunk_section, chunk_sections
from assistant.parse import InputError, parse_file, parse_text, read_document
from assistant.text import compact, sentence_spans
from assistant.types import UNKNOWN_SPEAKER
from tests.helpers import DATA, SEED, SPEAKERS


@pytest.fixture(scope="module")
def seed_doc():  # type: ignore[no-untyped-def]
    return parse_file(SEED)


def test_seed_has_nine_sections_with_the_right_speakers(seed_doc) -> None:
    assert [s.speaker for s in seed_doc.sections] == SPEAKERS
    assert seed_doc.warnings == ()
    assert seed_doc.title == "以新促质,蓄势赋能———新质生产力内涵特征、形成机理及实现进路"


@pytest.mark.parametrize("speaker, affiliation, title", [
    ("编者按", "《技术经济》编辑部", "以新促质,蓄势赋能———新质生产力内涵特征、形成机理及实现进路"),
    ("吕薇", "国务院发展研究中心创新发展研究部原部长,研究员", "发展新质生产力要提高人才素质,调动各类人才创新积极性"),
    ("金碚", "中国社会科学院学部委员、工业经济研究所原所长,研究员", "新质生产力时代对传统经济学范式的挑战"),
    ("李平", "中国技术经济学会监事长,中国社会科学院数量经济与技术经济研究所原所长,研究员",
     "新质生产力提出的背景及需要关注的问题"),
    ("王蕴", "习近平经济思想研究中心副主任,研究员", "新质生产力赋能高质量发展"),
    ("任保平", "南京大学数字经济与管理学院特聘教授", "数字经济浪潮下新质生产力的实现路径"),
    ("张辉", "北京大学经济学院副院长,兼任商务部全球价值链专家,教授", "加快发展新质生产力的重点任务"),
    ("盛朝迅", "中国宏观经济研究院战略政策室主任,研究员",
     "理清新质生产力形成的逻辑机理,挖掘新质生产力推动高质量发展的现实路径"),
    ("李开孟", "中国技术经济学会理事长,中国国际工程咨询有限公司总经济师,研究员",
     "创新应用场景重塑发展格局———技术经济学推动发展新质生产力的学科使命和实践路径"),
])
def test_seed_affiliations_and_titles(seed_doc, speaker: str, affiliation: str, title: str) -> None:
    section = next(s for s in seed_doc.sections if s.speaker == speaker)
    assert (section.affiliation, section.title) == (affiliation, title)


def test_seed_text_is_rejoined(seed_doc) -> None:
    text = {s.speaker: s.text for s in seed_doc.sections}
    assert "OpenAI" in text["金碚"]  # a word split across a page break
    assert "人均 GDP 2000 美元" in text["李平"]  # a line continued after a page break
    assert "接受高等教育的人口超过2.4 亿人" in text["盛朝迅"]  # digits split "2. 4" across a line
    for s in seed_doc.sections:
        assert "\u3000" not in s.text and "\n\n" not in s.text
        # no line-broken words: no CJK-space-CJK left
        assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", s.text), s.speaker
    # every source character of substance survives (whitespace aside)
    source = compact(SEED.read_text(encoding="utf-8"))
    body = compact("".join(s.text for s in seed_doc.sections))
    assert len(body) > 0.95 * len(source)


def test_seed_sentences_are_intact(seed_doc) -> None:
    lv = next(s for s in seed_doc.sections if s.speaker == "吕薇")
    sentences = [lv.text[a:b] for a, b in sentence_spans(lv.text)]
    assert ("发展新质生产力的本质就是转变发展方式,从依靠增加投入为主转向依靠技术进步和创新,"
            "实现创新驱动发展。") in sentences


def test_other_record_of_the_same_shape() -> None:
    doc = parse_file(DATA / "record_other.txt")
    assert [(s.speaker, s.affiliation, s.title) for s in doc.sections] == [
        ("编者按", "", "数据要素市场化配置改革———专家笔谈"),
        ("赵明", "某某大学经济学院院长,教授", "数据要素的价值实现"),
        ("钱小红", "某某研究院产业研究所研究员", "平台经济的规范与发展"),
    ]
    assert "1.5 万亿元" in doc.sections[1].text
    assert doc.sections[1].paragraphs[1] == "一、要建立数据产权制度"


def test_markdown_transcript() -> None:
    doc = parse_file(DATA / "transcript.md")
    assert doc.title == "人工智能与就业研讨会纪要"
    assert [(s.speaker, s.affiliation, s.title) for s in doc.sections] == [
        ("编者按", "", "人工智能与就业研讨会纪要"),
        ("孙丽", "某某大学劳动经济研究中心主任", "人工智能会替代哪些岗位"),
        ("周强", "某某科学院研究员", "技能培训是关键"),
    ]
    assert len(doc.sections[1].paragraphs) == 2


def test_no_speaker_is_unknown_with_a_warning() -> None:
    doc = parse_file(DATA / "no_speaker.txt")
    assert [s.speaker for s in doc.sections] == [UNKNOWN_SPEAKER]
    assert doc.warnings and UNKNOWN_SPEAKER in doc.warnings[0]


def test_gb18030_is_accepted(tmp_path) -> None:
    p = tmp_path / "gbk.txt"
    p.write_bytes((DATA / "record_other.txt").read_text(encoding="utf-8").encode("gb18030"))
    assert [s.speaker for s in parse_file(p).sections][1:] == ["赵明", "钱小红"]


@pytest.mark.parametrize("content, reason", [
    (None, "no such file"),
    (b"", "empty"),
    (b"   \n\n", "only whitespace"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (bytes(range(0x80, 0xff)) * 10, "neither UTF-8 nor GB18030"),
])
def test_bad_files_name_the_file_and_reason(tmp_path, content, reason) -> None:
    p = tmp_path / "bad.txt"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError) as e:
        read_document(p)
    assert str(p) in str(e.value) and reason in str(e.value)


def test_huge_file_is_refused(tmp_path, monkeypatch) -> None:
    import assistant.parse as parse
    monkeypatch.setattr(parse, "MAX_BYTES", 1000)
    p = tmp_path / "huge.txt"
    p.write_text("很长的文字。" * 1000, encoding="utf-8")
    with pytest.raises(InputError, match="too large"):
        read_document(p)


def test_chunks_are_verbatim_sentence_aligned_and_within_a_speaker(seed_doc) -> None:
    for section in seed_doc.sections:
        chunks = chunk_section(section, 300, 80)
        assert chunks, section.speaker
        starts = {a for a, _ in sentence_spans(section.text)}
        ends = {b for _, b in sentence_spans(section.text)}
        for c in chunks:
            assert section.text[c.start:c.end] == c.text
            assert c.start in starts and c.end in ends
            assert c.speaker == section.speaker and c.section == section.index
        # the chunks cover the section
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        assert all(i in covered for a, b in sentence_spans(section.text) for i in range(a, b))


def test_chunk_ids_are_stable_and_unique(seed_doc) -> None:
    a = chunk_sections(seed_doc.sections)
    b = chunk_sections(parse_file(SEED).sections)
    assert [c.id for c in a] == [c.id for c in b]
    assert len({c.id for c in a}) == len(a)


def test_chunk_size_is_respected_except_for_single_long_sentences(seed_doc) -> None:
    for c in chunk_sections(seed_doc.sections, 200, 50):
        if len(c.text) > 200 and c.kind == "text":
            # only a heading kept with its paragraph, or one sentence longer than the limit
            assert len(sentence_spans(c.text)) <= 3


def test_parse_text_of_only_noise_gives_no_sections() -> None:
    assert parse_text("\n \n\n").sections == ()


def test_bylines_become_profile_chunks_and_one_overview(seed_doc) -> None:
    chunks = chunk_sections(seed_doc.sections)
    profiles = {c.speaker: c for c in chunks if c.kind == "profile"}
    assert list(profiles) == [s.speaker for s in seed_doc.sections]
    for s in seed_doc.sections:
        assert s.affiliation in profiles[s.speaker].text and s.title in profiles[s.speaker].text
    (overview,) = [c for c in chunks if c.kind == "overview"]
    experts = [s.speaker for s in seed_doc.sections if s.speaker != "编者按"]
    assert f"共有{len(experts)}位专家" in overview.text
    assert [overview.text.index(e) for e in experts] == sorted(overview.text.index(e) for e in experts)


@pytest.mark.parametrize("path", [SEED, DATA / "record_other.txt"], ids=["seed", "other record"])
def test_the_bylines_are_quoted_as_the_document_prints_them(path) -> None:
    # the byline chunks are what an answer about a speaker quotes, so they hold the byline in the document's
    # own words (某某大学经济学院院长,教授赵明: workplace and post, then the name), not a rewording of it
    raw = compact(path.read_text(encoding="utf-8"))
    sections = [s for s in parse_file(path).sections if s.speaker != "编者按"]
    chunks = chunk_sections(sections)
    profiles = {c.speaker: compact(c.text) for c in chunks if c.kind == "profile"}
    (overview,) = [compact(c.text) for c in chunks if c.kind == "overview"]
    assert len(sections) >= 2
    for s in sections:
        printed = compact(s.affiliation + s.speaker)
        assert len(printed) > len(s.speaker) and printed in raw  # the document's text, name last
        assert printed in profiles[s.speaker] and printed in overview


def test_a_heading_followed_by_its_items_is_a_paragraph_of_its_own(tmp_path) -> None:
    # a numbered heading as long as a text line and without a full stop, then the items it announces: the
    # heading must not run into the first item (…几个方面一是…), or the list cannot be found
    record = (DATA / "record_other.txt").read_text(encoding="utf-8") + (
        "二、平台经济的健康发展已经得到了很多讨论,但仍有需要进一步研究的几个方面的问题\n\n"
        "一是完善平台规则。 平台企业要公开透明地制定规则,接受社会监督和政府监管,维护公平竞争的市场\n\n"
        "秩序。\n二是保护劳动者权益。\n")
    path = tmp_path / "record.txt"
    path.write_text(record, encoding="utf-8")
    paragraphs = parse_file(path).sections[-1].paragraphs
    assert "二、平台经济的健康发展已经得到了很多讨论,但仍有需要进一步研究的几个方面的问题" in paragraphs
    assert any(p.startswith("一是完善平台规则。") for p in paragraphs)
