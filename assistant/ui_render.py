"""Rendering for the browser chat: ``Answer`` values -> Markdown (the chat, copy, export) and HTML (the source
panel, the experts view). Pure functions of their inputs.

* The chat holds Markdown only. Text from a model, a document or a user is escaped so that it can form no
  Markdown construct: no image, no link, no autolink, no HTML. The only links are the ones made here, and
  they are in-page anchors: a citation ``[n]`` points at its answer's card (``#t2-s1``), a closest passage at
  ``#t2-p1``, the "理解为" line at ``#reask-2``.
* Every answer owns its sources: turn ``t`` has cards ``t{t}-s1…`` numbered 1..n in the order the markers
  first appear in its text, so the numbering is contiguous and ``[1]`` of an older answer still opens that
  answer's card.
* HTML (the panels) is built with ``html.escape`` on everything that came from a document or a user.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .grounding import MARKER_RE, best_aligned, parse_markers
from .notices import to_chinese
from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER, Answer, Citation, Passage
from .ui_suggest import Profile

SUPPORTED, UNVERIFIABLE = "supported", "unverifiable"
CLOSEST = 3  # closest passages listed with a refusal
TITLE = "新质生产力 · 专家观点问答"


@dataclass(frozen=True)
class Turn:
    """One question of a conversation as the chat shows it."""

    number: int  # 1-based, names the turn's cards (t{number}-s{n})
    question: str  # as asked (already capped)
    answer: Answer | None = None
    filter: str = ""  # the expert filter the question was searched under ("" = all experts)
    notes: tuple[str, ...] = ()  # what the chat did: the filter overridden, the question cut, the answer stopped
    error: str = ""  # a message instead of an answer


# ----------------------------------------------------------------------------- Markdown escaping

_MD_CHARS = re.compile(r"([\\`*_\[\]<>!|~$&#{}])")
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|file|data|javascript)(:)|\b(www)(\.)")
_LINE_START = re.compile(r"^[ \t]*(?:([-+=])|(\d+)([.)]))", re.MULTILINE)


def escape_md(text: str) -> str:
    """``text`` as literal Markdown: it renders as itself and forms no image, link, HTML or block."""
    out = _MD_CHARS.sub(r"\\\1", text)
    out = _AUTOLINK.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"{m.group(3)}\\{m.group(4)}", out)
    out = out.replace("@", "\\@")
    return _LINE_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", out)


def _link(text: str, anchor: str) -> str:
    return f"[{text}](#{anchor})"


# ----------------------------------------------------------------------------- numbering


def numbering(answer: Answer) -> dict[int, int]:
    """Old marker -> shown number, 1..n in the order markers first appear in the text."""
    _, order = parse_markers(answer.text)
    cited = [c.marker for c in answer.citations]
    shown = [m for m in order if m in cited] + [m for m in cited if m not in order]
    return {m: n for n, m in enumerate(shown, 1)}


def citations(answer: Answer) -> list[tuple[int, Citation]]:
    """(shown number, citation), in shown order."""
    numbers = numbering(answer)
    return sorted(((numbers[c.marker], c) for c in answer.citations), key=lambda t: t[0])


def _markers(text: str, numbers: dict[int, int], link: str | None) -> str:
    """Escape ``text``; its markers become [n] in shown numbers, links to ``#{link}-s{n}`` when given."""
    out, last = [], 0
    for m in MARKER_RE.finditer(text):
        out.append(escape_md(text[last:m.start()]))
        _, nums = parse_markers(m.group(0))
        for x in nums:
            n = numbers.setdefault(x, len(numbers) + 1)
            out.append(_link(f"[{n}]", f"{link}-s{n}") if link else f"\\[{n}\\]")
        last = m.end()
    out.append(escape_md(text[last:]))
    return "".join(out)


def partial_markdown(text: str) -> str:
    """A streaming answer so far: escaped, markers numbered as they appear (no links yet)."""
    return _markers(text, {}, None) or "……"


# ----------------------------------------------------------------------------- one answer in the chat

_FLAG = {"unsupported": "未通过核查", "uncited": "没有出处", "weak": "证据不足", UNVERIFIABLE: "无法逐字核对"}


