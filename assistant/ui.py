"""The browser chat: Gradio Blocks wired to ``ui_turns`` (one turn: ``respond``, ``reset``), rendered by
``ui_render``, styled and scripted by ``ui_assets``; and ``serve``, with an optional login that can come from
a file or an environment variable and that slows down password guessing.

The page: the chat (Markdown only: every [n] opens that answer's source card), the expert filter beside the
question box, stop / 新对话 / 导出对话, suggested questions, the engine choice and the source panel (every
answer's cards, newest open), and an experts view (affiliation, talk title, three key claims from the index).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .settings import ConfigError, Settings
from .ui_assets import CSS, JS
from .ui_render import EMPTY_PANEL, TITLE, Turn, experts_html, status_html
from .ui_turns import ALL_SPEAKERS, EXAMPLES, EXTRACTIVE_LABEL, Engines, Frame, reset, respond

__all__ = ["ALL_SPEAKERS", "EXTRACTIVE_LABEL", "Engines", "LoginGuard", "build_app", "credentials", "page_options",
           "serve"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------- the page


def build_app(settings: Settings, engines: Engines | None = None) -> Any:
    import gradio as gr

    engines = engines or Engines(settings)
    experts = engines.get(None).retriever.directory.experts
    profiles = engines.guide.profiles()
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {TITLE}\n关于《技术经济》2024 年新质生产力专家座谈会的问答：每个回答注明是哪位专家说的，"
                    "逐句核对原文；文档没有涉及的问题会直接说明，并列出最接近的段落。", elem_id="intro")
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("对话", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        chat = gr.Chatbot(label="对话", height="52vh", min_height=340, elem_id="chat",
                                          latex_delimiters=[], buttons=["copy", "copy_all"], feedback_options=None,
                                          placeholder="提问后，回答会出现在这里；[1]、[2] 是原文出处，点击可查看。")
                        status = gr.HTML(status_html(""), elem_id="status")
                        with gr.Row(equal_height=True):
                            box = gr.Textbox(label="你的问题", placeholder="例如：吕薇认为发展新质生产力的本质是什么？",
                                             elem_id="question", lines=1, max_lines=6, scale=4, min_width=240)
                            speaker = gr.Dropdown([ALL_SPEAKERS, *experts], value=ALL_SPEAKERS, label="只看某位专家",
                                                  elem_id="speaker", scale=1, min_width=150)
                        with gr.Row():
                            send = gr.Button("提问", variant="primary", elem_id="send")
                            stop = gr.Button("停止", variant="stop", elem_id="stop", visible=False)
                            new = gr.Button("新对话", elem_id="new-chat")
                            export = gr.DownloadButton("导出对话", elem_id="export", interactive=False)
                        gr.Markdown("**推荐问题**（点击即问）", elem_id="suggest-label")
                        with gr.Row(elem_id="suggest"):
                            suggest = [gr.Button(q, size="sm", elem_classes=["suggestion"]) for q in EXAMPLES]
                    with gr.Column(scale=2, min_width=300):
                        model = gr.Dropdown(engines.choices(), value=engines.default_label, label="回答引擎",
                                            elem_id="model")
                        gr.Markdown("## 原文出处")
                        sources = gr.HTML(EMPTY_PANEL, elem_id="sources")
            with gr.Tab("专家一览", id="experts-tab"):
                gr.HTML(experts_html(profiles), elem_id="experts")

        outputs = [chat, sources, turns, box, status, *suggest, export, stop, speaker]

        def show(f: Frame) -> list[Any]:
            keep = gr.update()
            out = [f.chat, f.sources, f.turns, keep if f.box is None else f.box, f.status]
            if f.suggestions is None:
                out += [keep] * len(suggest)
            else:  # hidden while an answer streams, then the new ones
                out += [gr.update(value=f.suggestions[i], visible=True) if i < len(f.suggestions) else
                        gr.update(visible=False) for i in range(len(suggest))]
            out.append(gr.update(value=f.export, interactive=True) if f.export else
                       (gr.update(value=None, interactive=False) if f.filter is not None else keep))
            out.append(gr.update(visible=f.streaming))
            out.append(keep if f.filter is None else f.filter)
            return out

        def ask(message: str, model_v: str, speaker_v: str, turns_v: list[Turn], request: Any) -> Iterator[list[Any]]:
            for f in respond(engines, message, model_v, speaker_v, turns_v, _session(request)):
                yield show(f)

        def clear(request: Any) -> list[Any]:
            return show(reset(engines, _session(request)))

        def halt(request: Any) -> None:  # the stop button, and a closed tab
            engines.cancel(_session(request))

        def on_filter(speaker_v: str) -> tuple[str, Any]:
            on = speaker_v and speaker_v != ALL_SPEAKERS
            label = f"你的问题 · 只看 {speaker_v}" if on else "你的问题"
            return status_html(speaker_v if on else ""), gr.update(label=label)

        # Gradio passes the session's gr.Request to a parameter annotated with it; the annotations here are
        # strings (gradio is imported lazily), so the class is set on them directly
        for fn in (ask, clear, halt):
            fn.__annotations__["request"] = gr.Request
        inputs = [box, model, speaker, turns]
        asks: list[Any] = [box.submit(ask, inputs, outputs, api_name="ask"),
                send.click(ask, inputs, outputs, api_visibility="private")]
        asks += [b.click(ask, [b, model, speaker, turns], outputs, api_visibility="private") for b in suggest]
        stop.click(halt, None, None, queue=False, api_visibility="private")
        new.click(clear, None, outputs, cancels=asks, api_name="new_chat")
        chat.clear(clear, None, outputs, cancels=asks, api_visibility="private")
        speaker.change(on_filter, speaker, [status, box], api_visibility="private")
        app.unload(halt)
    return app


def _session(request: Any) -> str:
    return str(getattr(request, "session_hash", "") or "")


# ------------------------------------------------------------------------- serving


def credentials(auth: str | None) -> tuple[str, str] | None:
    """(user, password) from ``--auth``, else ``ASSISTANT_AUTH``: ``USER:PASSWORD``, or ``@FILE`` holding it
    (so the password need not appear in the process list)."""
    spec = auth or os.environ.get("ASSISTANT_AUTH", "")
    if not spec:
        return None
    if spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").strip().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--auth {spec}: cannot read {path} ({getattr(e, 'strerror', None) or e})") from None
        spec = lines[0].strip() if lines else ""
    user, sep, password = spec.partition(":")
    if not sep or not user.strip() or not password:
        raise ConfigError("--auth takes USER:PASSWORD, or @FILE with USER:PASSWORD on its first line "
                          "(or set ASSISTANT_AUTH)")
    return user.strip(), password


class LoginGuard:
    """Gradio's login check with a brake: each failure waits ``delay`` seconds; ``limit`` failures within
    ``window`` seconds lock logins for ``lockout`` seconds (the right password too), so a password cannot be
    guessed at speed."""

    def __init__(self, user: str, password: str, limit: int = 5, window: float = 300.0, lockout: float = 60.0,
                 delay: float = 1.0) -> None:
        self.user, self.password = user, password
        self.limit, self.window, self.lockout, self.delay = limit, window, lockout, delay
        self.failures: list[float] = []
        self.locked_until = 0.0

    async def check(self, user: str, password: str) -> bool:
        """Gradio awaits this (it must be a coroutine function: Gradio calls any other callable without
        awaiting, and a coroutine object is truthy)."""
        now = time.monotonic()
        if now < self.locked_until:
            await asyncio.sleep(self.delay)
            return False
        ok = hmac.compare_digest(user.encode(), self.user.encode()) & \
            hmac.compare_digest(password.encode(), self.password.encode())
        if ok:
            return True
        self.failures = [t for t in self.failures if now - t < self.window] + [now]
        if len(self.failures) >= self.limit:
            self.locked_until = now + self.lockout
            self.failures.clear()
            log.warning("%d failed logins: logins locked for %.0f s", self.limit, self.lockout)
        await asyncio.sleep(self.delay)
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    account = credentials(auth)
    engines = Engines(settings)
    print("preparing the index (the first run builds it from seeds/) …", flush=True)
    engines.warm()  # opens (or builds) the index and loads what the first answer needs
    app = build_app(settings, engines)
    # LLM answers take turns inside respond (Engines.slot), so extractive ones never queue behind a slow model
    app.queue(default_concurrency_limit=16, max_size=128)
    print(f"assistant: open http://{host}:{port} (engine: {engines.default_label})", flush=True)
    app.launch(server_name=host, server_port=port, auth=LoginGuard(*account).check if account else None,
               auth_message="连续输错 5 次密码后，需要等 1 分钟再试。" if account else None, share=False,
               show_error=False, **page_options())
    return 0


def page_options() -> dict[str, Any]:
    """``launch`` options for the page's look and behaviour (the tests launch with them too)."""
    return {"theme": theme(), "css": CSS, "js": JS, "footer_links": []}


def theme() -> Any:
    """Gradio's default theme with colours that keep 4.5:1 contrast (the stock primary button has 2.8:1)."""
    import gradio as gr

    return gr.themes.Default(primary_hue="blue", font=["system-ui", "Noto Sans CJK SC", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"]).set(
        button_primary_background_fill="#1d4ed8", button_primary_background_fill_hover="#1e40af",
        button_primary_text_color="#ffffff", button_primary_border_color="#1d4ed8",
        button_cancel_background_fill="#b91c1c", button_cancel_text_color="#ffffff",
        body_text_color_subdued="#4b535d", block_label_text_color="#374151", input_placeholder_color="#5f6670",
        color_accent="#1d4ed8", link_text_color="#1e40af", link_text_color_visited="#1e40af")
