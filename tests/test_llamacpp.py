"""The llama.cpp backend on GGUF files the tests write: the tiny random Qwen2, and "scripted" ones
whose greedy reply is known (a bigram table; see ``tests.helpers.write_scripted_gguf``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from assistant.bench import build_tiny_model  # noqa: E402
from assistant.generate import ModelError, Request, make_generator  # noqa: E402
from assistant.llamacpp import LlamaCppGenerator, lookup_draft, physical_cores  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from tests.helpers import SEED, write_gguf, write_scripted_gguf  # noqa: E402

SCRIPT = "吕薇认为，新质生产力的本质就是转变发展方式。[1]"
FAITHFUL = "吕薇认为，新质生产力的本质就是转变发展方式。"
QUESTION = "吕薇认为发展新质生产力的本质是什么？"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen"), vocab_size=800, hidden_size=32, stop_at_eos=True)


@pytest.fixture(scope="module")
def ggufs(tiny, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ggufs")
    out = {"random": write_gguf(tiny, d / "random.gguf"), "endless": write_scripted_gguf(tiny, d / "endless.gguf",
                                                                                          SCRIPT, end=None)}
    for end in ("<|im_end|>", "<|endoftext|>", "<|im_start|>"):
        out[end] = write_scripted_gguf(tiny, d / f"script-{end[2:-2]}.gguf", SCRIPT, end=end)
    out["faithful"] = write_scripted_gguf(tiny, d / "faithful.gguf", FAITHFUL)  # true to the seed, no marker
    return out


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The seed indexed with the fake (hash) embedder: seconds, not the real embedder's minute."""
    from assistant.embed import make_embedder
    from assistant.ingest import ingest
    from assistant.store import Index

    index = Index(Settings(index_dir=tmp_path_factory.mktemp("index"), embedder="hash"), make_embedder("hash"))
    ingest(index, [SEED])
    return index


def _messages(question: str = QUESTION, system: str = "只用资料回答，并标出资料编号。") -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def _gen(path: Path, max_new_tokens: int = 64) -> LlamaCppGenerator:
    gen = make_generator(Settings(max_new_tokens=max_new_tokens), str(path))
    assert isinstance(gen, LlamaCppGenerator)
    return gen


@pytest.mark.parametrize("end", ["<|im_end|>", "<|endoftext|>", "<|im_start|>"])
def test_streams_the_reply_and_stops_at_each_end_token(ggufs, end) -> None:
    gen = _gen(ggufs[end])
    pieces = list(gen.stream(Request(QUESTION, _messages(), ())))
    assert "".join(pieces) == SCRIPT  # multi-byte characters split across tokens come out whole
    assert len(pieces) > 10 and gen.last.completion_tokens == 23
    assert gen.name == f"llamacpp:{ggufs[end].name}" and gen.is_llm


def test_the_chat_template_comes_from_the_gguf(ggufs, tiny) -> None:
    from transformers import AutoTokenizer

    gen = _gen(ggufs["random"])
    expected = AutoTokenizer.from_pretrained(tiny).apply_chat_template(_messages(), tokenize=False,
                                                                       add_generation_prompt=True)
    assert gen.prompt(_messages()) == expected
    ids = gen.tokens(_messages())
    assert ids.count(gen.llm.tokenize(b"<|im_start|>", add_bos=False, special=True)[0]) == 3  # special tokens


def test_max_new_tokens_bounds_an_endless_reply(ggufs) -> None:
    gen = _gen(ggufs["endless"], max_new_tokens=40)
    text = "".join(gen.stream(Request(QUESTION, _messages(), ())))
    assert text.startswith(SCRIPT) and gen.last.completion_tokens == 40


def test_loaded_once_per_process(ggufs) -> None:
    assert _gen(ggufs["random"]).llm is _gen(ggufs["random"], max_new_tokens=3).llm


def test_cancel_stops_within_a_token(ggufs) -> None:
    gen = _gen(ggufs["endless"], max_new_tokens=3000)
    request = Request(QUESTION, _messages(), ())
    got = []
    t0 = time.perf_counter()
    for piece in gen.stream(request):
        got.append(piece)
        if len(got) == 5:
            request.cancel.set()
    assert len(got) == 5 and time.perf_counter() - t0 < 1.0


