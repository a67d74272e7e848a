"""Sections -> chunks: sentence-aligned spans that never cross a speaker.

Each chunk is ``section.text[start:end]`` for whole sentences. Chunks fill up
to ``size`` characters, prefer to end at a paragraph boundary once half full,
keep a short heading paragraph with the paragraph it introduces, and repeat up
to ``overlap`` characters of trailing sentences at the start of the next chunk.
Ids hash the source, position and text, so re-ingesting gives the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .text import sentence_spans
from .types import Chunk, Section

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
    key = f"{section.source}|{section.index}|{section.speaker}|{start}|{end}|{text}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def chunk_section(section: Section, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError(f"chunk size {size} and overlap {overlap}: need 0 <= overlap < size")
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


def chunk_sections(sections: Iterable[Section], size: int = DEFAULT_SIZE,
                   overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    return [c for s in sections for c in chunk_section(s, size, overlap)]