def _flagged(answer: Answer) -> str:
    """The answer text with a sentinel after each sentence the grounding check did not support."""
    text = answer.text
    for i, s in enumerate(answer.sentences):
        if s.verdict != SUPPORTED and s.text and s.text in text:
            text = text.replace(s.text, f"{s.text}\ue000{i}\ue001", 1)
    return text


def _unflag(md: str, answer: Answer) -> str:
    def flag(m: re.Match[str]) -> str:
        s = answer.sentences[int(m.group(1))]
        return f"（⚠{_FLAG.get(s.verdict, '未通过核查')}）"
    return re.sub("\ue000(\\d+)\ue001", flag, md)


def _speaker_of(answer: Answer, markers: Sequence[int]) -> str:
    by_marker = {c.marker: c.passage.chunk.speaker for c in answer.citations}
    return next((by_marker[m] for m in markers if m in by_marker), "")


def _table(answer: Answer, numbers: dict[int, int], anchor: str) -> str:
    """expert | view | source, one row per expert (their sentences joined), for answers across experts."""
    rows: dict[str, tuple[list[str], list[int]]] = {}
    for s in answer.sentences:
        who = _speaker_of(answer, s.markers)
        if not who:
            continue
        body = re.sub(rf"^{re.escape(who)}\s*[：:]\s*", "", s.text)
        if s.verdict != SUPPORTED:
            body += f"（⚠{_FLAG.get(s.verdict, '未通过核查')}）"
        views, marks = rows.setdefault(who, ([], []))
        views.append(body)
        marks.extend(m for m in s.markers if m not in marks)
    lines = ["| 专家 | 观点 | 出处 |", "| --- | --- | --- |"]
    for who, (views, marks) in rows.items():
        cells = " ".join(_link(f"[{numbers[m]}]", f"{anchor}-s{numbers[m]}") for m in marks if m in numbers)
        view = escape_md("".join(views)).replace("\n", " ")
        lines.append(f"| {escape_md(who)} | {view} | {cells} |")
    return "\n".join(lines)


def _source_line(n: int, p: Passage, anchor: str) -> str:
    c = p.chunk
    who = escape_md(c.speaker)
    return f"- {_link(f'[{n}]', anchor)} {who} · 《{escape_md(c.title)}》 · {escape_md(c.locator)}"


def _across(answer: Answer) -> bool:
    speakers = {c.passage.chunk.speaker for c in answer.citations} - {EDITORIAL_SPEAKER, UNKNOWN_SPEAKER}
    return len(speakers) > 1 and len(answer.sentences) >= len(speakers)


def _filter_hint(filter: str) -> str:
    if not filter:
        return ""
    return (f"这次只检索了 {escape_md(filter)} 的发言：把“只看某位专家”换成“全部专家”，"
            "或在问题里写明别的专家，就会检索其他发言。")


def answer_markdown(turn: Turn) -> str:
    """The chat message for one finished turn: how it was read, the filter, the answer with linked markers
    (a table across experts), what the check flagged, notices, and the sources (speaker, title, paragraph)."""
    if turn.error:
        return f"⚠ {escape_md(turn.error)}"
    a = turn.answer
    assert a is not None
    t = turn.number
    head: list[str] = []
    if a.interpreted:
        head.append(f"理解为：{_link(escape_md(a.interpreted), f'reask-{t}')}（点击可修改后重问）")
    if turn.filter:
        head.append(f"**只看 {escape_md(turn.filter)}**")
    head += [f"*{escape_md(n)}*" for n in turn.notes]
    body: list[str] = []
    if a.decision == "refuse" or a.abstained:
        body.append(f"**{escape_md(a.text.strip())}**")
        if turn.filter:
            body.append(_filter_hint(turn.filter))
        shown = a.passages[:CLOSEST]
        if shown:
            body.append("最接近的段落（没有直接回答这个问题，仅供参考）：\n" + "\n".join(
                _source_line(n, p, f"t{t}-p{n}") for n, p in enumerate(shown, 1)))
        body.append("可以换个问法，试试下面建议的问题。")
    else:
        numbers = numbering(a)
        text = _flagged(a)
        lead = ""
        first, _, rest = text.partition("\n")
        if a.decision == "hedge" and rest and not MARKER_RE.search(first):
            lead, text = first.strip(), rest
        if lead:
            body.append(f"⚠ **{escape_md(lead)}**")
        if _across(a):
            body.append(_table(a, numbers, f"t{t}"))
        else:
            body.append(_unflag(_markers(text, numbers, f"t{t}"), a))
        if a.notice:
            body.append(f"*注：{escape_md(to_chinese(a.notice))}*")
        cites = citations(a)
        if cites:
            body.append("来源：\n" + "\n".join(_source_line(n, c.passage, f"t{t}-s{n}") for n, c in cites))
        if a.decision == "hedge":
            body.append(_filter_hint(turn.filter) + "文档可能没有直接谈到这个问题；可以试试下面建议的问法。")
    return "\n\n".join(["\n".join(head)] * bool(head) + body)