def test_cancel_from_another_thread_during_the_prompt(ggufs) -> None:
    """The abort callback stops llama_decode itself; the next request still answers correctly."""
    gen = _gen(ggufs["<|im_end|>"])
    gen.llm.reset()
    request = Request(QUESTION, _messages(), ())
    request.cancel.set()
    assert list(gen.stream(request)) == []
    assert gen.llm.n_tokens < len(gen.tokens(_messages()))  # llama_decode was aborted: the prompt is not in
    stopper = Request(QUESTION, _messages(), ())
    threading.Timer(0.2, stopper.cancel.set).start()
    endless = _gen(ggufs["endless"], max_new_tokens=4000)
    t0 = time.perf_counter()
    list(endless.stream(stopper))
    assert time.perf_counter() - t0 < 1.2
    assert "".join(gen.stream(Request(QUESTION, _messages(), ()))) == SCRIPT


def test_the_fixed_prefix_is_evaluated_once(ggufs) -> None:
    """The second question reuses the system prompt's KV state, also after a different prompt (the
    follow-up rewrite) ran in between; and the reply is the same as from a cold context."""
    gen = _gen(ggufs["random"], max_new_tokens=12)
    first = _messages("张辉如何看待传统产业？")
    fixed = gen.fixed_prefix(first, gen.tokens(first))
    assert len(fixed) > 10 and gen.tokens(first)[:len(fixed)] == fixed
    list(gen.stream(Request("q", first, ())))
    second = _messages()
    list(gen.stream(Request("q", second, ())))
    assert gen.last.reused_tokens >= len(fixed)
    list(gen.stream(Request("q", [{"role": "user", "content": "Rewrite the question: 那她怎么看？"}], ())))
    assert gen.last.reused_tokens < len(fixed)
    warm = "".join(gen.stream(Request("q", second, ())))
    assert gen.last.reused_tokens == len(fixed)  # the saved state, restored
    gen.forget()
    cold = "".join(gen.stream(Request("q", second, ())))
    assert gen.last.reused_tokens == 0 and warm == cold


def test_lookup_draft_guesses_what_followed_the_last_tokens_earlier() -> None:
    seq = [5, 6, 7, 8, 9, 1, 2, 6, 7]
    assert lookup_draft(seq, 3) == [8, 9, 1]  # "6 7" occurred before, followed by 8 9 1
    assert lookup_draft(seq, 1) == [8]
    assert lookup_draft([1, 2, 3, 4], 3) == []  # nothing repeats
    assert lookup_draft(seq, 0) == []
    assert lookup_draft([3, 1, 2, 9, 4, 1, 2, 7, 1, 2], 2) == [7, 1]  # the latest occurrence


def _decode(path: Path, messages: list[dict[str, str]], draft: int, max_new: int = 40) -> tuple[str, object]:
    gen = LlamaCppGenerator(str(path), Settings(max_new_tokens=max_new, draft_tokens=draft))
    gen.forget()
    text = "".join(gen.stream(Request("q", messages, ())))
    return text, gen.last


@pytest.mark.parametrize("model", ["random", "endless"])
def test_prompt_lookup_drafts_change_nothing_but_the_number_of_passes(ggufs, model) -> None:
    """Guessed tokens are kept only where they are the model's own greedy choice: the text equals plain
    greedy decoding and llama-cpp-python's own generate. The prompt quotes the scripted reply, so the
    scripted model's guesses are confirmed and it needs fewer forward passes than tokens."""
    messages = _messages(f"资料：{SCRIPT}{SCRIPT}\n{QUESTION}")
    plain, plain_stats = _decode(ggufs[model], messages, draft=0)
    drafted, stats = _decode(ggufs[model], messages, draft=4)
    gen = LlamaCppGenerator(str(ggufs[model]), Settings(max_new_tokens=40))
    raw = gen.raw_generate(messages, 40)
    assert drafted == plain and stats.completion_tokens == plain_stats.completion_tokens == raw.completion_tokens
    assert plain_stats.drafted == 0 and plain_stats.steps >= plain_stats.completion_tokens - 1
    assert stats.drafted > 0  # both prompts repeat themselves, so guesses were made
    if model == "endless":
        assert stats.accepted >= stats.completion_tokens // 2
        assert stats.steps < plain_stats.steps // 2


def test_after_a_drafted_reply_the_next_prompt_still_reuses_the_cache_correctly(ggufs) -> None:
    """Rejected guesses are removed from the KV cache: the next turn of the same conversation (its prompt holds
    the reply, so the cache is read past the prompt into the reply) answers as it does from an empty context."""
    gen = LlamaCppGenerator(str(ggufs["random"]), Settings(max_new_tokens=30, draft_tokens=4))
    first = _messages(f"资料：{SCRIPT}{SCRIPT}\n{QUESTION}")
    reply = "".join(gen.stream(Request("q", first, ())))
    assert gen.last.drafted > gen.last.accepted  # some guesses were rejected and had to be rolled back
    second = [*first, {"role": "assistant", "content": reply}, {"role": "user", "content": "张辉如何看待传统产业？"}]
    warm = "".join(gen.stream(Request("q", second, ())))
    assert gen.last.reused_tokens > len(gen.tokens(first))  # the first prompt and part of the reply, from the cache
    gen.forget()
    assert "".join(gen.stream(Request("q", second, ()))) == warm


