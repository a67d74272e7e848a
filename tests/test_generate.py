"""Generator backends: a tiny transformers model the test builds, and an OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.bench import build_tiny_model
from assistant.generate import ModelError, OpenAIGenerator, Request, TransformersGenerator, make_generator
from assistant.pipeline import Assistant
from assistant.settings import Settings
from tests.helpers import write_gguf


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer Qwen2 with random weights and a BPE tokenizer trained on the seed."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen"), vocab_size=800, hidden_size=32, stop_at_eos=True)


def _request(question: str = "吕薇认为发展新质生产力的本质是什么？") -> Request:
    return Request(question, [{"role": "system", "content": "只用资料回答。"},
                              {"role": "user", "content": question}], ())


def test_transformers_streams_tokens_with_the_chat_template(tiny_model) -> None:
    gen = TransformersGenerator(str(tiny_model), Settings(max_new_tokens=12))
    ids = gen.prompt_ids(_request().messages)["input_ids"][0].tolist()
    assert gen.tokenizer.convert_tokens_to_ids("<|im_start|>") in ids  # the model's own template was used
    pieces = list(gen.stream(_request()))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert gen.name.startswith("transformers:")
    again = TransformersGenerator(str(tiny_model), Settings())
    assert again.model is gen.model  # loaded once per process


def test_model_that_ignores_citations_falls_back_to_extractive(tiny_model, seed_index) -> None:
    settings = seed_index.settings.with_overrides(model=str(tiny_model), max_new_tokens=8)
    a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    assert not a.abstained and a.citations and "extractive (fallback" in a.model
    assert all(s.verdict == "supported" for s in a.sentences)
    assert "no citations" in a.notice
    from assistant.grounding import MARKER_RE

    assert a.model_text and not MARKER_RE.search(a.model_text)  # what the model said, kept for inspection
    assert a.to_json()["model_text"] == a.model_text


def test_gguf_file_written_by_gguf_loads_and_answers_like_the_folder(tiny_model, tmp_path, seed_index) -> None:
    import torch

    path = write_gguf(tiny_model, tmp_path / "tiny-qwen2-f32.gguf")
    gen = TransformersGenerator(str(path), Settings(max_new_tokens=12))
    folder = TransformersGenerator(str(tiny_model), Settings(max_new_tokens=12))
    assert gen.name == "transformers:tiny-qwen2-f32.gguf"
    # the same tokenizer, chat template and weights come back out of the file
    ids = gen.prompt_ids(_request().messages)["input_ids"]
    assert ids.tolist() == folder.prompt_ids(_request().messages)["input_ids"].tolist()
    with torch.no_grad():
        assert torch.allclose(gen.model(ids).logits, folder.model(ids).logits, atol=1e-4)
    assert "".join(gen.stream(_request())) == "".join(folder.stream(_request()))
    # and the whole pipeline runs on it (the random model cites nothing: extractive fallback)
    settings = seed_index.settings.with_overrides(model=str(path), max_new_tokens=8)
    a = Assistant(settings, generator=gen, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    assert a.citations and "tiny-qwen2-f32.gguf" in a.model


def test_gguf_of_an_unsupported_architecture_says_so(tiny_model, tmp_path) -> None:
    path = write_gguf(tiny_model, tmp_path / "odd.gguf", arch="rwkv6")
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="odd.gguf.*not supported"):
        TransformersGenerator(str(path), Settings())
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("spec, message", [
    ("/no/such/model", "does not exist"),
    ("/no/such/model.gguf", "does not exist"),
    ("Qwen/Not-In-Cache-0.5B", "not in the local Hugging Face cache"),
])
def test_missing_models_fail_at_once_with_the_cause(spec, message) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match=message):
        TransformersGenerator(spec, Settings())
    assert time.perf_counter() - t0 < 10


def test_folder_that_is_not_a_model(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a model folder"):
        TransformersGenerator(str(tmp_path), Settings())


def test_unknown_backend_lists_choices() -> None:
    with pytest.raises(ModelError, match="choose from"):
        make_generator(Settings(), "nonsense")


# ----------------------------------------------------------------------------- OpenAI-compatible


class _ChatServer(BaseHTTPRequestHandler):
    reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[1]"
    condensed = "王蕴如何看待传统产业？"  # the answer to a condense request (prompts/condense.j2)
    delay = 0.0
    seen: list[str] = []

    def log_message(self, *args) -> None:  # noqa: D102
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["stream"] is True
        last = body["messages"][-1]["content"]
        _ChatServer.seen.append(last)
        condense = "Standalone question:" in last
        assert condense or body["messages"][0]["role"] == "system"
        reply = self.condensed if condense else self.reply
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(0, len(reply), 4):
            chunk = {"choices": [{"delta": {"content": reply[i:i + 4]}}]}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def chat_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_compatible_streaming_and_citations(chat_server, seed_index) -> None:
    settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
    assistant = Assistant(settings, index=seed_index)
    response = assistant.stream("吕薇认为发展新质生产力的本质是什么？")
    parts = list(response)
    assert len(parts) > 3  # streamed in pieces
    answer = response.answer()
    assert answer.model == "openai:tiny" and answer.citations[0].passage.speaker == "吕薇"
    assert answer.sentences[0].verdict == "supported"


@pytest.mark.parametrize(("reply", "kept"), [
    ("吕薇认为，发展新质生产力的本质就是转变发展方式，实现创新驱动发展。", True),  # faithful, uncited
    ("新质生产力的本质是量子计算和光刻机。", False),  # not in the passages
])
def test_uncited_model_answer_is_attributed_or_replaced(chat_server, seed_index, reply, kept) -> None:
    _ChatServer.reply = reply
    try:
        settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
        a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[1]"
    assert a.citations and all(s.verdict == "supported" for s in a.sentences)
    if kept:  # the model's own words, each sentence cited to the passage the check found
        assert a.model == "openai:tiny" and a.text.startswith(reply) and "matched" in a.notice
        assert {c.passage.speaker for c in a.citations} == {"吕薇"}
    else:
        assert a.model.startswith("extractive (fallback") and a.model_text == reply


def test_sentences_a_model_left_uncited_are_cited_by_the_check(chat_server, seed_index) -> None:
    _ChatServer.reply = ("吕薇认为，发展新质生产力的本质就是转变发展方式。[1]"
                         "要从依靠增加投入为主转向依靠技术进步和创新，实现创新驱动发展。")
    try:
        settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
        a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[1]"
    assert a.model == "openai:tiny" and "1 sentence(s)" in a.notice
    assert [s.verdict for s in a.sentences] == ["supported", "supported"] and all(s.markers for s in a.sentences)


def test_a_trailing_sources_line_is_dropped(chat_server, seed_index) -> None:
    _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[1]\n资料编号：[1][2]"
    try:
        settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
        a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[1]"
    assert "资料编号" not in a.text and [s.verdict for s in a.sentences] == ["supported"]


def test_llm_rewrites_a_follow_up_before_retrieval(chat_server, seed_index) -> None:
    settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
    assistant = Assistant(settings, index=seed_index)
    first = Assistant(settings.with_overrides(model="extractive"), index=seed_index).ask("张辉如何看待传统产业？")
    _ChatServer.seen.clear()
    _ChatServer.reply = "王蕴认为，传统产业是发展新质生产力的基础。"
    try:
        a = assistant.ask("那她怎么看？", [("张辉如何看待传统产业？", first)])
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[1]"
    condense, answer = _ChatServer.seen
    assert "张辉如何看待传统产业？" in condense and "那她怎么看？" in condense and "[1]" not in condense
    # retrieval and the answer prompt use the rewritten question: 王蕴's passages, not 张辉's
    assert "Question: 王蕴如何看待传统产业？" in answer
    assert {p.speaker for p in a.passages} == {"王蕴"} and a.timings.condense_ms > 0


def test_unusable_rewrite_falls_back_to_the_rules(chat_server, seed_index) -> None:
    settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
    first = Assistant(settings.with_overrides(model="extractive"), index=seed_index).ask("张辉如何看待传统产业？")
    _ChatServer.condensed = ""
    try:
        a = Assistant(settings, index=seed_index).ask("那王蕴怎么看？", [("张辉如何看待传统产业？", first)])
    finally:
        _ChatServer.condensed = "王蕴如何看待传统产业？"
    assert {p.speaker for p in a.passages} == {"王蕴"}  # routed by the rules instead


def test_openai_server_down_gives_the_extractive_answer(seed_index) -> None:
    settings = seed_index.settings.with_overrides(model="openai:tiny", base_url="http://127.0.0.1:9/v1")
    a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    assert "cannot reach" in a.notice and a.citations and a.model == "extractive (fallback)"


def test_openai_server_that_stalls_is_bounded(chat_server) -> None:
    _ChatServer.delay = 3.0
    try:
        gen = OpenAIGenerator("tiny", Settings(base_url=chat_server, request_timeout=1.0))
        t0 = time.perf_counter()
        with pytest.raises(ModelError, match="did not answer"):
            list(gen.stream(_request()))
        assert time.perf_counter() - t0 < 3.0
    finally:
        _ChatServer.delay = 0.0


def test_openai_needs_a_base_url() -> None:
    with pytest.raises(ModelError, match="base-url"):
        OpenAIGenerator("tiny", Settings(base_url=""))


@pytest.mark.slow
def test_real_model_when_present(seed_index) -> None:
    """Qwen2.5-Coder-1.5B-Instruct from ../shared/tools/real-model.sh (slow: ~100 s load, ~1 token/s)."""
    path = Path.home() / ".cache" / "real-model" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if not path.is_file():
        pytest.skip("no real model; assemble it with ../shared/tools/real-model.sh")
    settings = seed_index.settings.with_overrides(model=str(path), max_new_tokens=96)
    a = Assistant(settings, index=seed_index).ask("数字经济时代新质生产力的核心价值可以归结为一个什么公式？")
    # greedy decoding: the model's own cited answer, kept (not the extractive fallback), about 任保平's formula
    assert a.model.startswith("transformers:") and not a.abstained, (a.model, a.notice, a.model_text)
    assert {c.passage.speaker for c in a.citations} == {"任保平"} and "算法" in a.text
    assert a.sentences and all(s.verdict == "supported" for s in a.sentences), a.sentences
