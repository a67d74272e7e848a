"""The assistant as a LangChain Runnable (issue 11, item 7): real index, extractive engine and a scripted LLM."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from assistant.pipeline import Assistant

QUESTION = "任保平说的数据+算力+算法是啥"


@pytest.fixture(scope="module")
def chain(seed_index) -> Runnable:  # type: ignore[no-untyped-def]
    settings = seed_index.settings.with_overrides(model="extractive", condense="rules")
    return Assistant(settings, index=seed_index).as_runnable()


def test_invoke_gives_the_answer_with_citations_decision_and_confidence(chain) -> None:
    out = chain.invoke(QUESTION)
    assert isinstance(chain, Runnable) and out["model"] == "extractive"
    assert out["decision"] == "answer" and 0 < out["confidence"] <= 1 and out["reason"]
    assert out["citations"] and {c["speaker"] for c in out["citations"]} == {"任保平"}
    assert "数据+算力+算法" in out["answer"]
    assert all(s["verdict"] == "supported" for s in out["sentences"])


def test_a_question_the_document_does_not_answer_is_not_answered_plainly(chain) -> None:
    out = chain.invoke({"question": "2025年诺贝尔经济学奖颁给了谁？"})
    assert out["decision"] in ("refuse", "hedge") and out["passages"]  # the closest passages still come back


def test_follow_ups_take_history_as_pairs_or_chat_messages(chain) -> None:
    first = chain.invoke("吕薇认为发展新质生产力的本质是什么？")
    for history in ([("吕薇认为发展新质生产力的本质是什么？", first["answer"])],
                    [SystemMessage("你是助手"), HumanMessage("吕薇认为发展新质生产力的本质是什么？"),
                     AIMessage(first["answer"])],
                    [("human", "吕薇认为发展新质生产力的本质是什么？"), ("ai", first["answer"])],
                    [{"role": "user", "content": "吕薇认为发展新质生产力的本质是什么？"},
                     {"role": "assistant", "content": first["answer"]}]):
        out = chain.invoke({"question": "那王蕴呢？", "chat_history": history})
        assert "王蕴" in out["interpreted"] and "本质" in out["interpreted"]
        assert {c["speaker"] for c in out["citations"]} == {"王蕴"}
    alone = chain.invoke({"question": "那王蕴呢？"})  # control: without history there is nothing to resolve
    assert "本质" not in alone["interpreted"]


def test_speakers_filter_and_composition(chain) -> None:
    speakers = chain | RunnableLambda(lambda out: sorted({c["speaker"] for c in out["citations"]}))
    assert speakers.invoke({"question": "怎么发展新质生产力？", "speakers": ["金碚"]}) == ["金碚"]
    assert len(chain.batch([QUESTION, "吕薇是哪个单位的？"])) == 2


def test_a_question_streamed_in_by_an_upstream_step_is_asked_once_whole(chain) -> None:
    def typed(_: Iterator[str]) -> Iterator[str]:  # an upstream step that streams the question in pieces
        yield from ("任保平说的", "数据+算力+算法", "是啥")

    chunks = list((RunnableGenerator(typed) | chain).stream(None))
    finals = [c for c in chunks if "answer" in c]
    assert len(finals) == 1 and finals[0]["question"] == QUESTION


def test_bad_input_says_what_is_accepted(chain) -> None:
    for bad, words in ((42, "question \\(str\\)"), ({"text": "x"}, "needs a 'question'"),
                       ({"question": "x", "history": "y"}, "history"),
                       ({"question": "x", "chat_history": [{"role": "robot", "content": "x"}]}, "role"),
                       ({"question": "x", "speakers": 5}, "speakers")):
        with pytest.raises(ValueError, match=words):
            chain.invoke(bad)


class SlowModel:
    """A scripted LLM that notes how its generation ended."""

    is_llm = True
    name = "slow-llm"

    def __init__(self) -> None:
        self.ended = threading.Event()
        self.cancelled = False

    def stream(self, request) -> Iterator[str]:  # type: ignore[no-untyped-def]
        try:
            yield "吕薇认为，发展新质生产力的本质"
            for _ in range(100):
                if request.cancel.wait(0.05):
                    return
                yield "就是转变发展方式。"
        finally:
            self.cancelled = request.cancel.is_set()
            self.ended.set()


def test_stream_yields_deltas_then_the_answer_and_closing_it_cancels_the_model(seed_index) -> None:
    model = SlowModel()
    chain = Assistant(seed_index.settings.with_overrides(condense="rules", max_new_tokens=64), generator=model,
                      index=seed_index).as_runnable()
    stream = chain.stream("吕薇认为发展新质生产力的本质是什么？")
    first = next(stream)
    assert set(first) == {"delta"} and first["delta"]
    assert not model.ended.is_set()
    stream.close()  # the consumer went away: the model's generation ends now, cancelled
    assert model.ended.wait(2) and model.cancelled
    chunks = list(Assistant(seed_index.settings.with_overrides(model="extractive"), index=seed_index)
                  .as_runnable().stream(QUESTION))
    assert all(set(c) == {"delta"} for c in chunks[:-1]) and chunks[-1]["model"] == "extractive"
    assert "".join(c["delta"] for c in chunks[:-1]).strip()
