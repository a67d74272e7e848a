"""The model suite: the whole pipeline over the students' calibration questions, for one engine.

    ASSISTANT_TEST_MODEL=/path/to/model.gguf pytest tests/test_answers.py
    ASSISTANT_TEST_MODEL=openai:qwen2.5 OPENAI_BASE_URL=http://127.0.0.1:8080/v1 pytest tests/test_answers.py

For every answerable question the answer must come from that engine (``answer.model`` names it; a
fallback to the extractive answer is a failure that shows what the model said), must not be a refusal
(a hedge is allowed), must cite a gold speaker, and every sentence must be supported by the passage it
cites (an English sentence may be ``unverifiable``: nothing contradicts it, nothing can be matched).
Unanswerable questions must be refused or hedged, never answered plainly; false premises must be corrected.

The questions are ``tests/gold/calibration.jsonl`` (all of them for the extractive engine; an evenly
spread sample of ``ASSISTANT_TEST_SAMPLE`` questions, default 30, for a model; ``all`` for every one).
In the default run the suite answers with the extractive engine, and a negative control runs this same
suite, in a pytest subprocess, against a loopback model server that writes fluent, cited, corrupted
claims: the suite must fail for it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.grounding import SUPPORTED, UNVERIFIABLE
from assistant.pipeline import Assistant
from assistant.text import mostly_english

CALIBRATION = Path(__file__).resolve().parent / "gold" / "calibration.jsonl"
QUESTIONS = [json.loads(line) for line in CALIBRATION.read_text(encoding="utf-8").splitlines() if line.strip()]
MODEL = os.environ.get("ASSISTANT_TEST_MODEL", "extractive")


def _sample(questions: list[dict], size: str) -> list[dict]:
    """Every question, or ``size`` of them spread evenly over the file (so every type is in)."""
    if size == "all" or int(size) >= len(questions):
        return questions
    step = len(questions) / int(size)
    return [questions[int(i * step)] for i in range(int(size))]


SAMPLE = _sample(QUESTIONS, os.environ.get("ASSISTANT_TEST_SAMPLE", "all" if MODEL == "extractive" else "30"))


@pytest.fixture(scope="module")
def assistant(seed_index) -> Assistant:  # type: ignore[no-untyped-def]
    overrides = {"model": MODEL}
    if os.environ.get("OPENAI_BASE_URL"):
        overrides["base_url"] = os.environ["OPENAI_BASE_URL"]
    return Assistant(seed_index.settings.with_overrides(**overrides), index=seed_index)


def _ask(assistant: Assistant, q: dict):  # type: ignore[no-untyped-def]
    history = []
    for earlier in q.get("history") or []:
        history.append((earlier, assistant.ask(earlier, history)))
    return assistant.ask(q["question"], history)


@pytest.mark.skipif("ASSISTANT_TEST_MODEL" not in os.environ,
                    reason="the suite checks a model: set ASSISTANT_TEST_MODEL (the default run shows it can fail, "
                           "below; the extractive engine is measured by `assistant eval` on the held-out half)")
@pytest.mark.parametrize("q", SAMPLE, ids=[q["id"] for q in SAMPLE])
def test_gold_question(assistant, q) -> None:
    a = _ask(assistant, q)
    engine = assistant.model_name
    assert a.model == engine, (f"{q['id']}: answered by {a.model!r}, not {engine!r} "
                               f"(the model said: {a.model_text!r}; notice: {a.notice})")
    if q["expect"] == "refuse":  # refused, or hedged ("may not answer directly"), never answered plainly
        assert a.decision in ("refuse", "hedge"), f"{q['id']} is answered plainly: {a.text}"
        assert a.decision == "hedge" or not a.citations, a.text
        return
    assert a.decision != "refuse", f"false refusal of {q['id']} ({a.reason}): {q['question']}"
    cited = {c.passage.speaker for c in a.citations}
    assert cited & set(q["speakers"]), f"{q['id']}: cites {sorted(cited)}, not {q['speakers']}: {a.text}"
    allowed = {SUPPORTED, UNVERIFIABLE} if mostly_english(a.text) else {SUPPORTED}
    bad = [(s.verdict, s.reason, s.text) for s in a.sentences if s.verdict not in allowed]
    assert a.sentences and not bad, f"{q['id']} ({engine}): {bad}"
    if q["type"] == "false_premise":
        missing = [k for k in q["keywords"] if not any(alt in a.text for alt in k.split("|"))]
        assert not missing, f"{q['id']}: the correction lacks {missing}: {a.text}"


# ----------------------------------------------------------------------------- the negative control


class _CorruptingModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server whose answers read well, cite [1] and are wrong: the first passage's
    first sentence with its numbers changed and its claim negated, plus a claim from outside the passages."""

    def log_message(self, *args) -> None:  # noqa: D102
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        last = body["messages"][-1]["content"]
        if "Standalone question:" in last:  # a follow-up rewrite: give the question back
            reply = last.rsplit("Standalone question:", 1)[0].strip().splitlines()[-1]
        else:
            reply = self.corrupt(last)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(0, len(reply), 6):
            chunk = {"choices": [{"index": 0, "delta": {"content": reply[i:i + 6]}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    @staticmethod
    def corrupt(prompt: str) -> str:
        block = prompt.split("[1]", 1)[-1].split("\n", 1)[-1]
        first = re.split(r"[。！？；\n]", block.replace("……", ""), maxsplit=1)[0].strip() or "发展新质生产力"
        changed = re.sub(r"\d+", lambda m: str(int(m.group(0)) * 3 + 7), first)
        changed = re.sub(r"(要|是|有|能)", r"并不\1", changed, count=1) if changed == first else changed
        return (f"{changed}。[1]这一观点最早由美国经济学家在1987年提出，并已被七十多个国家写入法律。[1]")


@pytest.fixture
def corrupting_model():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CorruptingModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.skipif(MODEL != "extractive", reason="the negative control runs in the default (extractive) run")
def test_the_suite_fails_for_a_model_that_corrupts_its_claims(corrupting_model) -> None:
    env = {**os.environ, "ASSISTANT_TEST_MODEL": "openai:corrupting", "OPENAI_BASE_URL": corrupting_model,
           "ASSISTANT_TEST_SAMPLE": "6"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
                          str(Path(__file__)), "-k", "test_gold_question"],
                         env=env, capture_output=True, text=True, timeout=900, cwd=Path(__file__).parent.parent)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]  # 1: tests ran and failed (not 2-5: an error or no tests)
    failed = re.search(r"(\d+) failed", out)
    assert failed and int(failed.group(1)) >= 4, out[-3000:]
    # failed for the right reason: that engine answered, and the check found its claims unsupported
    assert "openai:corrupting" in out and "unsupported" in out, out[-3000:]
