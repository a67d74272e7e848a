"""Document -> sections: who spoke, in what role, under which title, and what they said.

Two input forms are understood:

* **record**: text extracted from a printed symposium record (the seed). Each
  statement is a title (one to four short lines), affiliation lines, and a
  line "role<space>name" (``研究员　 吕　 薇``), followed by the statement's
  body. Text before the first statement is the journal's introduction
  (speaker ``编者按``). The extraction breaks lines mid-sentence, puts a blank
  line between lines and leaves whitespace-only lines at page breaks; all of
  that is undone here.
* **markdown**: transcripts users write themselves (see README, "Adding your
  own transcript")::

      # 标题
      导言（可选，作为“编者按”）
      ## 姓名 | 单位与职务 | 发言标题
      段落……

A document in which no speaker can be found becomes one section under
speaker ``未知``, with a warning.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .text import SENTENCE_END, is_cjk, width
from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER, Document, Section

MAX_BYTES = 20 * 1024 * 1024
_TERMINATORS = tuple(SENTENCE_END) + ("”", "」", "…")
_CONTINUES = (",", "，", "、")
_ENUM_RE = re.compile(r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）]|\d+[、.．](?!\s*\d))")
# the first item of an enumeration in running text (一是…, 首先…, 第一，…)
_ITEM_RE = re.compile(r"^(?:[一二三四五六七八九十]+是|首先|第[一二三四五六七八九十]+[,，、])")
_NAME_RE = re.compile(r"^[\u4e00-\u9fff·]{2,4}$")
_ROLE_RE = re.compile(r"^[\u4e00-\u9fff]{2,8}$")
_MD_SPEAKER_RE = re.compile(r"^##\s+(.+?)\s*$")
_MD_TITLE_RE = re.compile(r"^#\s+(.+?)\s*$")
_JOURNAL_RE = re.compile(r"《[^》]{1,20}》编辑部")


class InputError(ValueError):
    """A document that cannot be read; the message names the file and the reason."""


# --------------------------------------------------------------------------- reading


def read_document(path: str | Path) -> str:
    """Read a text file as UTF-8 (or GB18030, or Shift-JIS when it plainly is), refusing what is not text."""
    return _read(path)[0]


# characters a document may not carry into the index: C0/C1 controls other than line breaks and tabs,
# and the bidirectional overrides that make text display in another order than it is stored
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _read(path: str | Path) -> tuple[str, list[str]]:
    """(text, warnings) of a document file, or InputError naming the file and the reason."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give the document files inside it")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{p}: the file is empty")
    if size > MAX_BYTES:
        raise InputError(f"{p}: {size / 1e6:.0f} MB is too large for one document (limit {MAX_BYTES // 2**20} MB)")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot be read ({e.strerror}); check its permissions") from None
    if b"\x00" in data[:8192]:
        raise InputError(f"{p}: a binary file, not text (it contains NUL bytes)")
    text, warnings = _decode(data, p)
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise InputError(f"{p}: looks binary ({controls} control characters); give a text file")
    text = _CONTROLS.sub("", text)
    if not text.strip():
        raise InputError(f"{p}: the file holds only whitespace")
    return text, warnings


def _gb2312_share(text: str) -> float:
    """The share of non-ASCII characters that are common simplified Chinese (GB2312) characters."""
    chars = [c for c in text if ord(c) > 0x7F and not c.isspace()]
    if not chars:
        return 1.0
    common = 0
    for c in chars:
        try:
            c.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(chars)


def _kana_share(text: str) -> float:
    chars = [c for c in text if ord(c) > 0x7F and not c.isspace()]
    return sum("\u3040" <= c <= "\u30ff" for c in chars) / max(1, len(chars))


