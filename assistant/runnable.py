"""The whole assistant as a LangChain ``Runnable`` (``Assistant.as_runnable()``).

Input: a question (``str``), or a dict with ``question`` (or ``input``/``query``), optional ``history``
(or ``chat_history``: ``(question, answer)`` pairs, ``{"role", "content"}`` dicts or LangChain
messages, oldest first) and optional ``speakers`` (experts to search only).

Output: ``Answer.to_json()`` as an ``AddableDict``: ``answer``, ``citations`` (speaker, affiliation,
title, paragraph, text), ``sentences`` (the grounding check's verdicts), ``decision``
(``answer|hedge|refuse``), ``confidence``, ``reason``, ``model``, ``passages``, ``timings``.

``stream`` yields ``{"delta": text}`` pieces as the backend writes them, then the final output; closing
the stream early cancels generation. The pieces are the model's raw text: the final ``answer`` is what
post-processing and the grounding check made of it (re-cited, trimmed, or the extractive answer in its
place), so read ``answer`` from the last chunk. ``invoke``, ``batch`` and ``|`` composition come from
``Runnable``, with callbacks and tracing through ``_call_with_config``. The async methods are
``Runnable``'s defaults: ``ainvoke``/``astream`` run ``invoke`` on a worker thread and give the whole
answer at once, and cancelling them does not stop a generation already running.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import AddableDict

if TYPE_CHECKING:
    from .pipeline import Assistant, Response

_QUESTION_KEYS = ("question", "input", "query")
_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}


class AssistantRunnable(Runnable[Any, dict[str, Any]]):
    """A ``Runnable`` over one ``Assistant`` (its index opened and model loaded once)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    @property
    def InputType(self) -> Any:  # noqa: N802 (LangChain's name)
        return str | dict

    @property
    def OutputType(self) -> Any:  # noqa: N802
        return dict

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._answer, input, config, run_type="chain")

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        # (``transform``, used when a chain streams into this step, is Runnable's: it joins the incoming
        # chunks into one input and calls this once, so a streamed question is asked once, whole)
        open_responses: list[Response] = []
        try:
            yield from self._transform_stream_with_config(
                iter([input]), lambda inputs: self._stream(inputs, open_responses), config, run_type="chain")
        finally:  # the consumer stopped early (closed the stream, or an error): stop generating
            for response in open_responses:
                response.close()

    # ------------------------------------------------------------------ work
    def _answer(self, value: Any) -> dict[str, Any]:
        question, history, speakers = parse_input(value)
        return AddableDict(self.assistant.ask(question, history, speakers).to_json())

    def _stream(self, inputs: Iterator[Any], open_responses: list[Response]) -> Iterator[dict[str, Any]]:
        for value in inputs:
            question, history, speakers = parse_input(value)
            response = self.assistant.stream(question, history, speakers)
            open_responses.append(response)
            for piece in response:
                yield AddableDict(delta=piece)
            answer = response.answer()
            open_responses.remove(response)
            yield AddableDict(answer.to_json())


def parse_input(value: Any) -> tuple[str, list[tuple[str, str]], tuple[str, ...]]:
    """(question, history pairs, speakers) from what a chain passes in; ValueError says what is accepted."""
    if isinstance(value, str):
        return value, [], ()
    if not isinstance(value, dict):
        raise ValueError(f"the assistant takes a question (str) or a dict with 'question', got {type(value).__name__}")
    key = next((k for k in _QUESTION_KEYS if k in value), None)
    if key is None or not isinstance(value[key], str):
        raise ValueError(f"the input dict needs a 'question' string (or 'input'/'query'); got keys {sorted(value)}")
    history = _pairs(value.get("history") or value.get("chat_history") or [])
    speakers = value.get("speakers") or ()
    if isinstance(speakers, str):
        speakers = (speakers,)
    if not isinstance(speakers, list | tuple) or not all(isinstance(s, str) for s in speakers):
        raise ValueError("'speakers' must be a list of expert names")
    return value[key], history, tuple(speakers)


def _pairs(history: Sequence[Any]) -> list[tuple[str, str]]:
    """``(question, answer)`` pairs from pairs, role dicts or LangChain messages."""
    if not isinstance(history, list | tuple):
        raise ValueError("'history' must be a list of (question, answer) pairs or chat messages")
    if not history:
        return []
    pairs_given = all(isinstance(h, list | tuple) and len(h) == 2 for h in history)
    if pairs_given and not all(str(h[0]) in _ROLES or str(h[0]) == "system" for h in history):
        return [(str(q), str(a)) for q, a in history]
    turns: list[tuple[str, str]] = []
    for h in history:
        if isinstance(h, list | tuple):  # ("human", "…"), LangChain's message tuple
            role, content = h
        elif isinstance(h, dict):
            role, content = h.get("role"), h.get("content")
        else:
            role, content = getattr(h, "type", None), getattr(h, "content", None)
        if str(role) == "system":
            continue
        if _ROLES.get(str(role)) is None or not isinstance(content, str):
            raise ValueError("each chat message needs a role (user/assistant, human/ai) and text content; "
                             f"got {h!r:.80}")
        turns.append((_ROLES[str(role)], content))
    pairs: list[tuple[str, str]] = []
    for (role, text), nxt in zip(turns, [*turns[1:], None], strict=True):
        if role == "user":
            pairs.append((text, nxt[1] if nxt and nxt[0] == "assistant" else ""))
    return pairs