def user_markdown(question: str) -> str:
    return escape_md(question) or "……"


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for turn in turns:
        out.append({"role": "user", "content": user_markdown(turn.question)})
        out.append({"role": "assistant", "content": answer_markdown(turn)})
    return out


# ----------------------------------------------------------------------------- export


def export_markdown(turns: Sequence[Turn], when: str = "") -> str:
    """The whole conversation as Markdown: each question, its answer with [n] markers, and its sources
    (speaker, affiliation, talk title, paragraph)."""
    out = [f"# {TITLE}：对话记录", ""]
    if when:
        out += [f"导出时间：{when}", ""]
    for turn in turns:
        out += [f"## 问 {turn.number}：{escape_md(turn.question)}", ""]
        a = turn.answer
        if turn.error or a is None:
            out += [f"⚠ {escape_md(turn.error)}", ""]
            continue
        if a.interpreted:
            out += [f"理解为：{escape_md(a.interpreted)}", ""]
        if turn.filter:
            out += [f"只看 {escape_md(turn.filter)}", ""]
        numbers = numbering(a)
        out += [_markers(a.text, numbers, None), ""]
        if a.notice:
            out += [f"注：{escape_md(to_chinese(a.notice))}", ""]
        cites = citations(a)
        if cites:
            out.append("来源：")
            for n, c in cites:
                ch = c.passage.chunk
                aff = f"（{escape_md(ch.affiliation)}）" if ch.affiliation else ""
                out.append(f"- \\[{n}\\] {escape_md(ch.speaker)}{aff}《{escape_md(ch.title)}》{escape_md(ch.locator)}")
            out.append("")
        elif a.passages:
            out.append("最接近的段落：")
            for p in a.passages[:CLOSEST]:
                out.append(f"- {escape_md(p.chunk.speaker)}《{escape_md(p.chunk.title)}》{escape_md(p.chunk.locator)}")
            out.append("")
        out += [f"回答引擎：{escape_md(a.model)}", ""]
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- the source panel (HTML)

EMPTY_PANEL = ('<p class="hint">提问后，这里会列出每个回答所依据的原文段落：谁说的、什么身份、哪篇发言、第几段。'
               '点击回答里的 [1]、[2] 可以跳到对应段落。</p>')


def _highlight(text: str, sentences: Sequence[str], p: Passage) -> tuple[str, str]:
    """(card body HTML with the cited sentences marked, the cited sentences as plain text for the preview)."""
    spans: list[tuple[int, int]] = []
    for sent in sentences:
        aligned = best_aligned(sent, [p])
        pos = text.find(aligned) if aligned else -1
        if pos >= 0:
            spans.append((pos, pos + len(aligned)))
    body, last, quote = [], 0, []
    for a, b in sorted(set(spans)):
        if a < last:
            continue
        body.append(html.escape(text[last:a]))
        body.append(f"<mark>{html.escape(text[a:b])}</mark>")
        quote.append(text[a:b])
        last = b
    body.append(html.escape(text[last:]))
    return "".join(body).replace("\n", "<br>"), "……".join(quote)