def _decode(data: bytes, p: Path) -> tuple[str, list[str]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    share = _gb2312_share(text) if text else 0.0
    if share < 0.5:
        # GB18030 decodes almost any byte string: Shift-JIS (Japanese) read that way is mojibake made of
        # rare characters. Read as Shift-JIS, real Japanese has kana.
        try:
            japanese = data.decode("cp932")
        except UnicodeDecodeError:
            japanese = ""
        if japanese and _kana_share(japanese) >= 0.1:
            return japanese, [f"{p}: read as Shift-JIS (Japanese) text, not UTF-8 or GB18030; convert it to UTF-8 "
                              "(iconv -f SHIFT_JIS -t UTF-8) to be sure it is read as meant"]
    if not text:
        raise InputError(f"{p}: neither UTF-8 nor GB18030 text; convert it to UTF-8")
    if share < 0.5:
        return text, [f"{p}: read as GB18030, but only {share:.0%} of its characters are common Chinese characters; "
                      "if it shows as mojibake it is in another encoding (Big5, EUC-KR…): convert it to UTF-8"]
    return text, []


def parse_file(path: str | Path) -> Document:
    """Parse a document file. Its ``source`` is the file's resolved path: the document's identity in the index."""
    text, warnings = _read(path)
    doc = parse_text(text, source=str(Path(path).resolve()))
    return replace(doc, warnings=tuple(warnings) + doc.warnings) if warnings else doc


def content_hash(doc: Document) -> str:
    """A hash of what a document says (every section's speaker, affiliation, title and text), not of its name."""
    h = hashlib.sha256()
    h.update(doc.title.encode("utf-8"))
    for s in doc.sections:
        for part in (s.speaker, s.affiliation, s.title, s.text):
            h.update(b"\x1f" + part.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()[:32]


def parse_text(text: str, source: str = "") -> Document:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if any(_MD_SPEAKER_RE.match(line) for line in text.split("\n")):
        return _parse_markdown(text, source)
    return _parse_record(text, source)


# --------------------------------------------------------------------------- cleaning


def _join(a: str, b: str) -> str:
    """Join two pieces of a line broken by the extraction."""
    if not a:
        return b
    if not b:
        return a
    if a[-1].isascii() and a[-1].isalpha() and b[0].isascii() and b[0].isalpha():
        return a + b  # a word split across a break: "Open" + "AI"
    if a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum():
        return a + " " + b  # "GDP" + "2000"
    return a + b


def clean_inline(s: str) -> str:
    """Normalise spacing inside rejoined text.

    Full-width spaces become spaces; spaces between two CJK characters or after
    Chinese punctuation go; digits split by the extraction are rejoined
    (``2. 4 亿`` -> ``2.4 亿``). Spaces between Chinese and Latin or digits stay,
    as the source prints them.
    """
    s = re.sub(r"[\u3000\s]+", " ", s).strip()
    s = re.sub(r"(\d)\s*([.．])\s+(\d)", r"\1\2\3", s)

    def drop(m: re.Match[str]) -> str:
        left, right = m.group(1), m.group(2)
        if _wide_or_cjk(left) and (_wide_or_cjk(right) or not right.isalnum()):
            return ""
        if _wide_or_cjk(right) and not left.isalnum():
            return ""
        return " "

    return re.sub(r"(?<=(\S)) (?=(\S))", drop, s)


def _wide_or_cjk(c: str) -> bool:
    return is_cjk(c) or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef" or c in "“”‘’—…·"


def _name(tokens: list[str]) -> str:
    return "".join(tokens).replace("\u3000", "").replace(" ", "")


# --------------------------------------------------------------------------- record form


@dataclass
class _Line:
    text: str  # stripped
    marker_after: bool  # a whitespace-only line (page break) follows
    gap_after: bool  # an empty line follows


def _lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    for raw in text.split("\n"):
        if raw.strip():
            out.append(_Line(raw.strip(), False, False))
        elif out:
            if raw:
                out[-1].marker_after = True
            else:
                out[-1].gap_after = True
    return out


def _speaker_line(line: str) -> tuple[str, str] | None:
    """("研究员", "吕薇") for a line such as ``研究员　 吕　 薇``, else None."""
    if width(line) > 40 or line[-1] in _TERMINATORS + _CONTINUES:
        return None
    parts = [p for p in re.split(r"[\u3000 ]+", line) if p]
    if len(parts) < 2:
        return None
    role, name = parts[0], _name(parts[1:])
    if _ROLE_RE.match(role) and _NAME_RE.match(name):
        return role, name
    return None


def _ends_sentence(s: str) -> bool:
    return s.endswith(_TERMINATORS)


def _find_headers(lines: list[_Line]) -> list[tuple[int, int, int]]:
    """(title_start, name_line, affiliation_start) for each statement header."""
    headers = []
    for i, ln in enumerate(lines):
        if _speaker_line(ln.text) is None or i == 0:
            continue
        j = i - 1
        # Affiliation: the line before the name, and earlier lines that end in , or 、
        if not (lines[j].text.endswith(_CONTINUES) or lines[j].marker_after):
            continue
        aff_start = j
        while aff_start - 1 >= 0 and lines[aff_start - 1].text.endswith(_CONTINUES) and \
                not _ends_sentence(lines[aff_start - 1].text) and width(lines[aff_start - 1].text) <= 64:
            # stop at a title line ending in a comma: it is separated by a non-comma line
            aff_start -= 1
            if not lines[aff_start].marker_after:
                break
        # Title: up to four short lines before, back to the end of a sentence.
        t = aff_start
        while t - 1 >= 0 and aff_start - (t - 1) <= 4 and not _ends_sentence(lines[t - 1].text) \
                and width(lines[t - 1].text) <= 64 and _speaker_line(lines[t - 1].text) is None:
            t -= 1
        if t == aff_start:
            continue  # no title: not a statement header
        headers.append((t, i, aff_start))
    return headers


def _title(lines: list[_Line]) -> str:
    out = ""
    for ln in lines:
        out = _join(out, ln.text)
    return clean_inline(out)


def _paragraphs(lines: list[_Line]) -> list[str]:
    """Rejoin broken lines into paragraphs."""
    # 1. lines followed by a page-break marker continue on the next line
    logical: list[str] = []
    carry = False
    for ln in lines:
        if carry and logical:
            logical[-1] = _join(logical[-1], ln.text)
        else:
            logical.append(ln.text)
        carry = ln.marker_after or width(ln.text) < 8 and not _ends_sentence(ln.text)
    if not logical:
        return []
    widths = sorted(width(s) for s in logical)
    full = widths[int(len(widths) * 0.8)] if len(widths) >= 5 else max(widths)
    paras: list[str] = []
    cur = ""
    for k, s in enumerate(logical):
        nxt = logical[k + 1] if k + 1 < len(logical) else ""
        if cur and _ENUM_RE.match(s):
            paras.append(cur)
            cur = ""
        cur = _join(cur, s)
        w = width(s)
        end = (_ends_sentence(s) and w < 0.9 * full) or \
            (not _ends_sentence(s) and not s.endswith(_CONTINUES) and w < 0.7 * full and bool(nxt)) or \
            (bool(_ENUM_RE.match(nxt)) and _ends_sentence(s)) or \
            (bool(_ENUM_RE.match(cur)) and not _ends_sentence(s) and bool(_ITEM_RE.match(nxt)))  # heading, then items
        if end:
            paras.append(cur)
            cur = ""
    if cur:
        paras.append(cur)
    return [p for p in (clean_inline(p) for p in paras) if p]


def _parse_record(text: str, source: str) -> Document:
    lines = _lines(text)
    headers = _find_headers(lines)
    warnings: list[str] = []
    # Document header: the short lines before the first long or finished line.
    h = 0
    while h < len(lines) and width(lines[h].text) <= 64 and not _ends_sentence(lines[h].text) and \
            (not headers or h < headers[0][0]):
        h += 1
    head = lines[:h]
    if len(head) >= 2 and width(head[0].text) <= 16:
        head = head[1:]  # a column label above the title ("新质生产力专题")
    doc_title = _title(head) if head else ""
    sections: list[Section] = []
    intro_end = headers[0][0] if headers else len(lines)
    intro = _paragraphs(lines[h:intro_end])
    if not headers:
        if intro:
            warnings.append(f"{source or 'document'}: no speaker found; ingested under {UNKNOWN_SPEAKER!r}")
            sections.append(Section(0, UNKNOWN_SPEAKER, "", doc_title, tuple(intro), source))
        return Document(doc_title, tuple(sections), source, tuple(warnings))
    if intro:
        journal = _JOURNAL_RE.search("".join(intro))
        sections.append(Section(0, EDITORIAL_SPEAKER, journal.group(0) if journal else "", doc_title,
                                tuple(intro), source))
    for n, (t, i, a) in enumerate(headers):
        role, name = _speaker_line(lines[i].text)  # type: ignore[misc]
        affiliation = clean_inline("".join(ln.text for ln in lines[a:i]) + role)
        body_end = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
        body = _paragraphs(lines[i + 1:body_end])
        if not body:
            warnings.append(f"{source or 'document'}: the statement of {name} has no text")
            continue
        sections.append(Section(len(sections), name, affiliation, _title(lines[t:a]), tuple(body), source))
    return Document(doc_title, tuple(sections), source, tuple(warnings))


# --------------------------------------------------------------------------- markdown form


def _md_paragraphs(block: list[str]) -> list[str]:
    paras, cur = [], ""
    for line in block + [""]:
        if line.strip():
            cur = _join(cur, line.strip())
        elif cur:
            paras.append(clean_inline(cur))
            cur = ""
    return [p for p in paras if p]


def _parse_markdown(text: str, source: str) -> Document:
    title = ""
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.split("\n"):
        m = _MD_SPEAKER_RE.match(line)
        if m:
            blocks.append((m.group(1), []))
            continue
        t = _MD_TITLE_RE.match(line)
        if t and not title and blocks[-1][0] is None:
            title = clean_inline(t.group(1))
            continue
        blocks[-1][1].append(line)
    sections: list[Section] = []
    warnings: list[str] = []
    for heading, block in blocks:
        paras = _md_paragraphs(block)
        if heading is None:
            if paras:
                sections.append(Section(0, EDITORIAL_SPEAKER, "", title, tuple(paras), source))
            continue
        fields = [f.strip() for f in re.split(r"\s*[|｜]\s*", heading)]
        name = _name(fields[0].split())
        if not name:
            name = UNKNOWN_SPEAKER
            warnings.append(f"{source or 'document'}: a heading without a name; ingested under {name!r}")
        if not paras:
            warnings.append(f"{source or 'document'}: the statement of {name} has no text")
            continue
        affiliation = fields[1] if len(fields) > 1 else ""
        stitle = fields[2] if len(fields) > 2 else ""
        sections.append(Section(len(sections), name, affiliation, stitle, tuple(paras), source))
    return Document(title, tuple(sections), source, tuple(warnings))
