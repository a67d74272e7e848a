"""Generator backends: the registry, a tiny transformers model the test builds, and OpenAI-compatible
servers on loopback (vLLM-style, llama-server-style, and broken ones)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant import generate
from assistant.bench import build_tiny_model
from assistant.generate import (
    Backend,
    ModelError,
    OpenAIGenerator,
    Request,
    TransformersGenerator,
    UnknownBackendError,
    make_generator,
    resolve,
    resolve_auto,
)
from assistant.pipeline import Assistant
from assistant.settings import Settings
from tests.helpers import ROOT, write_gguf, write_scripted_folder

SCRIPT = "吕薇认为，新质生产力的本质就是转变发展方式。[1]"


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
    assert "not backed by the passages" in a.notice and a.model_text  # the model's words are kept to inspect
    from assistant.grounding import MARKER_RE

    assert a.model_text and not MARKER_RE.search(a.text.split("[")[0])  # what the model said, kept to inspect
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
    with pytest.raises(UnknownBackendError, match="choose from.*extractive.*llamacpp:FILE.gguf.*openai:NAME"):
        make_generator(Settings(), "nonsense")
    with pytest.raises(ValueError):  # an UnknownBackendError is a ValueError too
        make_generator(Settings(), "nonsense")


def test_transformers_respects_the_generation_config_and_pad_id_zero(tiny_model) -> None:
    gen = TransformersGenerator(str(tiny_model), Settings(max_new_tokens=7))
    assert gen.tokenizer.pad_token_id == 0  # <|endoftext|>: `pad_token_id or eos` would have picked the eos
    original = gen.model.generation_config.repetition_penalty
    gen.model.generation_config.repetition_penalty = 1.3
    try:
        cfg = gen.generation_config()
    finally:
        gen.model.generation_config.repetition_penalty = original
    assert cfg.pad_token_id == 0 and cfg.repetition_penalty == 1.3 and cfg.max_new_tokens == 7
    assert not cfg.do_sample and cfg.temperature is None
    stops = {gen.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>", "<|im_start|>")}
    assert stops <= set(cfg.eos_token_id)


@pytest.fixture(scope="module")
def endless_folder(tiny_model, tmp_path_factory) -> Path:
    return write_scripted_folder(tiny_model, tmp_path_factory.mktemp("endless") / "m", SCRIPT, end=None)


@pytest.mark.parametrize("end", ["<|im_end|>", "<|im_start|>"])
def test_transformers_stops_at_the_chat_end_tokens(tiny_model, tmp_path, end) -> None:
    folder = write_scripted_folder(tiny_model, tmp_path / "m", SCRIPT, end=end)
    gen = TransformersGenerator(str(folder), Settings(max_new_tokens=60))
    assert "".join(gen.stream(_request())) == SCRIPT


def test_transformers_cancel_stops_generation_within_a_second(endless_folder) -> None:
    gen = TransformersGenerator(str(endless_folder), Settings(max_new_tokens=5000))
    request = _request()
    pieces = []
    t0 = time.perf_counter()
    for piece in gen.stream(request):
        pieces.append(piece)
        if len(pieces) == 3:
            request.cancel.set()
    assert len(pieces) == 3 and time.perf_counter() - t0 < 5
    # the StoppingCriteria ended model.generate itself: the next request runs at once
    other = _request()
    threading.Timer(0.3, other.cancel.set).start()
    t0 = time.perf_counter()
    text = "".join(gen.stream(other))
    assert time.perf_counter() - t0 < 1.3 and text and (SCRIPT + "!" * 5000).startswith(text)


# ----------------------------------------------------------------------------- the registry


def test_every_documented_model_form_resolves(tmp_path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = {
        "extractive": ("extractive", ""), "auto": ("auto", ""),
        "llamacpp:/m/x.gguf": ("llamacpp", "/m/x.gguf"), "/m/x.gguf": ("llamacpp", "/m/x.gguf"),
        "~/m/X.GGUF": ("llamacpp", "~/m/X.GGUF"), "transformers:/m/x.gguf": ("transformers", "/m/x.gguf"),
        str(folder): ("transformers", str(folder)), "./some/folder": ("transformers", "./some/folder"),
        "Qwen/Qwen2.5-1.5B-Instruct": ("transformers", "Qwen/Qwen2.5-1.5B-Instruct"),
        "transformers:Qwen/Qwen2.5-1.5B-Instruct": ("transformers", "Qwen/Qwen2.5-1.5B-Instruct"),
        "openai:qwen2.5": ("openai", "qwen2.5"), " openai:qwen2.5 ": ("openai", "qwen2.5"),
    }
    for spec, (name, arg) in cases.items():
        backend, got = resolve(spec)
        assert (backend.name, got) == (name, arg), spec


@pytest.fixture
def no_local_models(tmp_path, monkeypatch) -> Path:
    """auto sees no models folder and an empty Hugging Face cache."""
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "models").mkdir()
    return tmp_path


def test_auto_without_models_is_extractive(no_local_models) -> None:
    assert resolve_auto(Settings()) == "extractive"
    assert make_generator(Settings(), "auto").name == "extractive"
    assert make_generator(Settings(model="extractive"), "auto").name == "extractive"  # the configured model


def test_auto_prefers_a_gguf_in_the_models_folder_then_the_hub_cache(no_local_models, tiny_model) -> None:
    pytest.importorskip("llama_cpp")
    snapshot = no_local_models / "hub" / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert resolve_auto(Settings()) == "transformers:Qwen/Qwen2.5-0.5B-Instruct"
    models = no_local_models / "models"
    (models / "broken.gguf").write_bytes(b"not a gguf")  # listed as unusable, never picked
    path = write_gguf(tiny_model, models / "tiny-instruct.gguf")
    assert resolve_auto(Settings()) == f"llamacpp:{path}"
    gen = make_generator(Settings(max_new_tokens=4), "auto")
    assert gen.name == "llamacpp:tiny-instruct.gguf" and gen.is_llm


def test_a_plugin_backend_registers_through_an_entry_point(tmp_path, monkeypatch) -> None:
    dist = tmp_path / "echo_backend-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[xinzhi_assistant.backends]\necho = echo_backend:backend\n"
                                           "broken = echo_backend:missing\n")
    (tmp_path / "echo_backend.py").write_text(
        "from assistant.generate import Backend\n"
        "class Echo:\n"
        "    is_llm = False\n"
        "    def __init__(self, arg):\n"
        "        self.name = 'echo:' + arg\n"
        "    def stream(self, request):\n"
        "        yield request.question\n"
        "backend = Backend('echo', 'echo:ANY', lambda arg, settings: Echo(arg))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(generate, "_REGISTRY", dict(generate._REGISTRY))
    monkeypatch.setattr(generate, "_PLUGINS_LOADED", False)
    gen = make_generator(Settings(), "echo:hello")
    assert gen.name == "echo:hello" and list(gen.stream(_request("问"))) == ["问"]
    with pytest.raises(UnknownBackendError, match="echo:ANY"):  # listed among the choices; the broken one is not
        make_generator(Settings(), "nonsense")


def test_a_backend_registered_in_code_is_used(monkeypatch) -> None:
    monkeypatch.setattr(generate, "_REGISTRY", dict(generate._REGISTRY))
    generate.register(Backend("shout", "shout:WORD", lambda arg, s: make_generator(s, "extractive")))
    assert make_generator(Settings(), "shout:x").name == "extractive"


# ----------------------------------------------------------------------------- offline


def test_the_hub_libraries_run_offline_with_a_cached_model(tiny_model, tmp_path) -> None:
    """auto finds a Qwen in the Hugging Face cache and answers with it; with HF_HUB_OFFLINE unset
    by the user, the program sets it itself and no connection is attempted (a socket guard
    records every connect and name lookup in a fresh interpreter)."""
    import shutil

    snapshot = tmp_path / "hub" / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    (tmp_path / "models").mkdir()
    code = (
        "import json, socket\n"
        "tried = []\n"
        "def guard(*a, **k):\n"
        "    tried.append(repr(a[1:] or a)[:80]); raise OSError('network blocked by the test')\n"
        "socket.socket.connect = guard; socket.getaddrinfo = guard; socket.create_connection = guard\n"
        "import os\n"
        "from assistant.generate import make_generator, Request\n"
        "from assistant.settings import Settings\n"
        "gen = make_generator(Settings(max_new_tokens=4), 'auto')\n"
        "text = ''.join(gen.stream(Request('q', [{'role': 'user', 'content': '你好'}], ())))\n"
        "print(json.dumps({'name': gen.name, 'tried': tried, 'offline': os.environ.get('HF_HUB_OFFLINE'),\n"
        "                  'tf': os.environ.get('TRANSFORMERS_OFFLINE')}))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                               "ASSISTANT_ALLOW_DOWNLOADS", "ASSISTANT_MODEL")}
    env.update(HF_HUB_CACHE=str(tmp_path / "hub"), HF_HOME=str(tmp_path / "hf"),
               ASSISTANT_MODELS_DIR=str(tmp_path / "models"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"name": "transformers:Qwen/Qwen2.5-0.5B-Instruct", "tried": [], "offline": "1", "tf": "1"}


def test_downloads_are_allowed_only_when_asked(monkeypatch) -> None:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # set, then removed: monkeypatch restores both after
        monkeypatch.setenv(var, "0")
        monkeypatch.delenv(var)
    generate.offline_hub(Settings(allow_downloads=True))  # allow_downloads = true in assistant.toml
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
    monkeypatch.setenv("ASSISTANT_ALLOW_DOWNLOADS", "1")
    generate.offline_hub(None)  # before settings exist, the variable decides
    assert "HF_HUB_OFFLINE" not in os.environ
    generate.offline_hub(Settings())  # settings say no: offline
    assert os.environ["HF_HUB_OFFLINE"] == "1"


# ----------------------------------------------------------------------------- OpenAI-compatible


def _sse(obj: object) -> bytes:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


def _vllm_chunks(reply: str) -> list[bytes]:
    """What vLLM's /v1/chat/completions streams: a role chunk, content chunks, a finish chunk,
    a usage chunk with no choices, then [DONE]."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "tiny"}
    out = [_sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "logprobs": None, "finish_reason": None}]})]
    out += [_sse({**head, "choices": [{"index": 0, "delta": {"content": reply[i:i + 4]}, "logprobs": None,
                                       "finish_reason": None}]}) for i in range(0, len(reply), 4)]
    out.append(_sse({**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}))
    out.append(_sse({**head, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}))
    return [*out, b"data: [DONE]\n\n"]


