"""`assistant bench --json` keeps its promised keys (figures are measured, not asserted: no timed tests)."""

from __future__ import annotations

import json

import pytest

from assistant.cli import main

KEYS = {"index_build_s", "index_reopen_s", "retrieval_p50_ms", "retrieval_p95_ms", "answer_p50_ms", "answer_p95_ms",
        "generate_overhead_ratio", "ttft_ms", "rss_mb", "prompt_tokens"}
# with a .gguf model (the llama.cpp backend)
LLAMACPP_KEYS = {"load_s", "ttft_p50_ms", "ttft_followup_p50_ms", "decode_tok_s", "raw_decode_tok_s", "rss_mb"}


@pytest.fixture
def questions(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps({"question": q}, ensure_ascii=False) for q in (
        "吕薇认为发展新质生产力的本质是什么？", "张辉如何看待传统产业？", "Ren Baoping on computing power")),
        encoding="utf-8")
    return path


def test_bench_json_has_every_figure(hash_settings, questions, capsys) -> None:
    assert main(["bench", "--json", "--questions", str(questions), "--embedder", "hash",
                 "--index-dir", str(hash_settings.index_dir)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert KEYS <= set(figures), KEYS - set(figures)
    assert all(figures[k] > 0 for k in KEYS)
    assert figures["answer_p95_ms"] >= figures["answer_p50_ms"] and figures["questions"] == 3
    assert figures["prompt_tokens_max"] >= figures["prompt_tokens"]
    assert figures["backend"] == "transformers" and figures["rss_mb"] >= figures["rss_no_llm_mb"]
    assert not hash_settings.index_dir.exists()  # the benchmark builds its index in a temporary folder


def test_bench_with_a_gguf_measures_the_llama_cpp_backend(hash_settings, questions, tmp_path, capsys) -> None:
    pytest.importorskip("llama_cpp")
    from assistant.bench import build_tiny_model
    from tests.helpers import write_scripted_gguf

    tiny = build_tiny_model(tmp_path / "tiny", vocab_size=800, hidden_size=32, stop_at_eos=True)
    gguf = write_scripted_gguf(tiny, tmp_path / "endless.gguf", "吕薇认为，新质生产力的本质就是转变发展方式。[1]",
                               end=None)
    assert main(["bench", "--json", "--questions", str(questions), "--embedder", "hash", "--model", str(gguf),
                 "--llm-questions", "2", "--index-dir", str(hash_settings.index_dir)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert LLAMACPP_KEYS | KEYS <= set(figures), (LLAMACPP_KEYS | KEYS) - set(figures)
    assert figures["backend"] == "llamacpp" and figures["llm"] == "llamacpp:endless.gguf"
    assert all(figures[k] > 0 for k in LLAMACPP_KEYS) and figures["decode_ratio"] > 0
    assert figures["followups"] == 2 and figures["questions_llm"] == 2
