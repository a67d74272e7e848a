"""One turn of the browser chat, without a browser: ``respond`` streams ``Frame`` values, ``reset`` clears.

A turn: the question is capped at ``settings.max_question_chars`` (with a notice; the session keeps only the
capped text) and searched under the expert filter, unless it names other experts or asks across them (then
as asked, with a note). The answer streams in, sentence by sentence for the extractive engine; an LLM answers
one question at a time (``Engines.slot``) so extractive answers never wait behind it, and the session's
running answer can be cancelled (stop button, new conversation, closed tab). Then the chat, the source panel,
the suggested questions and the export file are re-rendered from the session's turns. A failing index (a
Chroma outage) is a message in the chat, never a bare "Error".
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .pipeline import Assistant, Response
from .retrieve import QuestionError
from .settings import Settings
from .store import IndexError_
from .text import clean_question, has_content
from .ui_render import (
    EMPTY_PANEL,
    Turn,
    chat_messages,
    export_markdown,
    partial_markdown,
    sources_html,
    status_html,
    user_markdown,
)
from .ui_suggest import Guide

log = logging.getLogger(__name__)

EXTRACTIVE_LABEL = "extractive（无需模型，直接摘录原文）"
ALL_SPEAKERS = "全部专家"
EXAMPLES = [
    "吕薇认为发展新质生产力的本质是什么？",
    "哪些专家谈到了人工智能？",
    "What does Ren Baoping say about computing power?",
]
PACE = 0.06  # seconds between the sentences of an answer that arrives at once (extractive), so it reads as it streams
EXPORT_NAME = "新质生产力问答-对话记录.md"


@dataclass
class Frame:
    """What one step of a turn shows. ``None`` leaves a component as it is."""

    chat: list[dict[str, str]]
    sources: str
    turns: list[Turn]
    box: str | None = ""
    status: str = ""
    suggestions: list[str] | None = None
    export: str | None = None  # path of the conversation's Markdown file
    streaming: bool = False  # an LLM is streaming: the stop button shows
    filter: str | None = None  # a new value for the expert filter (reset)


class Engines:
    """One Assistant per engine choice, shared by all sessions; the sessions' running answers."""

    def __init__(self, settings: Settings, pace: float = PACE, assistant: Assistant | None = None) -> None:
        self.settings = settings
        self.pace = pace
        self._engines: dict[str, Assistant] = {}
        self._lock = threading.Lock()
        self._running: dict[str, Response] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self._guide: Guide | None = None
        self._exports = Path(tempfile.mkdtemp(prefix="xinzhi-export-"))
        weakref.finalize(self, shutil.rmtree, self._exports, ignore_errors=True)
        base = assistant or Assistant(settings)
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

    def warm(self) -> None:
        """Answer one question before the first student does: the grounding check and the suggestions load
        their dictionaries on first use (seconds, and longer when several sessions start at once)."""
        answer = self.get(EXTRACTIVE_LABEL).ask(EXAMPLES[0])
        self.guide.follow_ups(answer, EXAMPLES[0])
        self.guide.profiles()

    @property
    def guide(self) -> Guide:
        with self._lock:
            if self._guide is None:
                self._guide = Guide(self._engines[self.default_label].retriever)
            return self._guide

    def slot(self, assistant: Assistant) -> threading.Semaphore | None:
        """One answer at a time per LLM (a local model is not thread-safe; a server is slow): extractive
        answers never wait behind it."""
        if not assistant.generator.is_llm:
            return None
        with self._lock:
            return self._slots.setdefault(assistant.model_name, threading.Semaphore(1))

    # ---------------------------------------------------------------- running answers, per session
    def start(self, session: str, response: Response) -> None:
        with self._lock:
            old = self._running.get(session)
            self._running[session] = response
        if old is not None:
            old.cancel()

    def finish(self, session: str, response: Response) -> None:
        with self._lock:
            if self._running.get(session) is response:
                del self._running[session]

    def cancel(self, session: str) -> bool:
        with self._lock:
            response = self._running.pop(session, None)
        if response is not None:
            response.cancel()
        return response is not None

    def export(self, session: str, turns: Sequence[Turn]) -> str:
        folder = self._exports / re.sub(r"\W", "_", session or "local")[:64]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / EXPORT_NAME
        path.write_text(export_markdown(turns, time.strftime("%Y-%m-%d %H:%M")), encoding="utf-8")
        return str(path)


# ------------------------------------------------------------------------- one turn


def _cap(message: str, limit: int) -> tuple[str, str]:
    """(the question cleaned and cut to ``limit`` characters, a notice when it was cut)."""
    raw = message if isinstance(message, str) else ""
    q = clean_question(raw[: limit * 4])
    if len(q) > limit or len(raw) > limit * 4:
        return q[:limit], f"问题有 {len(raw)} 个字符，只检索了前 {limit} 个字符。"
    return q, ""