def _llama_server_chunks(reply: str) -> list[bytes]:
    """What llama.cpp's llama-server streams: content chunks (no role chunk), a final chunk with
    an empty delta and its timings, then [DONE]; lines end in CRLF."""
    head = {"created": 0, "id": "chatcmpl-x", "model": "qwen", "system_fingerprint": "b1", "object":
            "chat.completion.chunk"}
    out = [_sse({"choices": [{"finish_reason": None, "index": 0, "delta": {"content": reply[i:i + 3]}}], **head})
           for i in range(0, len(reply), 3)]
    out.append(_sse({"choices": [{"finish_reason": "stop", "index": 0, "delta": {}}], **head,
                     "timings": {"prompt_n": 9, "predicted_n": 3}}))
    return [c.replace(b"\n", b"\r\n") for c in [*out, b"data: [DONE]\n\n"]]


def _cite(reply: str, prompt: str) -> str:
    """Replace "[@]" with the number of the prompt's passage that holds "转变发展方式" (retrieval decides
    the order; a test about citations must not depend on it)."""
    blocks = re.split(r"^\[(\d+)\] ", prompt, flags=re.MULTILINE)
    n = next((num for num, text in zip(blocks[1::2], blocks[2::2], strict=False) if "转变发展方式" in text), "1")
    return reply.replace("[@]", f"[{n}]")


