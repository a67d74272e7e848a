"""Sections -> chunks: sentence-aligned spans that never cross a speaker.

Each chunk is ``section.text[start:end]`` for whole sentences. Chunks fill up
to ``size`` characters, prefer to end at a paragraph boundary once half full,
keep a short heading paragraph with the paragraph it introduces, and repeat up
to ``overlap`` characters of trailing sentences at the start of the next chunk.
Ids hash the document, position, text and the metadata shown with the chunk (speaker,
affiliation, title), so re-ingesting the same document gives the same ids and a fix changes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from .settings import ConfigError
from .text import sentence_spans
from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER, Chunk, Section

DEFAULT_SIZE = 400
DEFAULT_OVERLAP = 100
_HEADING_CHARS = 80


def _sentences(section: Section) -> list[tuple[int, int, int]]:
    """(start, end, paragraph) of each sentence, offsets into ``section.text``."""
    out = []
    offset = 0
    for p, para in enumerate(section.paragraphs):
        for s, e in sentence_spans(para):
            out.append((offset + s, offset + e, p))
        offset += len(para) + 1
    return out


def chunk_id(section: Section, start: int, end: int, text: str) -> str:
    """Stable id of a chunk: its document, place and text, and every piece of metadata shown with it
    (speaker, affiliation, title), so a corrected affiliation is a changed chunk, not "up to date"."""
    key = "\x1f".join((section.source, str(section.index), section.speaker, section.affiliation, section.title,
                       str(start), str(end), text))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def chunk_section(section: Section, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ConfigError(f"settings chunk_size ({size}) and chunk_overlap ({overlap}): "
                          "need 0 <= chunk_overlap < chunk_size")
    sents = _sentences(section)
    text = section.text
    para_len = [len(p) for p in section.paragraphs]
    chunks: list[Chunk] = []
    i = 0
    while i < len(sents):
        j = i + 1  # exclusive end sentence
        while j < len(sents):
            length = sents[j][1] - sents[i][0]
            new_para = sents[j][2] != sents[j - 1][2]
            current = sents[j - 1][1] - sents[i][0]
            heading_only = new_para and para_len[sents[j - 1][2]] <= _HEADING_CHARS and \
                sents[i][2] == sents[j - 1][2]
            if length > size and not heading_only:
                break
            if new_para and current >= size // 2 and not heading_only:
                break
            j += 1
        start, end = sents[i][0], sents[j - 1][1]
        body = text[start:end]
        chunks.append(Chunk(
            id=chunk_id(section, start, end, body), text=body, speaker=section.speaker,
            affiliation=section.affiliation, title=section.title, section=section.index,
            paragraph=sents[i][2], start=start, end=end, source=section.source,
        ))
        if j >= len(sents):
            break
        # next chunk starts with trailing sentences worth at most `overlap` chars
        nxt = j
        while nxt - 1 > i and end - sents[nxt - 1][0] <= overlap and sents[nxt - 1][2] == sents[j][2]:
            nxt -= 1
        i = nxt
    return chunks


BYLINE_LABEL = "发言人署名（工作单位与职务、姓名）："  # the index's words before a printed byline, not the document's


def profile_text(section: Section) -> str:
    """A speaker's byline as one sentence: who, where from, and the statement's title."""
    if section.speaker == EDITORIAL_SPEAKER:
        return f"编者按由{section.affiliation or '编辑部'}撰写，会议与专题为《{section.title}》。"
    # the byline as the document prints it (workplace and post, then the name: what an answer quotes is the
    # text), under the fields' names as a reader asks for them (单位, 职务, 题目, 标题), so a question about where
    # someone works or what the talk was called finds it by its words too. The name once: a second one would
    # weigh the byline for every question that names the speaker.
    who = (f"{BYLINE_LABEL}{printed_byline(section)}" if section.affiliation
           else f"发言人{section.speaker}")
    title = f"，发言题目（标题）：《{section.title}》" if section.title else ""  # one sentence: no ；
    return f"{who}{title}。"


def printed_byline(section: Section) -> str:
    """The byline as the document prints it: workplace and post, then the name
    (国务院发展研究中心创新发展研究部原部长,研究员吕薇); the name alone when there is no affiliation."""
    aff, name = section.affiliation, section.speaker
    # printed 研究员　吕薇 (its spaces dropped, as between Chinese characters), but "MIT Professor John Smith"
    gap = " " if aff and name and (aff[-1].isascii() and aff[-1].isalnum() or name[0].isascii()) else ""
    return f"{aff}{gap}{name}"


_NUMERALS = "一二三四五六七八九十"


def chinese_numeral(n: int) -> str:
    """1 -> 一, 12 -> 十二 (as 第一位 is written)."""
    if n <= 10:
        return _NUMERALS[n - 1]
    return ("" if n < 20 else _NUMERALS[n // 10 - 1]) + "十" + (_NUMERALS[n % 10 - 1] if n % 10 else "")


def overview_text(sections: Sequence[Section]) -> str:
    """The document's speakers in order, from their bylines: how many spoke, who, from where, on what."""
    experts = [s for s in sections if s.speaker not in (EDITORIAL_SPEAKER, UNKNOWN_SPEAKER)]
    if not experts:
        return ""
    items = "；".join(f"第{chinese_numeral(n)}位发言的是{printed_byline(s)}"
                     + (f"，发言题目为《{s.title}》" if s.title else "") for n, s in enumerate(experts, 1))
    names = "、".join(s.speaker for s in experts)
    return f"共有{len(experts)}位专家发言，依次是{names}。{items}。"


def _synthetic(section: Section, kind: str, text: str, paragraph: int) -> Chunk:
    key = f"{section.source}|{section.index}|{kind}|{section.speaker}|{section.affiliation}|{section.title}|{text}"
    return Chunk(id=hashlib.sha1(key.encode("utf-8")).hexdigest()[:20], text=text, speaker=section.speaker,
                 affiliation=section.affiliation, title=section.title, section=section.index,
                 paragraph=paragraph, start=0, end=0, source=section.source, kind=kind)


def byline_chunks(sections: Sequence[Section]) -> list[Chunk]:
    """One ``profile`` chunk per named speaker, and one ``overview`` chunk listing the experts (filed
    under the editorial, or the first section), so questions about the speakers themselves ("X 在哪工作",
    "几位专家发言", "X 的发言题目") retrieve the bylines the statements' texts do not repeat."""
    out = [_synthetic(s, "profile", profile_text(s), -1) for s in sections if s.speaker != UNKNOWN_SPEAKER]
    overview = overview_text(sections)
    if overview and sections:
        home = next((s for s in sections if s.speaker == EDITORIAL_SPEAKER), sections[0])
        out.append(_synthetic(home, "overview", overview, -2))
    return out


def chunk_sections(sections: Iterable[Section], size: int = DEFAULT_SIZE,
                   overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    sections = list(sections)
    return [c for s in sections for c in chunk_section(s, size, overlap)] + byline_chunks(sections)
