"""Post-processing of model replies, on replies the real model wrote.

``tests/data/recorded_replies.jsonl`` holds real replies of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, through
llama.cpp) to calibration questions, as ``assistant eval --answers --save-answers`` saved them: the question,
the passages the model was shown and its raw reply (``model_text``). Re-record with
    ASSISTANT_MAX_NEW_TOKENS=160 assistant eval --questions Q.jsonl --answers --no-baseline \\
        --model qwen2.5-coder-1.5b-instruct-q4_k_m.gguf --save-answers F.jsonl
Each reply is replayed through the post-processing stage as it is, and through the cases the stage exists
for (made from the same real reply: its markers alone, its sentences as a numbered list, cut mid-sentence,
cited to the wrong passage, markers at line starts and after a heading's colon), and a loopback server
replays them through the whole pipeline.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant import postprocess
from assistant.grounding import MARKER_RE, SUPPORTED, UNVERIFIABLE, check_sentence, letters, split_answer
from assistant.pipeline import BYLINES_ENGINE, Assistant
from assistant.types import Chunk, Passage

RECORDED = Path(__file__).parent / "data" / "recorded_replies.jsonl"
RECORDS = [json.loads(line) for line in RECORDED.read_text(encoding="utf-8").splitlines() if line.strip()]
EXPERTS = ["吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]


def _passages(record: dict) -> list[Passage]:
    return [Passage(Chunk(p["id"], p["text"], p["speaker"], p["affiliation"], p["title"], 0, p["paragraph"], 0,
                          len(p["text"])), p["score"]) for p in record["passages"]]


def _supported(text: str, passages: list[Passage]) -> list[tuple[str, tuple[int, ...]]]:
    return [(b, m) for b, m in postprocess.claims(text)
            if check_sentence(b, m, passages, EXPERTS).verdict in (SUPPORTED, UNVERIFIABLE)]


def test_the_corpus_is_real_replies_of_the_real_model() -> None:
    assert len(RECORDS) >= 30
    assert all(r["model_text"] and "qwen2.5-coder-1.5b" in r["model"] for r in RECORDS)


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_each_recorded_reply_is_made_checkable_or_replaced(record) -> None:
    passages = _passages(record)
    reply = postprocess.process(record["model_text"], passages, EXPERTS)
    if reply is None:  # not an answer: no content, or nothing in it supported
        assert not postprocess.has_content(postprocess.normalize(record["model_text"], len(passages)).text) or \
            not _supported(postprocess.normalize(record["model_text"], len(passages)).text, passages)
        return
    markers = [int(n) for m in MARKER_RE.finditer(reply.text) for n in re.findall(r"\d+", m.group(1))]
    assert all(1 <= n <= len(passages) for n in markers)
    assert _supported(reply.text, passages)  # what is kept has at least one supported claim
    for body, _ in postprocess.claims(reply.text):  # list numbers and headings are not claims
        assert not re.match(r"^\s*\d{1,2}[.、)]", body)


def _real_sentences(record: dict) -> list[tuple[str, tuple[int, ...]]]:
    passages = _passages(record)
    reply = postprocess.process(record["model_text"], passages, EXPERTS)
    # whole sentences (ending as sentences do), so that each case below has a sentence to reshape
    return [(b, m) for b, m in _supported(reply.text, passages) if re.search(r"[。！？.!?”」]$", b)] if reply else []


WITH_SUPPORT = [r for r in RECORDS if _real_sentences(r)]


def test_enough_recorded_replies_have_supported_sentences_to_vary() -> None:
    assert len(WITH_SUPPORT) >= 8


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_a_reply_of_only_markers_is_not_an_answer(record) -> None:
    only = " ".join(m.group(0) for m in MARKER_RE.finditer(record["model_text"])) or "[1] [2][3]"
    assert postprocess.process(only, _passages(record), EXPERTS) is None


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_list_numbers_are_structure_not_numbers(record) -> None:
    passages = _passages(record)
    sentences = _real_sentences(record)
    listed = "\n".join(f"{n}. {body}" + "".join(f"[{m}]" for m in markers)
                       for n, (body, markers) in enumerate(sentences, 1))
    reply = postprocess.process(listed, passages, EXPERTS)
    assert reply is not None
    verdicts = [check_sentence(b, m, passages, EXPERTS).verdict for b, m in postprocess.claims(reply.text)]
    assert verdicts == [check_sentence(b, m, passages, EXPERTS).verdict for b, m in sentences]


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_markers_at_line_starts_and_after_a_heading_colon_move_to_their_sentence(record) -> None:
    passages = _passages(record)
    body, markers = _real_sentences(record)[0]
    tag = "".join(f"[{m}]" for m in markers)
    for shaped in (f"{tag} {body}", f"{passages[markers[0] - 1].speaker}认为：{tag}\n{body}"):
        reply = postprocess.process(shaped, passages, EXPERTS)
        assert reply is not None and reply.text.rstrip().endswith(tag), reply and reply.text


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_a_reply_cut_at_the_length_limit_is_trimmed_with_a_notice(record) -> None:
    passages = _passages(record)
    body, markers = _real_sentences(record)[0]
    cut = f"{body}{''.join(f'[{m}]' for m in markers)}另外，{body[: max(4, len(body) // 2)]}"
    reply = postprocess.process(cut, passages, EXPERTS)
    assert reply is not None and reply.truncated and "length limit" in " ".join(reply.notices)
    assert reply.text.count("另外") == body.count("另外")  # the unfinished sentence is gone (the reply may say 另外)


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_a_paragraph_labelled_with_a_marker_cut_at_the_limit_keeps_its_citation(record) -> None:
    """"[1] A。A。A（cut）" under a heading: the label cites each sentence of its paragraph, so trimming the
    unfinished last one leaves the rest cited (the marker used to go to the line's end and be trimmed away)."""
    passages = _passages(record)
    body, markers = _real_sentences(record)[0]
    if re.search(r"[A-Za-z]{3}", body) or body.rstrip().endswith("."):
        pytest.skip("an English reply (or a sentence ended with '.'), which a cut sentence may also hold")
    tag = "".join(f"[{m}]" for m in markers)
    # the second sentence is not the first said again (a repeat would go, see below)
    shaped = f"具体如下：\n\n{tag} {body}此外，{body}{body[: max(4, len(body) // 2)]}"
    reply = postprocess.process(shaped, passages, EXPERTS)
    assert reply is not None and reply.truncated, shaped
    assert sum(bool(m) for _, m in postprocess.claims(reply.text)) >= 2, reply.text


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_a_sentence_cited_to_the_wrong_passage_is_re_cited(record) -> None:
    passages = _passages(record)
    body, markers = _real_sentences(record)[0]
    alone = [check_sentence(body, (n,), passages, EXPERTS).verdict in (SUPPORTED, UNVERIFIABLE)
             for n in range(1, len(passages) + 1)]
    wrong = [n for n, ok in enumerate(alone, 1) if not ok]
    if not wrong or not any(alone):
        pytest.skip("no single passage supports this sentence, or every one does: nothing to re-cite")
    reply = postprocess.process(f"{body}[{wrong[0]}]", passages, EXPERTS)
    assert reply is not None and reply.recited == 1
    ((_, now),) = split_answer(reply.text)
    assert check_sentence(body, now, passages, EXPERTS).verdict in (SUPPORTED, UNVERIFIABLE)


@pytest.mark.parametrize("record", WITH_SUPPORT, ids=[r["id"] for r in WITH_SUPPORT])
def test_a_sentence_the_model_says_again_goes_with_a_notice(record) -> None:
    # a small model loops, or copies one speaker's sentences under another's name ("盛朝迅：<吕薇's words>")
    passages = _passages(record)
    # a sentence long enough that saying it twice is a repeat (a short one, 二是工具革命。, may fairly come twice)
    long_enough = [(b, m) for b, m in _real_sentences(record)
                   if len(letters(postprocess._LABEL.sub("", b))) >= postprocess.REPEAT_MIN]
    if not long_enough:
        pytest.skip("no sentence of the reply is long enough to count as a repeat")
    body, markers = long_enough[0]
    cite = "".join(f"[{m}]" for m in markers)
    other = next(e for e in EXPERTS if e not in body)
    reply = postprocess.process(f"{body}{cite}\n{other}：{body}{cite}", passages, EXPERTS)
    assert reply is not None and [b for b, _ in postprocess.claims(reply.text)] == [body]
    assert other not in reply.text
    assert any("repeated" in n for n in reply.notices), reply.notices
    # control: said once, nothing goes and nothing is said about repeats
    once = postprocess.process(f"{body}{cite}", passages, EXPERTS)
    assert once is not None and [b for b, _ in postprocess.claims(once.text)] == [body]
    assert not any("repeated" in n for n in once.notices)


LOOPS = [json.loads(line) for line in (Path(__file__).parent / "data" / "recorded_loops.jsonl").read_text(
    encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("record", LOOPS, ids=[r["id"] for r in LOOPS])
def test_real_replies_that_loop_keep_each_claim_once(record) -> None:
    # replies of the real 1.5B model (0.10.0's prompt) that said the same sentences again, once under
    # another speaker's name
    passages = _passages(record)
    said = [letters(postprocess._LABEL.sub("", b)) for b, _ in
            postprocess.claims(postprocess.normalize(record["model_text"], len(passages)).text)]
    assert len(set(said)) < len(said)  # the control: as written, the reply repeats itself
    reply = postprocess.process(record["model_text"], passages, EXPERTS)
    assert reply is not None and any("repeated" in n for n in reply.notices)
    kept = [letters(postprocess._LABEL.sub("", b)) for b, _ in postprocess.claims(reply.text)]
    assert len(set(kept)) == len(kept) and set(kept) == set(said)


def test_only_a_sentence_of_some_length_counts_as_a_repeat() -> None:
    # "是的。" twice is speech, not a loop; the same claim twice, citing the same, is one claim
    assert postprocess.drop_repeats("是的。是的。") == ("是的。是的。", 0)
    claim = "吕薇认为人才是创新的关键"
    text, n = postprocess.drop_repeats(f"{claim}[1]。\n\n{claim}。[1]\n王蕴说了别的。[3]")
    assert n == 1 and text == f"{claim}[1]。\n\n王蕴说了别的[3]。"
    # a list item, or a speaker's heading, left with nothing goes with it; a heading with its sentence stays
    text, n = postprocess.drop_repeats(f"1. {claim}[1]。\n2. {claim}[1]。\n3. 王蕴说了别的。[2]")
    assert n == 1 and text == f"1. {claim}[1]。\n3. 王蕴说了别的[2]。"
    text, n = postprocess.drop_repeats(f"吕薇：\n{claim}[1]。\n盛朝迅：\n{claim}[1]。\n李平：\n王蕴说了别的话题[2]。")
    assert n == 1 and text == f"吕薇：\n{claim}[1]。\n李平：\n王蕴说了别的话题[2]。"
    # the controls: what is not the same sentence said again stays, word for word
    for kept in (f"{claim}[1]。{claim}[2]。",  # cited to another passage: another source says it too
                 "人才是创新的关键因素[1]。人才是创新的[2]关键因素。王蕴说人才是创新的关键因素，也要重视教育[3]。",
                 "会议于上午9:30开始讨论人才问题[1]。下午于14:30开始讨论人才问题[1]。"):  # a time, not a label
        assert postprocess.drop_repeats(kept) == (kept, 0)


def test_of_two_copies_the_one_under_the_cited_speakers_name_stays() -> None:
    def passage(n: int, speaker: str, text: str) -> Passage:
        return Passage(Chunk(f"p{n}", text, speaker, "某研究院", "题目", 0, n, 0, len(text)), 1.0)

    said = "企业家是重要的创新人才，在创新中的作用是配置和整合企业创新资源。"
    passages = [passage(1, "吕薇", said), passage(2, "盛朝迅", "要健全金融体系，" + said)]
    experts = ["吕薇", "盛朝迅"]
    # the wrong name first: the copy under 吕薇, whose passage it cites, is the one kept
    text, n = postprocess.drop_repeats(f"盛朝迅：{said}[1]\n吕薇：{said}[1]", passages, experts)
    assert n == 1 and text == f"吕薇：{said[:-1]}[1]。"
    # each expert cited to their own passage for the same words: both stay (the control)
    both = f"吕薇：{said[:-1]}[1]。\n盛朝迅：{said[:-1]}[2]。"
    assert postprocess.drop_repeats(both, passages, experts) == (both, 0)


# ----------------------------------------------------------------------------- through the pipeline


class _Replay(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that answers each recorded question with the model's recorded reply."""

    replies: dict[str, str] = {}

    def log_message(self, *args) -> None:  # noqa: D102
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        reply = next((r for q, r in self.replies.items() if f"Question: {q}" in prompt), "")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(0, len(reply), 8):
            delta = {"choices": [{"index": 0, "delta": {"content": reply[i:i + 8]}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(delta, ensure_ascii=False)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def replay_server():  # type: ignore[no-untyped-def]
    _Replay.replies = {r["question"]: r["model_text"] for r in RECORDS}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_recorded_replies_through_the_pipeline(replay_server, seed_index) -> None:
    """What the UI shows while streaming is the model's text; the final answer is either that text made
    checkable (the model's engine) or, visibly, the extractive answer with a notice."""
    settings = seed_index.settings.with_overrides(model="openai:recorded", base_url=replay_server)
    assistant = Assistant(settings, index=seed_index)
    engines = set()
    for record in RECORDS:
        response = assistant.stream(record["question"])
        streamed = "".join(response)
        answer = response.answer()
        engines.add(answer.model)
        if answer.decision == "refuse":
            continue
        assert answer.model_text == record["model_text"] or record["model_text"] not in streamed
        if answer.model.startswith("extractive (fallback"):
            assert "not backed by the passages" in answer.notice or "no citations" in answer.notice
        elif answer.model == BYLINES_ENGINE:  # a question about the speakers: their bylines, without the model
            assert answer.citations and all(c.passage.chunk.kind == "profile" for c in answer.citations)
        else:
            assert answer.model == "openai:recorded" and answer.citations
    assert "openai:recorded" in engines


def test_a_clause_ending_in_a_colon_is_no_label_stacked_on_the_speaker() -> None:
    """Names stacked on a label (吕薇：李平:…, a loop copying a labelled line) are labels; a clause that ends in a
    colon (本质是：) is what the sentence says, so two sentences that differ there are not one said twice (review)."""
    two = ("吕薇指出：数字经济的本质是：数据成为关键生产要素[1]。\n"
           "吕薇还强调：人工智能的基础是：数据成为关键生产要素[1]。")
    assert postprocess.drop_repeats(two)[1] == 0
    looped = "李平:新质生产力的提出有其深刻背景。[1]\n吕薇：李平:新质生产力的提出有其深刻背景。[1]"
    assert postprocess.drop_repeats(looped)[1] == 1  # control: the copy under a second name goes