def card_html(anchor: str, n: int, p: Passage, sentences: Sequence[str] = (), closest: bool = False) -> str:
    c = p.chunk
    body, quote = _highlight(c.text, sentences, p)
    if not quote:
        quote = c.text if len(c.text) <= 120 else c.text[:120] + "……"
    kind = " closest" if closest else ""
    label = "相近段落" if closest else "出处"
    return (f'<article class="card{kind}" id="{anchor}" tabindex="-1" data-speaker="{html.escape(c.speaker)}" '
            f'data-quote="{html.escape(quote)}" aria-label="{label} {n}：{html.escape(c.speaker)}">'
            f'<h3>[{n}] {html.escape(c.speaker)}</h3>'
            f'<div class="meta">{html.escape(c.affiliation or "—")} · 《{html.escape(c.title)}》 · '
            f'{html.escape(c.locator)}</div><p>{body}</p></article>')


def _tech(a: Answer) -> str:
    t = a.timings
    condensed = f" · 改写追问 {t.condense_ms:.0f} ms" if t.condense_ms >= 1 else ""
    return (f'<details class="tech"><summary>技术信息</summary><p>回答引擎：{html.escape(a.model)} · '
            f'判断：{html.escape(a.decision)}（置信度 {a.confidence:.2f}）{condensed} · 检索 {t.retrieval_ms:.0f} ms · '
            f'首字 {t.first_token_ms:.0f} ms · 共 {t.total_ms:.0f} ms</p>'
            f'<p>{html.escape(a.reason)}</p></details>')


def turn_html(turn: Turn, latest: bool) -> str:
    a = turn.answer
    t = turn.number
    q = turn.question if len(turn.question) <= 40 else turn.question[:40] + "……"
    parts = [f'<details class="turn" id="t{t}"{" open" if latest else ""}>'
             f'<summary>回答 {t} 的出处 · {html.escape(q)}</summary>']
    if turn.filter:
        parts.append(f'<p class="badge">只看 {html.escape(turn.filter)}</p>')
    if a is None:
        parts.append(f'<p class="hint">{html.escape(turn.error or "没有回答")}</p>')
    elif a.decision == "refuse" or a.abstained or not a.citations:
        parts.append('<p class="hint">文档里没有直接回答这个问题的段落。下面是检索到的最接近的段落，仅供参考：</p>')
        parts += [card_html(f"t{t}-p{n}", n, p, closest=True) for n, p in enumerate(a.passages[:CLOSEST], 1)]
    else:
        for n, c in citations(a):
            used = [s.text for s in a.sentences if c.marker in s.markers]
            parts.append(card_html(f"t{t}-s{n}", n, c.passage, used))
    if a is not None:
        parts.append(_tech(a))
    parts.append("</details>")
    return "".join(parts)


def sources_html(turns: Sequence[Turn]) -> str:
    """Every answer's sources, newest first; the newest open, older ones folded (a click on an older
    answer's [n] opens its group)."""
    if not turns:
        return EMPTY_PANEL
    return "".join(turn_html(turn, n == len(turns) - 1) for n, turn in reversed(list(enumerate(turns))))


# ----------------------------------------------------------------------------- status line and experts view


def status_html(filter: str, message: str = "") -> str:
    """The line above the question box: the expert filter (if on) and the last input message."""
    parts = []
    if filter:
        parts.append(f'<span class="badge">只看 {html.escape(filter)}</span> 问题只在 {html.escape(filter)} '
                     "的发言里检索；问题里写明别的专家时，按问题检索。")
    if message:
        parts.append(f'<span class="msg">{html.escape(message)}</span>')
    return f'<div class="status" role="status" aria-live="polite">{" ".join(parts)}</div>'


def experts_html(profiles: Sequence[Profile]) -> str:
    """The experts view: affiliation, talk title and three key claims (verbatim, with their paragraph)."""
    cards = []
    for p in profiles:
        claims = "".join(f'<li>“{html.escape(c.text)}”<span class="meta">〔{html.escape(c.chunk.locator)}〕</span></li>'
                         for c in p.claims)
        cards.append(f'<article class="expert" data-speaker="{html.escape(p.speaker)}">'
                     f'<h2>{html.escape(p.speaker)}</h2><p class="meta">{html.escape(p.affiliation or "—")}</p>'
                     f'<p class="talk">《{html.escape(p.title)}》</p>'
                     f'<p class="claims-label">主要观点（摘自原文）：</p><ol>{claims}</ol></article>')
    return ('<p class="hint">每位专家的单位、发言题目，以及发言中与题目最相关的三句原话（按段落标注出处）。</p>'
            f'<div class="experts">{"".join(cards)}</div>')