def test_a_prompt_longer_than_the_context_says_what_to_change(ggufs) -> None:
    gen = LlamaCppGenerator(str(ggufs["random"]), Settings(max_new_tokens=8, n_ctx=256))
    with pytest.raises(ModelError, match="n_ctx 256.*prompt_chars"):
        list(gen.stream(Request(QUESTION, _messages("长" * 600), ())))


def test_the_pipeline_keeps_the_models_cited_answer_and_cancels(ggufs, small_index) -> None:
    settings = small_index.settings.with_overrides(model=str(ggufs["faithful"]), max_new_tokens=64)
    a = Assistant(settings, index=small_index).ask(QUESTION)
    assert a.model == "llamacpp:faithful.gguf" and a.text.startswith(FAITHFUL)  # the model's words, kept
    assert {c.passage.speaker for c in a.citations} == {"吕薇"} and a.timings.first_token_ms > 0
    endless = small_index.settings.with_overrides(model=str(ggufs["endless"]), max_new_tokens=3000)
    response = Assistant(endless, index=small_index).stream(QUESTION)
    pieces = []
    for piece in response:
        pieces.append(piece)
        if len(pieces) == 3:
            response.cancel()
    assert len(pieces) <= 4


def test_a_follow_up_continues_the_conversation_and_evaluates_only_its_turn(ggufs, small_index) -> None:
    """The follow-up's messages are the first turn's, the model's reply and a new user turn holding only
    passages not shown yet, numbered on; llama.cpp reuses the whole first conversation from its cache."""
    settings = small_index.settings.with_overrides(model=str(ggufs["faithful"]), max_new_tokens=64,
                                                   history_turns=2)
    assistant = Assistant(settings, index=small_index)
    first = assistant.ask(QUESTION)
    assert first.model == "llamacpp:faithful.gguf" and len(first.messages) == 2 and first.model_text
    follow = "她说的重要标志是什么？"
    second = assistant.ask(follow, [(QUESTION, first)])
    gen = assistant.generator
    assert second.messages[:2] == first.messages
    assert second.messages[2] == {"role": "assistant", "content": first.model_text}
    turn = second.messages[3]["content"]
    assert follow in turn and "Rules" not in turn and first.messages[1]["content"] not in turn  # only the new turn
    assert second.passages[:len(first.passages)] == first.passages
    new = second.passages[len(first.passages):]
    assert all(f"[{len(first.passages) + n}] {p.speaker}:" in turn for n, p in enumerate(new, 1))
    assert all(c.passage == second.passages[c.marker - 1] for c in second.citations)
    first_prompt = gen.tokens(first.messages)
    assert gen.last.reused_tokens >= len(first_prompt)  # the first turn came from the cache
    assert gen.last.prompt_tokens - gen.last.reused_tokens < len(first_prompt) // 2
    # history_turns=2: a third question starts a new conversation, with the standalone prompt
    third = assistant.ask("那金碚怎么看？", [(QUESTION, first), (follow, second)])
    assert len(third.messages) == 2 and third.messages[0] == first.messages[0]


def test_a_follow_up_goes_alone_when_the_conversation_cannot_be_continued(ggufs, small_index) -> None:
    """Another language (the system message names one), a reply the reader stopped, or a conversation that
    would leave no room for an answer in the context: the follow-up is one standalone prompt."""
    settings = small_index.settings.with_overrides(model=str(ggufs["faithful"]), max_new_tokens=64)
    assistant = Assistant(settings, index=small_index)
    first = assistant.ask(QUESTION)
    assert len(assistant.ask("她说的重要标志是什么？", [(QUESTION, first)]).messages) == 4  # the control
    english = assistant.ask("What does she say the key indicator is?", [(QUESTION, first)])
    assert len(english.messages) == 2
    response = assistant.stream(QUESTION)
    next(iter(response))
    response.cancel()
    stopped = response.answer()
    assert stopped.decision != "refuse" and stopped.messages == ()  # a stopped reply is not continued
    tight = Assistant(settings.with_overrides(n_ctx=len(assistant.generator.tokens(first.messages)) + 80),
                      index=small_index)
    again = tight.ask(QUESTION)
    assert len(tight.ask("她说的重要标志是什么？", [(QUESTION, again)]).messages) == 2