class _ChatServer(BaseHTTPRequestHandler):
    reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[@]"
    condensed = "王蕴如何看待传统产业？"  # the answer to a condense request (prompts/condense.j2)
    delay = 0.0
    style = "vllm"
    seen: list[str] = []

    def log_message(self, *args) -> None:  # noqa: D102
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["stream"] is True and body["temperature"] == 0
        last = body["messages"][-1]["content"]
        _ChatServer.seen.append(last)
        condense = "Standalone question:" in last
        assert condense or body["messages"][0]["role"] == "system"
        reply = self.condensed if condense else _cite(self.reply, last)
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in (_vllm_chunks if self.style == "vllm" else _llama_server_chunks)(reply):
            self.wfile.write(chunk)


class _BrokenServer(BaseHTTPRequestHandler):
    """A server that answers 200 (or a redirect) with something that is not a chat completion stream."""

    mode = "html"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # noqa: D102
        pass

    def _send(self, code: int, kind: str, body: bytes = b"", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        if body or code != 200:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        mode = self.mode
        if mode == "html":
            self._send(200, "text/html; charset=utf-8", b"<!doctype html><html><body>llama.cpp</body></html>")
        elif mode == "404":
            self._send(404, "application/json", b'{"detail":"Not Found"}')
        elif mode == "garbage":
            self._send(200, "text/event-stream", b"data: {this is not json\n\n")
        elif mode == "text":
            self._send(200, "text/plain", b"hello there")
        elif mode == "empty":
            self._send(200, "text/event-stream", b"data: [DONE]\n\n")
        elif mode == "not-chunks":
            self._send(200, "text/event-stream", b'data: {"hello": 1}\n\ndata: [DONE]\n\n')
        elif mode == "error-event":
            self._send(200, "text/event-stream", b'data: {"error": {"message": "model \\u001b[31mcrashed"}}\n\n')
        elif mode == "redirect":
            self._send(302, "text/plain", Location="http://127.0.0.1:1/login")
        elif mode == "json":  # a server that ignores stream=true and sends one chat completion
            self._send(200, "application/json", json.dumps(
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "整段回答。"}}]}).encode())
        elif mode in ("drip", "keepalive"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for i in range(400):  # 80 s: far past any deadline the tests set
                    if mode == "drip":
                        self.wfile.write(_sse({"choices": [{"index": 0, "delta": {"content": f"字{i}"}}]}))
                    else:
                        self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass


def _serve(handler: type[BaseHTTPRequestHandler]):  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def chat_server():  # type: ignore[no-untyped-def]
    server = _serve(_ChatServer)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def broken_server():  # type: ignore[no-untyped-def]
    server = _serve(_BrokenServer)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    _BrokenServer.mode = "html"


@pytest.mark.parametrize("style", ["vllm", "llama-server"])
def test_openai_compatible_streaming_and_citations(chat_server, seed_index, style) -> None:
    _ChatServer.style = style
    try:
        settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
        response = Assistant(settings, index=seed_index).stream("吕薇认为发展新质生产力的本质是什么？")
        parts = list(response)
    finally:
        _ChatServer.style = "vllm"
    assert len(parts) > 3 and "".join(parts).startswith("吕薇认为，发展新质生产力的本质就是转变发展方式。[")
    answer = response.answer()
    assert answer.model == "openai:tiny" and answer.citations[0].passage.speaker == "吕薇"
    assert answer.sentences[0].verdict == "supported"


@pytest.mark.parametrize("mode, message", [
    ("html", "the server at http://127.0.0.1:\\d+ returned HTML, not a chat completion — is /v1 missing"),
    ("404", "answered 404 — is /v1 missing from --base-url"),
    ("garbage", "not a chat completion stream \\(JSONDecodeError"),
    ("text", "did not return a chat completion \\(text/plain: 'hello there'\\)"),
    ("empty", "sent an empty answer \\(no text in the stream\\)"),
    ("not-chunks", "empty answer \\(no text in the stream; 1 event\\(s\\) were not chat completion chunks"),
    ("error-event", "reported an error: model  \\[31mcrashed"),
    ("redirect", "redirected \\(302\\) to http://127.0.0.1:1/login; give the final address"),
])
def test_a_broken_server_is_an_error_naming_the_cause(broken_server, mode, message) -> None:
    _BrokenServer.mode = mode
    gen = OpenAIGenerator("tiny", Settings(base_url=broken_server, request_timeout=5))
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match=message) as e:
        list(gen.stream(_request()))
    assert time.perf_counter() - t0 < 5 and "\x1b" not in str(e.value)


