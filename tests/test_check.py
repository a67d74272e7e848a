"""`assistant check FILE.jsonl`: verdicts per sentence, per-line errors, the summary, the exit status, the judge."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.check import check_lines, judge_prompt, parse_line
from assistant.cli import main

LV = "发展新质生产力的本质就是转变发展方式,从依靠增加投入为主转向依靠技术进步和创新,实现创新驱动发展。"
SHENG = ("我国拥有强大的制造能力和完善的配套体系,制造业增加值全球占比超过30%,有200多种产品产量世界第一,"
         "已形成45个世界级先进制造集群和66个战略性新兴产业集群。")
GOOD = {"question": "吕薇认为发展新质生产力的本质是什么？",
        "answer": "吕薇认为，发展新质生产力的本质就是转变发展方式。[1] 要从依靠增加投入为主转向依靠技术进步和创新。[1]",
        "passages": [{"text": LV, "speaker": "吕薇"}]}
BAD = {"question": "盛朝迅怎么看制造业？",
       "answer": "盛朝迅指出，我国制造业增加值全球占比不足30%。[1] 我国已形成66个世界级先进制造集群。[1]",
       "passages": [{"text": SHENG, "speaker": "盛朝迅"}]}


def _write(tmp_path: Path, *lines: object) -> str:
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
                    encoding="utf-8")
    return str(path)


def test_verdicts_and_summary_as_json(tmp_path, capsys) -> None:
    assert main(["check", _write(tmp_path, GOOD, BAD), "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["verdict"] for s in out[0]["sentences"]] == ["supported", "supported"]
    bad = out[1]["sentences"]
    assert [s["verdict"] for s in bad] == ["unsupported", "unsupported"]
    assert "不足" in bad[0]["reason"] and "66" in bad[1]["reason"]
    summary = out[-1]["summary"]
    assert summary["sentences"] == 4 and summary["verdicts"] == {"supported": 2, "unsupported": 2}
    assert summary["supported_share"] == 0.5 and summary["lines_with_errors"] == 0


def test_text_output_names_the_reason(tmp_path, capsys) -> None:
    main(["check", _write(tmp_path, BAD)])
    out = capsys.readouterr().out
    assert "line 1" in out and "unsupported" in out and "不足" in out and out.strip().splitlines()[-1].startswith(
        "summary: 2 sentences")


def test_min_supported_sets_the_exit_status(tmp_path, capsys) -> None:
    path = _write(tmp_path, GOOD, BAD)
    assert main(["check", path, "--min-supported", "0.5"]) == 0
    assert main(["check", path, "--min-supported", "0.9"]) == 1
    assert main(["check", _write(tmp_path, GOOD), "--min-supported", "1"]) == 0
    assert main(["check", path, "--min-supported", "90"]) == 2  # a share, not a percentage
    assert "below --min-supported 0.9" in capsys.readouterr().err


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ({"question": "q", "answer": "a[1]"}, "missing field(s): passages"),
    ({"answer": "a[1]", "passages": [{"text": "t"}]}, "missing field(s): question"),
    ({"question": "q", "answer": "  ", "passages": [{"text": "t"}]}, "the answer is empty"),
    ({"question": "q", "answer": "a[1]", "passages": []}, "non-empty list"),
    ({"question": "q", "answer": "a[1]", "passages": [{"speaker": "x"}]}, "passage 1 must be its text"),
    ({"question": "q", "answer": "a[1]", "passages": [""]}, "passage 1 must be its text"),
    ({"question": 3, "answer": "a[1]", "passages": [{"text": "t"}]}, "must be strings"),
])
def test_a_bad_line_is_reported_and_the_rest_still_checked(tmp_path, line, message) -> None:
    results = list(check_lines([json.dumps(GOOD, ensure_ascii=False),
                                line if isinstance(line, str) else json.dumps(line), "",
                                json.dumps(BAD, ensure_ascii=False)]))
    assert [r.line for r in results] == [1, 2, 4]  # a blank line is skipped, numbering kept
    assert message in results[1].error and not results[1].sentences
    assert not results[0].error and not results[2].error and len(results[2].sentences) == 2


def test_a_line_that_could_not_be_checked_fails_without_a_threshold(tmp_path, capsys) -> None:
    assert main(["check", _write(tmp_path, GOOD, BAD)]) == 0  # unsupported sentences alone: a report, not a failure
    capsys.readouterr()
    (tmp_path / "half.jsonl").write_text(json.dumps(GOOD, ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    assert main(["check", str(tmp_path / "half.jsonl")]) == 1
    captured = capsys.readouterr()
    assert "line 2" in captured.out and "supported" in captured.out  # the good line was still checked
    assert "1 line(s) could not be checked" in captured.err


def test_markers_beyond_the_passages(tmp_path, capsys) -> None:
    line = {**GOOD, "answer": "吕薇认为，发展新质生产力的本质就是转变发展方式。[3]"}
    (r,) = check_lines([json.dumps(line, ensure_ascii=False)])
    assert "[3] beyond the 1 passage(s)" in r.error and [s.verdict for s in r.sentences] == ["uncited"]
    assert main(["check", _write(tmp_path, GOOD, line), "--min-supported", "0.1"]) == 1  # a failed line fails CI


def test_unreadable_files_are_user_errors(tmp_path, capsys) -> None:
    assert main(["check", str(tmp_path / "missing.jsonl")]) == 2
    (tmp_path / "latin1.jsonl").write_bytes("é".encode("latin-1"))
    assert main(["check", str(tmp_path / "latin1.jsonl")]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_passages_without_a_speaker_and_english_answers() -> None:
    line = {"question": "What does Zhang Hui say?", "passages": [
        {"text": "2022年我国新能源汽车出口量超过德国,位居世界第二;2023年超过日本,位居世界第一。"}],
        "answer": "China's exports overtook Japan's in 2023, ranking first.[1] They overtook Germany's in 2021.[1]"}
    question, answer, passages = parse_line(json.dumps(line))
    assert passages[0].speaker == "" and question.startswith("What")
    (r,) = check_lines([json.dumps(line)])
    assert [s.verdict for s in r.sentences] == ["unverifiable", "unsupported"]


def test_ten_thousand_sentences_in_bounded_time() -> None:
    """A thousand lines of ten sentences: the passages repeat, as retrieved passages do across questions."""
    sentences = "".join(f"吕薇认为，发展新质生产力的本质就是转变发展方式{'。' if i % 2 else '，实现创新驱动发展。'}[1]"
                        for i in range(10))
    line = json.dumps({**GOOD, "answer": sentences}, ensure_ascii=False)
    t0 = time.perf_counter()
    results = list(check_lines([line] * 1000))
    seconds = time.perf_counter() - t0
    assert sum(len(r.sentences) for r in results) == 10000
    assert seconds < 120, f"{10000 / seconds:.0f} sentences/s"


# ----------------------------------------------------------------------------- the judge


class _Judge(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that says "no" to any sentence mentioning 创新驱动 and "yes" otherwise."""

    seen: list[str] = []

    def log_message(self, *args) -> None:  # noqa: D102
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        _Judge.seen.append(prompt)
        sentence = prompt.split("Sentence:", 1)[1]
        reply = "No." if "创新驱动" in sentence.split("\n", 1)[0] else "Yes"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"index": 0, "delta": {"content": reply}, "finish_reason": None}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())


@pytest.fixture
def judge_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_the_judge_must_agree_too(tmp_path, capsys, judge_server) -> None:
    _Judge.seen.clear()
    line = {**GOOD, "answer": "吕薇认为，发展新质生产力的本质就是转变发展方式。[1] 要实现创新驱动发展。[1]"}
    assert main(["check", _write(tmp_path, line, BAD), "--json", "--judge", "openai:judge",
                 "--base-url", judge_server]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    first = out[0]["sentences"]
    assert [s["verdict"] for s in first] == ["supported", "unsupported"]  # lexically supported, the judge says no
    assert "judge" in first[1]["reason"]
    # the judge is asked about sentences the lexical check did not already reject, with the cited passages
    assert len(_Judge.seen) == 2 and all(LV in p for p in _Judge.seen)
    assert [s["verdict"] for s in out[1]["sentences"]] == ["unsupported", "unsupported"]


def test_judge_prompt_numbers_the_passages() -> None:
    prompt = judge_prompt("一句话。", ["甲文。", "乙文。"])
    assert "[1] 甲文。\n[2] 乙文。" in prompt and "Sentence: 一句话。" in prompt and "{" not in prompt
