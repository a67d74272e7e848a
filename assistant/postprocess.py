"""A model's raw reply -> an answer the check can read: the stage between generate and check.

Small local models write answers with structure the grounding check must not read as claims, and with
citation slips the pipeline can repair. In order:

* markers at the start of a line ("[1] 1. …") or alone after a heading colon ("吕薇认为：[1]") move to
  the end of the line they belong to;
* list numbers (1. / 2、 / （一）) and enumerators are kept as text but are not claims;
* a trailing "资料编号：[1][2]" line, and markers pointing at no passage, go;
* a reply cut by the token limit is trimmed to its last complete sentence (with a notice);
* a reply with no content beyond markers, or none of whose sentences any passage supports, is not an
  answer: the caller shows the extractive answer instead (with the model's text kept and a notice);
* a sentence cited to the wrong passage, that another retrieved passage supports, is re-cited to it;
* sentences left uncited get the passage that supports them (``grounding.attribute``);
* a sentence that says again what an earlier one of the reply said (a small model looping, or copying one
  speaker's sentences under another's name) goes, with a notice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import notices
from .grounding import (
    MARKER_RE,
    SUPPORTED,
    UNVERIFIABLE,
    answer_spans,
    attribute,
    check_sentence,
    letters,
    parse_markers,
    split_answer,
)
from .types import Passage

# a trailing "资料编号：[1][2]" / "Sources: [1]" line repeats markers and says nothing
_SOURCE_LABEL_RE = re.compile(r"[ \t]*(?:资料编号|资料来源|参考资料|来源|引用|sources?|references?|passages?)"
                              r"\s*(?:为|是)?\s*[:：]?\s*(?:\[\d+\]\s*)+[。.]?\s*$", re.IGNORECASE | re.MULTILINE)
_MARKERS = rf"(?:\s*{MARKER_RE.pattern})+"
_LEADING_MARKERS = re.compile(rf"^(\s*)({_MARKERS})\s*", re.MULTILINE)
_LIST_NUMBER = re.compile(r"^\s*(?:\d{1,2}[.、)）]|[（(]\d{1,2}[)）]|[（(][一二三四五六七八九十]+[)）]|"
                          r"[一二三四五六七八九十]+、|[-*•])\s*", re.MULTILINE)
_SENTENCE_END = re.compile(r"[。！？!?；;.…」”）)\]】]\s*$")


@dataclass
class Reply:
    """The reply as the stages leave it, with what they did."""

    text: str
    notices: list[str] = field(default_factory=list)
    truncated: bool = False
    recited: int = 0
    attributed: int = 0


def normalize(raw: str, n_passages: int) -> Reply:
    """Markers moved to where they belong, bad markers and source lines dropped, list numbers kept as
    plain structure, a reply cut mid-sentence trimmed."""
    text = _drop_bad_markers(raw.replace("\r\n", "\n"), n_passages)
    text = _SOURCE_LABEL_RE.sub("", text)
    # "[1] 1. 科研人员…" -> "1. 科研人员…[1]"; a marker that labels a paragraph ("[1] A。B。C") cites each of its
    # sentences, so that trimming an unfinished last one does not take the citation with it
    lines = []
    for line in text.split("\n"):
        m = _LEADING_MARKERS.match(line)
        if m and line[m.end():].strip():
            marks = m.group(2).strip()
            rest = re.sub(rf"([。！？!?；;][”’」』）)]*)(?!\s*{MARKER_RE.pattern})(?=.)", rf"\1{marks}",
                          line[m.end():].rstrip())
            line = m.group(1) + rest + ("" if rest.endswith(marks) else marks)
        lines.append(line)
    # a heading line whose only markers follow its colon ("吕薇认为：[1]") hands them to the next line
    for i in range(len(lines) - 1):
        body, markers = parse_markers(lines[i])
        if markers and body.rstrip().endswith(("：", ":")) and not MARKER_RE.search(lines[i + 1]) \
                and lines[i + 1].strip():
            lines[i] = body.rstrip()
            lines[i + 1] = lines[i + 1].rstrip() + "".join(f"[{m}]" for m in markers)
    text = "\n".join(lines).strip()
    reply = Reply(text)
    if text and not _SENTENCE_END.search(MARKER_RE.sub("", text).rstrip() or "。"):
        ends = [m.start() for m in re.finditer(r"[。！？!?；;]|\.(?=\s|\[|$)", text)]
        cut = ends[-1] if ends else -1
        if cut > 0:
            tail = re.match(_MARKERS, text[cut + 1:].lstrip())
            end = cut + 1 + (len(text[cut + 1:]) - len(text[cut + 1:].lstrip()) + tail.end() if tail else 0)
            reply.text = text[:end].strip()
            reply.truncated = True
            reply.notices.append(notices.TRIMMED())
    return reply


def claims(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The answer's sentences that make claims: list numbers and heading lines are structure."""
    out = []
    for body, markers in split_answer(text):
        body = _LIST_NUMBER.sub("", body).strip()
        if not body or body.endswith(("：", ":")):  # a heading introduces what follows; it claims nothing
            continue
        if re.sub(r"\W", "", body):
            out.append((body, markers))
    return out


