"""The browser chat: Gradio Blocks with a streaming chat and a source panel.

The handlers render ``Answer`` values from the pipeline; they compute nothing of their own.
Everything shown that came from a user or a document is HTML-escaped.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

from .grounding import MARKER_RE, SUPPORTED, _best_aligned
from .pipeline import Assistant
from .retrieve import QuestionError
from .settings import Settings
from .types import Answer

EXTRACTIVE_LABEL = "extractive（无需模型，直接摘录原文）"
ALL_SPEAKERS = "全部专家"
EXAMPLES = [
    "吕薇认为发展新质生产力的本质是什么？",
    "哪些专家谈到了人工智能？",
    "数字经济时代新质生产力的核心价值可以归结为一个什么公式？",
    "What does Ren Baoping say about computing power?",
]
CSS = """
.card {border:1px solid #d0d7de; border-radius:8px; padding:10px 12px; margin:0 0 10px 0; background:#fff;}
.card.flash {outline:3px solid #f0b429;}
.card h4 {margin:0 0 4px 0; font-size:15px;}
.card .meta {color:#57606a; font-size:12px; margin-bottom:6px;}
.card p {margin:0; line-height:1.6; font-size:14px;}
.card mark {background:#fff3b0; padding:0 1px;}
.unsupported {color:#b42318;}
.abstain {border:1px dashed #b42318; border-radius:8px; padding:10px; color:#b42318;}
.footer {color:#57606a; font-size:12px; margin-top:6px;}
a.cite {text-decoration:none; font-weight:600;}
"""
# Clicking or hovering a [n] marker brings its source card into view.
JS = """
() => {
  const show = (e, flash) => {
    const a = e.target.closest && e.target.closest('a.cite');
    if (!a) return;
    const card = document.getElementById('src-' + a.dataset.n);
    if (!card) return;
    if (flash) e.preventDefault();
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.add('flash');
    setTimeout(() => card.classList.remove('flash'), 1200);
  };
  document.addEventListener('click', e => show(e, true), true);
  document.addEventListener('mouseover', e => show(e, false), true);
}
"""


class Engines:
    """One Assistant per model choice, created on first use and shared by all sessions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[str, Assistant] = {}
        self._lock = threading.Lock()
        base = Assistant(settings)
        self.default_label = self.label(base)
        self._engines[self.default_label] = base

    @staticmethod
    def label(assistant: Assistant) -> str:
        name = assistant.model_name
        return EXTRACTIVE_LABEL if name == "extractive" else name

    def choices(self) -> list[str]:
        return list(dict.fromkeys([self.default_label, EXTRACTIVE_LABEL]))

    def get(self, label: str | None) -> Assistant:
        with self._lock:
            if not label or label not in self._engines:
                if label == EXTRACTIVE_LABEL:
                    base = self._engines[self.default_label]
                    self._engines[label] = Assistant(self.settings.with_overrides(model="extractive"),
                                                     index=base.retriever.index)
                else:
                    label = self.default_label
            return self._engines[label]


# ------------------------------------------------------------------------- rendering


def render_answer_markdown(answer: Answer) -> str:
    """The answer for the chat: escaped text, markers as links to their cards, unsupported sentences marked."""
    if answer.abstained:
        return f"**{html.escape(answer.text)}**（文档中没有涉及这个问题的内容，所以不作回答。）"
    out = html.escape(answer.text).replace("\n", "  \n")
    for s in answer.sentences:
        if s.verdict != SUPPORTED:
            esc = html.escape(s.text)
            flag = "⚠未通过核查" if s.verdict in ("unsupported", "uncited") else "⚠证据不足"
            out = out.replace(esc, f'<span class="unsupported" title="{html.escape(s.reason)}">{esc}'
                                   f'（{flag}）</span>', 1)

    def link(m: re.Match[str]) -> str:
        nums = [n for n in re.split(r"[,，、;；]", m.group(1)) if n.strip().isdigit()]
        return "".join(f'<a class="cite" data-n="{int(n)}" href="#src-{int(n)}">[{int(n)}]</a>' for n in nums)

    out = MARKER_RE.sub(link, out)
    if answer.notice:
        out += f"\n\n*（{html.escape(answer.notice)}）*"
    t = answer.timings
    condensed = f"改写追问 {t.condense_ms:.0f} ms · " if t.condense_ms >= 1 else ""
    out += (f'\n\n<div class="footer">{html.escape(answer.model)} · {condensed}检索 {t.retrieval_ms:.0f} ms · '
            f'首字 {t.first_token_ms:.0f} ms · 共 {t.total_ms:.0f} ms</div>')
    return out


def render_sources(answer: Answer | None) -> str:
    """Source cards for the latest answer, cited sentences highlighted."""
    if answer is None:
        return '<div class="meta">提问后，这里会列出回答所依据的原文段落：谁说的、什么身份、哪篇发言。</div>'
    if answer.abstained:
        return ('<div class="abstain">文档没有涉及这个问题，因此没有引用任何段落。'
                '可以换个问法，或问问某位专家的观点。</div>')
    cards = []
    for c in answer.citations:
        ch = c.passage.chunk
        used = [s.text for s in answer.sentences if c.marker in s.markers]
        text = ch.text
        spans: list[tuple[int, int]] = []
        for sent in used:
            aligned = _best_aligned(sent, [c.passage])
            pos = text.find(aligned) if aligned else -1
            if pos >= 0:
                spans.append((pos, pos + len(aligned)))
        body, last = [], 0
        for a, b in sorted(set(spans)):
            if a < last:
                continue
            body.append(html.escape(text[last:a]))
            body.append(f"<mark>{html.escape(text[a:b])}</mark>")
            last = b
        body.append(html.escape(text[last:]))
        cards.append(
            f'<div class="card" id="src-{c.marker}" data-speaker="{html.escape(ch.speaker)}">'
            f"<h4>[{c.marker}] {html.escape(ch.speaker)}</h4>"
            f'<div class="meta">{html.escape(ch.affiliation or "—")} · 《{html.escape(ch.title)}》 · '
            f"第 {ch.paragraph + 1} 段</div>"
            f"<p>{''.join(body).replace(chr(10), '<br>')}</p></div>")
    return "".join(cards) or '<div class="meta">这个回答没有引用段落。</div>'


# ------------------------------------------------------------------------- handlers


def respond(engines: Engines, message: str, chat: list[dict[str, Any]], history: list[tuple[str, Answer]],
            model: str | None, speaker: str | None) -> Iterator[tuple[list[dict[str, Any]], str, list[Any], str]]:
    """Stream one turn: (chat messages, source panel HTML, session history, cleared textbox)."""
    chat = list(chat or [])
    history = list(history or [])
    shown = html.escape(message or "")
    chat.append({"role": "user", "content": shown})
    assistant = engines.get(model)
    speakers = (speaker,) if speaker and speaker != ALL_SPEAKERS else ()
    chat.append({"role": "assistant", "content": "…"})
    try:
        text = ""
        response = assistant.stream(message or "", history, speakers)
        for piece in response:
            text += piece
            chat[-1] = {"role": "assistant", "content": html.escape(text)}
            yield chat, render_sources(None), history, ""
        final = response.answer()
        chat[-1] = {"role": "assistant", "content": render_answer_markdown(final)}
        history.append((message, final))
        yield chat, render_sources(final), history, ""
    except QuestionError as e:
        chat[-1] = {"role": "assistant", "content": f"⚠ {html.escape(str(e))}"}
        yield chat, render_sources(None), history, ""


def build_app(settings: Settings, engines: Engines | None = None) -> Any:
    import gradio as gr

    engines = engines or Engines(settings)
    experts = engines.get(None).retriever.directory.experts
    with gr.Blocks(title="新质生产力 · 专家观点问答", analytics_enabled=False) as app:
        gr.Markdown("## 新质生产力 · 专家观点问答\n关于《技术经济》2024 年新质生产力专家座谈会的问答。"
                    "每个回答都注明是哪位专家说的，并逐句核对原文；文档没有涉及的问题会直接说明。")
        history = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="对话", height=520, elem_id="chat", sanitize_html=True)
                box = gr.Textbox(label="你的问题", placeholder="例如：吕薇认为发展新质生产力的本质是什么？",
                                 elem_id="question", lines=1)
                with gr.Row():
                    send = gr.Button("提问", variant="primary", elem_id="send")
                    new = gr.Button("新对话", elem_id="new-chat")
                gr.Examples(EXAMPLES, inputs=box, label="试试这些问题")
            with gr.Column(scale=2):
                with gr.Row():
                    model = gr.Dropdown(engines.choices(), value=engines.default_label, label="回答引擎",
                                        elem_id="model")
                    speaker = gr.Dropdown([ALL_SPEAKERS, *experts], value=ALL_SPEAKERS, label="只看某位专家",
                                          elem_id="speaker")
                sources = gr.HTML(render_sources(None), label="原文出处", elem_id="sources")

        def turn(message, chat_v, hist_v, model_v, speaker_v):  # type: ignore[no-untyped-def]
            yield from respond(engines, message, chat_v, hist_v, model_v, speaker_v)

        inputs = [box, chat, history, model, speaker]
        outputs = [chat, sources, history, box]
        box.submit(turn, inputs, outputs, api_name="ask")
        send.click(turn, inputs, outputs, api_visibility="private")
        new.click(lambda: ([], render_sources(None), [], ""), None, outputs, api_name="new_chat")
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None) -> int:
    import gradio as gr

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            from .cli import UserError
            raise UserError("--auth takes USER:PASSWORD")
        credentials = (user, password)
    engines = Engines(settings)
    print("preparing the index (the first run builds it from seeds/) …", flush=True)
    engines.get(None).retriever  # noqa: B018  (open or build the index before the first question)
    app = build_app(settings, engines)
    llm = engines.get(None).generator.is_llm
    app.queue(default_concurrency_limit=1 if llm else 4, max_size=64)
    theme = gr.themes.Default(font=["system-ui", "Noto Sans CJK SC", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    print(f"assistant: open http://{host}:{port} (engine: {engines.default_label})", flush=True)
    app.launch(server_name=host, server_port=port, auth=credentials, share=False, show_error=False,
               theme=theme, css=CSS, js=JS, footer_links=[])
    return 0