def test_a_non_streamed_chat_completion_is_accepted(broken_server) -> None:
    _BrokenServer.mode = "json"
    gen = OpenAIGenerator("tiny", Settings(base_url=broken_server + "/v1"))
    assert "".join(gen.stream(_request())) == "整段回答。"


def test_a_broken_server_gives_the_extractive_answer_with_the_cause(broken_server, seed_index) -> None:
    _BrokenServer.mode = "html"
    settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=broken_server)
    a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    assert not a.abstained and a.model.startswith("extractive (fallback") and a.citations
    assert "returned HTML" in a.notice


@pytest.mark.parametrize("mode", ["drip", "keepalive"])
def test_the_deadline_covers_the_whole_stream(broken_server, mode) -> None:
    """A server that drips tokens or sends keep-alives forever ends at request_timeout (+1 s)."""
    _BrokenServer.mode = mode
    gen = OpenAIGenerator("tiny", Settings(base_url=broken_server, request_timeout=1.5))
    got = []
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="within 1.5 s \\(request_timeout\\)"):
        for piece in gen.stream(_request()):
            got.append(piece)
    assert time.perf_counter() - t0 < 2.5
    assert (len(got) > 2) == (mode == "drip")


def test_cancel_closes_the_stream(broken_server) -> None:
    _BrokenServer.mode = "drip"
    gen = OpenAIGenerator("tiny", Settings(base_url=broken_server, request_timeout=30))
    request = _request()
    t0 = time.perf_counter()
    for n, _piece in enumerate(gen.stream(request)):
        if n == 1:
            request.cancel.set()
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize("url", ["http://[::1", "127.0.0.1:8080/v1", "ftp://host/v1"])
def test_an_unusable_base_url_is_one_line(url) -> None:
    with pytest.raises(ModelError, match="is not a usable http\\(s\\) URL"):
        OpenAIGenerator("tiny", Settings(base_url=url))


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
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[@]"
    assert a.citations and all(s.verdict == "supported" for s in a.sentences)
    if kept:  # the model's own words, each sentence cited to the passage the check found
        assert a.model == "openai:tiny" and a.text.startswith(reply) and "matched" in a.notice
        assert {c.passage.speaker for c in a.citations} == {"吕薇"}
    else:
        assert a.model.startswith("extractive (fallback") and a.model_text == reply


def test_sentences_a_model_left_uncited_are_cited_by_the_check(chat_server, seed_index) -> None:
    _ChatServer.reply = ("吕薇认为，发展新质生产力的本质就是转变发展方式。[@]"
                         "要从依靠增加投入为主转向依靠技术进步和创新，实现创新驱动发展。")
    try:
        settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
        a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[@]"
    assert a.model == "openai:tiny" and "1 sentence(s)" in a.notice
    assert [s.verdict for s in a.sentences] == ["supported", "supported"] and all(s.markers for s in a.sentences)