def has_content(text: str) -> bool:
    """False for a reply of only markers, numbers and punctuation ("[1] [2][3]")."""
    return bool(re.sub(r"[\W\d_]", "", MARKER_RE.sub("", _LIST_NUMBER.sub("", text))))


def recite(text: str, passages: Sequence[Passage], experts: Sequence[str]) -> tuple[str, int]:
    """Sentences whose cited passage does not support them, but another retrieved passage does, are re-cited
    to the one that covers most of their words (the best-ranked of equals). Returns (text, sentences re-cited)."""
    changed = 0
    out = text
    for body, markers in split_answer(text):
        if not markers or check_sentence(body, markers, passages, experts).verdict in (SUPPORTED, UNVERIFIABLE):
            continue
        checks = [(check_sentence(body, (n,), passages, experts), n) for n in range(1, len(passages) + 1)
                  if n not in markers]
        scored = sorted(((c.score, -n) for c, n in checks if c.verdict in (SUPPORTED, UNVERIFIABLE)), reverse=True)
        if not scored:
            continue
        fits = [-scored[0][1]]
        old = "".join(f"[{m}]" for m in markers)
        pos = out.find(body)
        at = out.find(old, pos) if pos >= 0 else -1
        if at >= 0:
            out = out[:at] + f"[{fits[0]}]" + out[at + len(old):]
            changed += 1
    return out, changed


def process(raw: str, passages: Sequence[Passage], experts: Sequence[str]) -> Reply | None:
    """The reply made checkable, or None when it is not an answer (no content, or nothing supported)."""
    reply = normalize(raw, len(passages))
    if not has_content(reply.text):
        return None
    if MARKER_RE.search(reply.text):
        repaired = attribute(reply.text, passages, experts, require_all=False)
        if repaired and repaired[1]:
            reply.text, reply.attributed = repaired
            reply.notices.append(notices.ATTRIBUTED(count=repaired[1]))
    else:
        cited = attribute(reply.text, passages, experts)
        if not cited:
            return None
        reply.text, reply.attributed = cited
        reply.notices.append(notices.NO_CITATIONS())
    reply.text, reply.recited = recite(reply.text, passages, experts)
    if reply.recited:
        reply.notices.append(notices.RECITED(count=reply.recited))
    reply.text, repeated = drop_repeats(reply.text, passages, experts)
    if repeated:
        reply.notices.append(notices.REPEATED(count=repeated))
    verdicts = [check_sentence(b, m, passages, experts).verdict for b, m in claims(reply.text)]
    if not verdicts or not any(v in (SUPPORTED, UNVERIFIABLE) for v in verdicts):
        return None
    return reply