def test_a_backend_that_keeps_no_context_gets_the_standalone_follow_up(ggufs, small_index, monkeypatch) -> None:
    """The control: without ``keeps_context`` the follow-up is one standalone prompt, as for transformers."""
    settings = small_index.settings.with_overrides(model=str(ggufs["faithful"]), max_new_tokens=64)
    assistant = Assistant(settings, index=small_index)
    first = assistant.ask(QUESTION)
    monkeypatch.setattr(type(assistant.generator), "keeps_context", False)
    second = assistant.ask("她说的重要标志是什么？", [(QUESTION, first)])
    assert len(second.messages) == 2 and second.model == "llamacpp:faithful.gguf"


def test_an_unresolved_follow_up_in_a_continued_chat_asks_no_rewrite(ggufs, small_index, monkeypatch) -> None:
    """A follow-up the rules cannot resolve is not rewritten by the model when the conversation is continued
    (the model reads it, and a rewrite prompt would push the conversation out of the cache): the last
    question and this one are searched together."""
    settings = small_index.settings.with_overrides(model=str(ggufs["faithful"]), max_new_tokens=64)
    assistant = Assistant(settings, index=small_index)
    first = assistant.ask(QUESTION)
    monkeypatch.setattr(Assistant, "_rewrite", lambda *a: pytest.fail("asked the model to rewrite"))
    follow = "那王蕴提到的数字经济和人才培养有什么关系"  # names another expert and asks more: rules leave it
    query = assistant.condense(follow, [(QUESTION, first)])
    assert query.how == "context" and query.text == follow and query.speakers == ("王蕴",)
    monkeypatch.setattr(type(assistant.generator), "keeps_context", False)
    monkeypatch.setattr(Assistant, "_rewrite", lambda *a: "王蕴对人才培养有什么看法？")  # the control
    assert assistant.condense(follow, [(QUESTION, first)]).how == "llm"


@pytest.mark.parametrize("make, message", [
    (lambda d, g: d / "missing.gguf", "missing.gguf: does not exist"),
    (lambda d, g: _write(d / "notes.gguf", b"hello, this is text"), "notes.gguf: not a GGUF file"),
    (lambda d, g: _write(d / "empty.gguf", b""), "empty.gguf: not a GGUF file"),
    (lambda d, g: _write(d / "cut.gguf", g.read_bytes()[: g.stat().st_size // 2]), "cut.gguf: the file is truncated"),
    (lambda d, g: _mkdir(d / "folder.gguf"), "folder.gguf: is a folder"),
])
def test_bad_gguf_files_fail_at_once_in_one_line(ggufs, tmp_path, make, message) -> None:
    path = make(tmp_path, ggufs["random"])
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match=message) as e:
        make_generator(Settings(), str(path))
    assert time.perf_counter() - t0 < 10 and "\n" not in str(e.value)


def test_unknown_architecture_names_it(tiny, tmp_path) -> None:
    path = write_gguf(tiny, tmp_path / "odd.gguf", arch="xyzzy")
    with pytest.raises(ModelError, match="odd.gguf: architecture 'xyzzy' is not supported by llama.cpp") as e:
        make_generator(Settings(), str(path))
    assert "\n" not in str(e.value)


def test_missing_llama_cpp_python_names_the_install(ggufs, tmp_path, monkeypatch) -> None:
    import shutil
    import sys

    copy = shutil.copy(ggufs["random"], tmp_path / "fresh.gguf")  # not loaded yet in this process
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModelError, match="fresh.gguf needs llama-cpp-python: pip install llama-cpp-python"):
        make_generator(Settings(), str(copy))


def test_threads_are_physical_cores() -> None:
    import os

    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.slow
def test_real_model_through_llama_cpp(seed_index) -> None:
    """Qwen2.5-Coder-1.5B-Instruct Q4_K_M (``assistant models fetch qwen2.5-coder-1.5b``)."""
    path = Path.home() / ".cache" / "real-model" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if not path.is_file():
        pytest.skip("no real model; run: assistant models fetch qwen2.5-coder-1.5b")
    settings = seed_index.settings.with_overrides(model=str(path), max_new_tokens=96)
    a = Assistant(settings, index=seed_index).ask("数字经济时代新质生产力的核心价值可以归结为一个什么公式？")
    assert a.model.startswith("llamacpp:") and not a.abstained, (a.model, a.notice, a.model_text)
    assert {c.passage.speaker for c in a.citations} == {"任保平"} and "算法" in a.text
