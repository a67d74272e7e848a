"""`assistant bench --json` keeps its promised keys (figures are measured, not asserted: no timed tests)."""

from __future__ import annotations

import json

from assistant.cli import main

KEYS = {"index_build_s", "index_reopen_s", "retrieval_p50_ms", "retrieval_p95_ms", "answer_p50_ms", "answer_p95_ms",
        "generate_overhead_ratio", "ttft_ms", "rss_mb", "prompt_tokens"}


def test_bench_json_has_every_figure(hash_settings, tmp_path, capsys) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps({"question": q}, ensure_ascii=False) for q in (
        "吕薇认为发展新质生产力的本质是什么？", "张辉如何看待传统产业？", "Ren Baoping on computing power")),
        encoding="utf-8")
    assert main(["bench", "--json", "--questions", str(questions), "--embedder", "hash",
                 "--index-dir", str(hash_settings.index_dir)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert KEYS <= set(figures), KEYS - set(figures)
    assert all(figures[k] > 0 for k in KEYS)
    assert figures["answer_p95_ms"] >= figures["answer_p50_ms"] and figures["questions"] == 3
    assert figures["prompt_tokens_max"] >= figures["prompt_tokens"]
    assert not hash_settings.index_dir.exists()  # the benchmark builds its index in a temporary folder