# a label before what the model says someone said ("盛朝迅：", "Lü Wei: "), and names stacked after it when a looping
# model copies a labelled line under another name ("吕薇：李平:…"); no digits (9:30 is a time), no clause of a
# sentence ("本质是：", "问：什么是……？答：")
_LABEL = re.compile(r"^[^，,。：:\n\d？！?!；;]{1,20}[：:]\s*(?:[^，,。：:\n\d？！?!；;\s]{1,4}[：:]\s*)*")
_ONE_LABEL = re.compile(r"^[^，,。：:\n\d？！?!；;]{1,20}[：:]\s*")
REPEAT_MIN = 8  # letters and digits: a shorter sentence ("是的。", "Yes.") may fairly come twice


def drop_repeats(text: str, passages: Sequence[Passage] = (), experts: Sequence[str] = ()) -> tuple[str, int]:
    """A sentence that says again what another sentence of the reply says (the same letters without a
    leading label or list number), citing the same speakers (with no ``passages``: the same markers), is
    removed with its markers: a small model looping, or copying one speaker's sentences under another's
    name. Of the copies, the one kept is the first whose label names no expert or one it cites. Two experts
    who say the same thing (cited each to their own passage) both stay. Returns (text, sentences dropped)."""
    moved, spans = answer_spans(text)
    groups: dict[tuple[str, frozenset[str]], list[int]] = {}
    labels = []
    whole: dict[str, str] = {}  # a sentence's letters with its label -> its key (a copy may carry another label)
    for i, (_, _, body, markers) in enumerate(spans):
        core = _LIST_NUMBER.sub("", body, count=1)
        label = _LABEL.match(core)
        labels.append(label.group(0) if label else "")
        key = letters(core[label.end():] if label else core)
        first = _ONE_LABEL.match(core)
        key = whole.get(letters(core[first.end():]), key) if first else key  # 吕薇：<李开孟的观点是：…>
        whole.setdefault(letters(core), key)
        cited = frozenset(passages[m - 1].speaker for m in markers if 0 < m <= len(passages)) if passages else \
            frozenset(map(str, markers))
        if len(key) >= REPEAT_MIN and cited:
            groups.setdefault((key, cited), []).append(i)
    drop: set[int] = set()
    for (_, cited), copies in groups.items():
        if len(copies) > 1:
            named = [[e for e in experts if e in labels[i]] for i in copies]
            keep = next((i for i, who in zip(copies, named, strict=True) if not who or set(who) & cited), copies[0])
            drop.update(i for i in copies if i != keep)
    if not drop:
        return text, 0
    out, end = [], 0
    for i in sorted(drop):
        start, stop = spans[i][0], spans[i][1]
        line_start = moved.rfind("\n", 0, start) + 1
        if not _LIST_NUMBER.sub("", moved[line_start:start]).strip() and moved[stop:stop + 1] == "\n":
            start, stop = line_start, stop + 1  # the sentence was its line: the line goes
        out.append(moved[end:start].rstrip(" \t"))
        end = stop
    out.append(moved[end:])
    lines = "".join(out).split("\n")
    # a list item or a heading left with nothing after it goes too
    bare = [not _LIST_NUMBER.sub("", _LABEL.sub("", line.strip())).strip() for line in lines]
    kept = []
    for n, line in enumerate(lines):
        if line.strip() and bare[n]:
            after = next((m for m in range(n + 1, len(lines)) if lines[m].strip()), None)
            if _LIST_NUMBER.fullmatch(line.strip() + " ") or after is None or bare[after]:
                continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip(), len(drop)


def _drop_bad_markers(text: str, n: int) -> str:
    """Remove citation markers that point at no passage."""
    def fix(m: re.Match[str]) -> str:
        _, nums = parse_markers(m.group(0))
        return "".join(f"[{x}]" for x in nums if 1 <= x <= n)
    return MARKER_RE.sub(fix, text)