def test_a_trailing_sources_line_is_dropped(chat_server, seed_index) -> None:
    _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[@]\n资料编号：[1][2]"
    try:
        settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
        a = Assistant(settings, index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[@]"
    assert "资料编号" not in a.text and [s.verdict for s in a.sentences] == ["supported"]


def test_llm_rewrites_a_follow_up_before_retrieval(chat_server, seed_index) -> None:
    """A follow-up the rules cannot resolve (the earlier turn named no one) goes to the model first."""
    settings = seed_index.settings.with_overrides(model="openai:tiny", base_url=chat_server)
    assistant = Assistant(settings, index=seed_index)
    history = [("谁谈到了传统产业？", "张辉和王蕴都谈到了传统产业。")]
    _ChatServer.seen.clear()
    _ChatServer.reply = "王蕴认为，传统产业是发展新质生产力的基础。"
    try:
        a = assistant.ask("她对传统产业怎么看？", history)
    finally:
        _ChatServer.reply = "吕薇认为，发展新质生产力的本质就是转变发展方式。[@]"
    condense, answer = _ChatServer.seen
    assert "谁谈到了传统产业？" in condense and "她对传统产业怎么看？" in condense and "[1]" not in condense
    # retrieval and the answer prompt use the rewritten question: 王蕴's passages
    assert "Question: 王蕴如何看待传统产业？" in answer
    assert {p.speaker for p in a.passages} == {"王蕴"} and a.timings.condense_ms > 0


def test_a_first_question_spends_no_time_rewriting_a_follow_up(seed_index) -> None:
    """The first question opens the index (building the retriever); that time is retrieval's, not a follow-up
    rewrite's, which the CLI and the UI would show as "follow-up rewritten … ms"."""
    a = Assistant(seed_index.settings.with_overrides(model="extractive"), index=seed_index).ask("王蕴怎么看传统产业？")
    assert a.timings.condense_ms < 1 and a.timings.retrieval_ms > a.timings.condense_ms, a.timings


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
    assert "cannot reach" in a.notice and a.citations and a.model.startswith("extractive (fallback")


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
    settings = seed_index.settings.with_overrides(model=f"transformers:{path}", max_new_tokens=96)
    a = Assistant(settings, index=seed_index).ask("数字经济时代新质生产力的核心价值可以归结为一个什么公式？")
    # greedy decoding: the model's own cited answer, kept (not the extractive fallback), about 任保平's formula
    assert a.model.startswith("transformers:") and not a.abstained, (a.model, a.notice, a.model_text)
    assert {c.passage.speaker for c in a.citations} == {"任保平"} and "算法" in a.text
    assert a.sentences and all(s.verdict == "supported" for s in a.sentences), a.sentences


# ----------------------------------------------------------------------------- the prompt


from assistant.text import compact, sentence_spans  # noqa: E402


def _words(weights: dict[str, float]):  # type: ignore[no-untyped-def]
    """A sentence scorer: the summed weights of the words it holds."""
    return lambda s: sum(w for word, w in weights.items() if word in s)


def test_excerpts_leave_out_sentences_an_earlier_passage_already_shows() -> None:
    from assistant.text import excerpts

    a = "甲说创新是第一动力。乙说人才是第一资源。丙说要建设现代化产业体系。"
    b = "丙说要建设现代化产业体系。丁说要加快发展数字经济。"  # an overlapping chunk repeats a's last sentence
    industry = _words({"产业": 1.0})
    assert excerpts([(a, "x"), (b, "x")], industry, 0) == [a, "……丁说要加快发展数字经济。"]
    assert excerpts([(b, "x")], industry, 0) == [b]  # control: alone, nothing is left out
    assert excerpts([(a, "x"), (b, "y")], _words({}), 0) == [a, b]  # another speech quoting the same words keeps them
    assert excerpts([(a, "x"), (a, "x")], _words({}), 0) == [a, a]  # every sentence shown already: it still shows


def test_a_question_the_speaker_asks_comes_with_the_sentence_that_answers_it() -> None:
    """A passage that asks "为什么……?" and answers in the next sentence: the question matches the asker's
    words, the answer may not; an excerpt keeping the question keeps its answer, within the budget."""
    from assistant.text import excerpts

    text = "农业要现代化。为什么一直强调未来产业?因为它的扩散能力非常强。服务业要提质。"
    w = _words({"未来产业": 5.0, "强调": 1.0})
    assert excerpts([(text, "x")], w, 24) == ["……为什么一直强调未来产业?因为它的扩散能力非常强。……"]
    plain = text.replace("?", "。")  # control: a statement does not bring the sentence after it
    assert excerpts([(plain, "x")], w, 24) == ["农业要现代化。为什么一直强调未来产业。……"]
    # a budget smaller than the question and its answer: they still come together, as a passage's best sentence
    assert excerpts([(text, "x")], w, 10) == ["……为什么一直强调未来产业?因为它的扩散能力非常强。……"]


def test_a_question_brings_its_answer_only_when_the_passage_has_it_to_show() -> None:
    from assistant.text import excerpts

    w = _words({"未来产业": 5.0})
    run = "农业要现代化。要不要改变未来产业?如何改变?这值得研究。服务业要提质。"
    assert excerpts([(run, "x")], w, 10) == ["……要不要改变未来产业?如何改变?这值得研究。……"]  # through a run
    quoted = "农业要现代化。他问：“为什么强调未来产业？”因为扩散能力强。服务业要提质。"
    assert excerpts([(quoted, "x")], w, 10) == ["……他问：“为什么强调未来产业？”因为扩散能力强。……"]
    last = "农业要现代化。为什么强调未来产业?"  # nothing after it in the passage
    assert excerpts([(last, "x")], w, 10) == ["……为什么强调未来产业?"]
    # the answer is in the conversation already: not shown again
    said = compact("为什么强调未来产业?因为扩散能力强。")
    text = "农业要现代化。为什么强调未来产业?因为扩散能力强。服务业要提质。"
    answered = compact("因为扩散能力强。")
    assert excerpts([(text, "x")], w, 100, answered) == ["农业要现代化。为什么强调未来产业?……服务业要提质。"]
    assert excerpts([(text, "x")], w, 100, said) == ["农业要现代化。……服务业要提质。"]
    # within the budget: a question whose answer does not fit is left for sentences that do
    other = "工业要升级未来产业。"
    got = excerpts([(other, "x"), ("农业要现代化。为什么强调未来产业?因为它的扩散能力非常强。", "x")], w, 24)
    assert got == ["工业要升级未来产业。", "……为什么强调未来产业?因为它的扩散能力非常强。"]  # each passage's best unit
    shown = excerpts([(other + "强调未来产业是对的?是的。", "x")], w, 21)[0]
    assert shown.startswith(other) and "对的?" not in shown  # alone the question would fit (10 + 10 of 21)


def _kind_passage(text: str, kind: str, speaker: str):  # type: ignore[no-untyped-def]
    """A passage of the given chunk kind (text, profile, overview) for the excerpt tests."""
    from assistant.types import Chunk, Passage

    return Passage(Chunk(id=f"{kind}-{speaker}", text=text, speaker=speaker, affiliation="", title="",
                         section=0, paragraph=0, start=0, end=0, kind=kind), 1.0)


def test_the_list_of_speakers_is_its_first_sentence_counted_in_the_budget() -> None:
    from assistant.pipeline import _excerpts

    listing = _kind_passage("共有2位专家发言，依次是甲、乙。第一位发言的是甲（某大学）；第二位发言的是乙（某研究院）。",
                      "overview", "编者按")
    said_ = _kind_passage("甲说数字经济很重要。甲说算力是新动能。甲说数据是新要素。", "text", "甲")
    w = _words({"专家": 1.0, "数字经济": 1.0, "算力": 1.0, "数据": 1.0})
    head = "共有2位专家发言，依次是甲、乙。……"
    assert _excerpts([listing, said_], w, 30) == [head, "甲说数字经济很重要。……"]  # 17 + 10 of 30: no room for more
    assert _excerpts([listing, said_], w, 40)[1] == "甲说数字经济很重要。甲说算力是新动能。……"
    assert _excerpts([listing, said_], w, 0) == [listing.text, said_.text]  # whole passages: the whole list
    assert _excerpts([listing, said_], w, 30, compact("共有2位专家发言，依次是甲、乙。"))[0] == ""  # shown already


def test_compared_speakers_share_the_budget_in_turns() -> None:
    """A question comparing two speakers: past each passage's best sentence, the budget goes to each speaker's
    best sentence in turn, so the speaker whose passages rank first does not take all of it; control: without
    ``by`` the best-scored sentences win wherever they are."""
    from assistant.text import excerpts

    first = "甲说人才很重要。甲说人才要分类评价。甲说人才要流动。甲说人才要激励。"
    second = "乙说人才是第一资源。乙说劳动者素质要提高。乙说技能人才要培养。"
    w = _words({"人才": 1.0})
    # room for each passage's best sentence and two more
    budget = len("甲说人才很重要。") + len("乙说人才是第一资源。") + 2 * len("乙说技能人才要培养。") + 1
    plain = excerpts([(first, ("甲", 1)), (second, ("乙", 2))], w, budget)
    assert "技能人才" not in plain[1] and plain[0].count("。") == 3  # the first speaker's sentences win both
    fair = excerpts([(first, ("甲", 1)), (second, ("乙", 2))], w, budget, by=lambda speech: speech[0])
    assert fair[0].count("。") == 2 and "技能人才要培养" in fair[1]  # one each


def test_a_byline_passage_points_to_the_list_of_speakers_instead_of_repeating_it() -> None:
    """The system message lists every speaker's affiliation and title: a byline among the passages is shown
    as a pointer to that list, and its characters go to the passages' sentences; whole passages show it all."""
    from assistant.pipeline import BYLINE_SHOWN, _excerpts

    byline = _kind_passage("发言人署名（工作单位与职务、姓名）：某大学教授甲，发言题目（标题）：《论创新》。",
                           "profile", "甲")
    said_ = _kind_passage("甲说数字经济很重要。甲说算力是新动能。甲说数据是新要素。", "text", "甲")
    w = _words({"数字经济": 1.0, "算力": 1.0, "数据": 1.0, "创新": 1.0})
    room = len(BYLINE_SHOWN) + len(said_.text)  # the pointer counts in the budget
    shown = _excerpts([byline, said_], w, room)
    assert shown[0] == BYLINE_SHOWN and shown[1] == said_.text  # all three sentences fit beside the pointer
    assert len(byline.text) > len(BYLINE_SHOWN)  # control: the byline itself would have taken their room
    assert _excerpts([byline, said_], w, 0) == [byline.text, said_.text]  # whole passages: the byline as printed
    # a follow-up whose conversation showed the pointer (or the byline) already: nothing new to show of it
    earlier = compact(f"[1] 甲:\n{BYLINE_SHOWN}\n\n[2] 甲:\n甲说数字经济很重要。")
    assert _excerpts([byline, said_], w, 200, earlier)[0] == ""
    assert _excerpts([byline, said_], w, 200, compact("[2] 甲:\n甲说数字经济很重要。"))[0] == BYLINE_SHOWN


def test_compared_speakers_take_turns_only_with_sentences_that_match() -> None:
    """A sentence that matches nothing of the question does not take a speaker's turn ahead of the other
    speaker's matching sentences; control: the matching sentence is kept."""
    from assistant.text import excerpts

    first = "甲说人才很重要。甲说人才要流动。甲说人才要激励。"
    second = "乙说人才是第一资源。乙说今天天气很好。"
    w = _words({"人才": 1.0})
    # each passage's best sentence, 甲's second, and room for one more: 甲's third, or 乙's 天气 (one longer)
    budget = len("甲说人才很重要。") + len("乙说人才是第一资源。") + len("甲说人才要流动。") + len("乙说今天天气很好。")
    fair = excerpts([(first, ("甲", 1)), (second, ("乙", 2))], w, budget, by=lambda speech: speech[0])
    assert fair[0] == first and "天气" not in fair[1]


def test_the_budget_goes_to_the_best_matching_sentences_across_passages() -> None:
    """Each passage keeps its best sentence; the rest of the budget follows the question's words, wherever
    they are, instead of an equal share per passage."""
    from assistant.text import excerpts

    rich = "数字经济需要算力。算力是新质生产力的新动能。数据要素需要算力支撑。"
    poor = "传统产业要升级。农业也要现代化。服务业要提质。"
    w = _words({"算力": 5.0, "数据": 1.0})
    got = excerpts([(poor, 1), (rich, 2)], w, len(rich) + 8)
    assert got[1] == rich  # all three matching sentences of the second passage
    assert got[0].count("。") == 1 and got[0].startswith("传统产业要升级。")  # the first keeps one sentence
    equal = excerpts([(poor, 1), (rich, 2)], w, 0)
    assert equal == [poor, rich]  # no budget: whole passages


def test_a_conversation_never_repeats_a_sentence_it_showed() -> None:
    from assistant.text import compact, excerpts

    a = "甲说创新是第一动力。乙说人才是第一资源。丙说要建设现代化产业体系。"
    said = compact("[1] 某:\n甲说创新是第一动力。……丙说要建设现代化产业体系。")  # an earlier turn's excerpt
    assert excerpts([(a, "x")], _words({"人才": 1.0}), 0, said) == ["……乙说人才是第一资源。……"]
    assert excerpts([(a, "x")], _words({}), 0, compact(a)) == [""]  # all of it shown: nothing to add
    assert excerpts([(a, "x")], _words({}), 0) == [a]  # control: a new conversation shows it


def test_a_continued_follow_up_shows_the_rest_of_a_passage_under_its_number(seed_index) -> None:
    """A passage the first turn showed only in part keeps its number in the follow-up and shows the
    sentences the follow-up needs that were left out; new passages are numbered on."""
    from assistant.pipeline import Assistant
    from assistant.types import Answer

    a = Assistant(seed_index.settings.with_overrides(model="extractive", prompt_chars=200), index=seed_index)
    q1 = "吕薇认为发展新质生产力的本质是什么？"
    r1 = a.retriever.search(q1)
    first = a.request(q1, r1)
    prev = Answer(q1, "吕薇认为……[1]", (), False, "m", passages=r1.passages, model_text="吕薇认为……[1]",
                  messages=tuple(first.messages))
    q2 = "她说的重要标志是什么？"
    r2 = a.retriever.search("吕薇 新质生产力的重要标志")
    request, context = a.continued(q2, r2, prev)
    assert request.messages[:2] == first.messages and request.messages[2]["role"] == "assistant"
    turn = request.messages[3]["content"]
    assert context.passages[:len(r1.passages)] == r1.passages
    ids = [p.id for p in context.passages]
    assert len(ids) == len(set(ids)) and {p.id for p in r2.passages} <= set(ids)
    said = compact(first.messages[1]["content"])
    again = [p for p in r2.passages if p.id in {x.id for x in r1.passages} and f"[{ids.index(p.id) + 1}] " in turn]
    assert again, "the case needs a passage of the first turn shown again"
    body = [line for line in turn.splitlines() if line and not line.startswith(("[", "Passages", "Question", "请"))]
    sentences = [c for line in body for a, b in sentence_spans(line) if len(c := compact(line[a:b]).strip("…")) > 15]
    assert sentences and not [x for x in sentences if x in said]  # nothing the conversation showed, again
    assert "重要标志" in turn


def test_the_prompt_shows_each_expert_once_in_full_and_no_sentence_twice(seed_index) -> None:
    """The bylines are in the system message (the same for every question, so an LLM's KV state of it is
    reused); each passage names its speaker; a sentence overlapping chunks share is shown once."""
    from assistant.pipeline import Assistant

    a = Assistant(seed_index.settings.with_overrides(model="extractive", prompt_chars=0), index=seed_index)
    q = "吕薇认为发展新质生产力的本质是什么？"
    retrieval = a.retriever.search(q)

    def long_sentences(text: str) -> list[str]:
        return [c for s in sentence_spans(text) if len(c := compact(text[slice(*s)])) > 15]

    raw = [s for p in retrieval.passages for s in long_sentences(p.text)]
    assert len(raw) > len(set(raw)), "the case needs overlapping passages"
    assert any(sum(p.speaker == x.speaker for x in retrieval.passages) > 1 for p in retrieval.passages)
    system, user = (m["content"] for m in a.request(q, retrieval).messages)
    assert system == a.request("王蕴怎么看？", a.retriever.search("王蕴怎么看？")).messages[0]["content"]
    assert len(a.retriever.speeches) == 9
    bylines = "".join(p.text for p in retrieval.passages if p.chunk.kind != "text")  # a retrieved byline
    for speaker, affiliation, title in a.retriever.speeches:
        assert system.count(f"{speaker}（{affiliation or '—'}）：《{title}》") == 1
        assert affiliation in bylines or affiliation not in user
    for speaker in {p.speaker for p in retrieval.passages}:
        assert user.count(f"] {speaker}") == sum(p.speaker == speaker for p in retrieval.passages)
    flat = compact(user)
    assert all(flat.count(s) == 1 for s in set(raw))  # each sentence of the passages shown, once


def test_the_list_of_speakers_shows_its_first_sentence_and_leaves_the_rest_to_the_system_message(seed_index) -> None:
    """The list the index makes of the bylines repeats the system message's list of speakers; in the prompt
    it is its first sentence (how many, in what order), and the budget goes to the other passages."""
    from assistant.pipeline import Assistant

    a = Assistant(seed_index.settings.with_overrides(model="extractive", prompt_chars=400), index=seed_index)
    q = "一共有几位专家发言？都有谁？"
    from dataclasses import replace

    # the list of speakers among statements' passages (a question about the speakers as a whole is answered from
    # the bylines without a model; the list reaches a prompt when an ordinary question retrieves it)
    found = a.retriever.search(q)
    overview = next(p for p in found.passages if p.chunk.kind == "overview")
    others = a.retriever.search("吕薇认为发展新质生产力的本质是什么？").passages[:3]
    retrieval = replace(found, passages=(overview, *others), about_speakers=None)
    system, user = (m["content"] for m in a.request(q, retrieval).messages)
    head = overview.text[: overview.text.index("。") + 1]
    assert head in user and "位专家发言" in head
    item = re.compile("第[一二三四五六七八九十]+位发言的是")
    assert item.search(overview.text) and not item.search(user)  # the rest is not repeated
    for speaker, affiliation, _ in a.retriever.speeches:
        assert speaker in system and (affiliation or "") in system  # ... because the system message has it
    # control: the same passages, the list's chunk read as a statement's text, fill the budget with its items
    as_text = tuple(replace(p, chunk=replace(p.chunk, kind="text")) if p is overview else p for p in retrieval.passages)
    assert item.search(a.request(q, replace(retrieval, passages=as_text)).messages[1]["content"])


def test_a_sentence_two_experts_share_is_shown_under_both(seed_index) -> None:
    from dataclasses import replace

    from assistant.pipeline import Assistant

    a = Assistant(seed_index.settings.with_overrides(model="extractive", prompt_chars=0), index=seed_index)
    retrieval = a.retriever.search("吕薇认为发展新质生产力的本质是什么？")
    first = retrieval.passages[0]
    quoted = replace(first, chunk=replace(first.chunk, id="other", speaker="金碚", title="另一篇发言"))
    user = a.request("问", replace(retrieval, passages=(first, quoted))).messages[1]["content"]
    assert user.count(compact(first.text)[-20:]) == 2