def _speakers(engines: Engines, question: str, filter: str) -> tuple[tuple[str, ...], str]:
    """(experts to search, a note) under the expert filter: a question naming other experts, or asking
    across experts, is searched as asked."""
    if not filter:
        return (), ""
    retriever = engines.get(None).retriever
    mention = retriever.directory.find(retriever.read(question))  # 張輝 names 张辉
    if mention.speakers and filter not in mention.speakers:
        who = "、".join(mention.speakers)
        return (), f"问题点名了 {who}：这次检索 {who} 的发言，没有按“只看 {filter}”筛选。"
    if mention.across and not mention.speakers:
        return (), f"问题问的是多位专家：这次检索全部专家的发言，没有按“只看 {filter}”筛选。"
    return (filter,), ""


class _Busy(Exception):
    """The LLM did not become free (or the wait was stopped)."""


def _error_text(e: Exception, question: str) -> str:
    """What the chat says instead of an answer (the log keeps the traceback of anything unexpected)."""
    if isinstance(e, _Busy):
        return str(e)
    if isinstance(e, QuestionError):
        return f"这个问题没法检索：{e}"
    if isinstance(e, IndexError_):  # the index cannot be read, or the Chroma server is down or stalled
        return f"检索原文时出错，这次没有回答：{e}"
    log.exception("answering %r failed", question[:80])
    return f"回答时出错（{type(e).__name__}：{e}）。请再试一次；一直出错时请查看服务器日志。"


def _pieces(piece: str, llm: bool) -> list[str]:
    """An extractive piece split after each cited sentence, so the student sees it arrive."""
    if llm:
        return [piece]
    return [p for p in re.split(r"(?<=\])(?!\s*\[)|(?<=\n)", piece) if p]


def respond(engines: Engines, message: str, model: str | None, speaker: str | None, turns: Sequence[Turn] | None,
            session: str = "") -> Iterator[Frame]:
    """Stream one turn as ``Frame`` values."""
    turns = list(turns or [])
    filter = "" if not speaker or speaker == ALL_SPEAKERS else speaker
    settings = engines.settings
    q, cut = _cap(message, settings.max_question_chars)
    if not q:
        yield Frame(chat_messages(turns), sources_html(turns), turns, None,
                    status_html(filter, "请先输入问题，例如：吕薇认为发展新质生产力的本质是什么？"))
        return
    if not has_content(q):
        yield Frame(chat_messages(turns), sources_html(turns), turns, None,
                    status_html(filter, "这个问题里没有可检索的文字（只有符号或表情）：请用中文或英文提问。"))
        return
    assistant = engines.get(model)
    speakers, note = _speakers(engines, q, filter)
    notes = tuple(n for n in (cut, note) if n)
    number = len(turns) + 1
    history = [(t.question, t.answer) for t in turns if t.answer is not None]
    shown = chat_messages(turns) + [{"role": "user", "content": user_markdown(q)}]
    try:
        llm = assistant.generator.is_llm  # loads the model on first use
    except Exception as e:
        turns.append(Turn(number, q, None, "", notes, _error_text(e, q)))
        yield Frame(chat_messages(turns), sources_html(turns), turns, "", status_html(filter), [], None, False)
        return
    status = status_html(filter, cut)

    def frame(text: str, streaming: bool = True) -> Frame:
        return Frame(shown + [{"role": "assistant", "content": text}], sources_html(turns), turns, "", status,
                     [], None, streaming and llm)

    yield frame("正在检索原文……")
    response = assistant.stream(q, history, speakers)
    engines.start(session, response)
    slot = engines.slot(assistant)
    held = False
    turn = Turn(number, q, None, speakers[0] if speakers else "", notes)
    try:
        if slot is not None:
            waited = 0
            while not (held := slot.acquire(timeout=1.0)):
                waited += 1
                if response.cancelled or waited > settings.request_timeout:
                    raise _Busy("已停止：模型还没开始回答。" if response.cancelled else
                                "模型正忙，没有排到：请稍后再问，或换用 extractive 引擎。")
                yield frame(f"模型正在回答别人的问题，排队中……（已等 {waited} 秒）")
        text = ""
        for piece in response:
            for part in _pieces(piece, llm):
                text += part
                yield frame(partial_markdown(text))
                if not llm and engines.pace:
                    time.sleep(engines.pace)
        answer = response.answer()
        stopped = ("已停止：下面是停止前生成的内容。",) if response.cancelled and llm else ()
        turn = replace(turn, answer=answer, notes=notes + stopped)
    except Exception as e:
        turn = replace(turn, error=_error_text(e, q))
    finally:
        if held and slot is not None:
            slot.release()
        engines.finish(session, response)
        if turn.answer is None and not turn.error:  # closed mid-answer (GeneratorExit): stop the backend
            response.cancel()
    turns.append(turn)
    guide = engines.guide
    a = turn.answer
    suggestions = [] if a is None else (guide.rewordings(a, q) if a.decision != "answer" or not a.citations
                                        else guide.follow_ups(a, q))
    yield Frame(chat_messages(turns), sources_html(turns), turns, "", status_html(filter),
                suggestions, engines.export(session, turns), False)


def reset(engines: Engines, session: str = "") -> Frame:
    """新对话 / the chat's trash icon: stop the running answer; forget the chat, the sources, the filter and
    the follow-up memory."""
    engines.cancel(session)
    return Frame([], EMPTY_PANEL, [], "", status_html(""), list(EXAMPLES), None, False, ALL_SPEAKERS)
