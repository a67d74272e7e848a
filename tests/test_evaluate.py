"""`assistant eval`'s report of how a model's replies were handled (issue 16), on real answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

from assistant.cli import main
from assistant.evaluate import handling
from assistant.pipeline import Assistant


class Scripted:
    """A fake LLM that writes one fixed reply."""

    is_llm = True
    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def stream(self, request) -> Iterator[str]:  # type: ignore[no-untyped-def]
        yield self.reply


def _answer(seed_index, reply: str, question: str) -> dict:  # type: ignore[no-untyped-def]
    settings = seed_index.settings.with_overrides(condense="rules")
    return Assistant(settings, generator=Scripted(reply), index=seed_index).ask(question).to_json()


def test_handling_counts_kept_replaced_and_refused_replies_and_their_notices(seed_index, tmp_path, capsys) -> None:
    q = "吕薇认为发展新质生产力的本质是什么？"
    kept = _answer(seed_index, "吕薇认为，发展新质生产力的本质就是转变发展方式。", q)  # no marker: attributed
    replaced = _answer(seed_index, "火星上的企业都在生产量子香蕉。[1]", q)  # nothing in it is supported
    refused = _answer(seed_index, "文档中没有能回答这个问题的内容。", q)
    h = handling([kept, replaced, refused])
    assert h["answers"] == 3
    assert h["shown"] == {"model": 1, "replaced by extractive": 1, "refused": 1} and h["model_refused"] == 1
    assert h["verdicts"]["model"].get("supported", 0) >= 1
    assert any("not backed by the passages" in n for n in h["notices"])
    assert any("matched to the passage that supports" in n for n in h["notices"])
    assert h["ttft_s"]["p50"] is not None  # the two answers the model wrote were timed

    saved = tmp_path / "answers.jsonl"
    saved.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in (kept, replaced, refused)),
                     encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", "--replies", str(saved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shown"] == h["shown"]


def test_an_extractive_run_has_nothing_replaced(seed_index) -> None:
    a = Assistant(seed_index.settings.with_overrides(model="extractive"), index=seed_index)
    h = handling([a.ask("金碚怎么看新质生产力？").to_json()])
    assert h["shown"] == {"extractive": 1} and not h["verdicts"]["model"]


def test_notice_counts_fold_numbers_and_a_file_that_is_not_saved_answers_is_one_line(tmp_path, capsys) -> None:
    rows = [{"model": "m", "decision": "answer", "sentences": [], "notice": f"{n} sentence(s) were re-cited"}
            for n in (2, 3)]
    assert handling(rows)["notices"] == {"N sentence(s) were re-cited": 2}
    assert handling(rows)["ttft_s"] == {"p50": None, "p95": None}  # nothing timed: no figure, not NaN
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"question": "吕薇讲了什么"}\n', encoding="utf-8")
    assert main(["eval", "--replies", str(questions)]) == 2
    err = capsys.readouterr().err.strip()
    assert "line 1 is not a saved answer" in err and "Traceback" not in err


def test_key_terms_are_matched_whatever_the_spacing_around_numbers() -> None:
    from assistant.evaluate import _keyword_recall

    q = {"keywords": ["3月24日", "large model|大模型", "黑龙江"]}
    # the document writes "3 月 24 日"; a gold writer "3月24日": the same words to a reader
    assert _keyword_recall(q, "座谈会于 2024 年 3 月 24 日举办，讨论了 Large  Model。") == 2 / 3
    assert _keyword_recall(q, "座谈会于 2024 年 3 月 14 日举办。") == 0.0  # a different date is not the term


def test_a_sentence_shown_without_what_it_leans_on_is_counted() -> None:
    from assistant.evaluate import _cut_from_antecedent
    from assistant.types import Answer, Chunk, Passage, SentenceCheck

    text = "平台企业吸纳了大量灵活就业人员。但平台劳动者的社会保障仍然不足。平台规则应当公开透明。"
    p = Passage(Chunk("c0", text, "钱小红", "某某研究院", "平台劳动", 1, 0, 0, len(text)), 1.0)

    def answer(*sentences: str) -> Answer:
        checks = tuple(SentenceCheck(s, (1,), "supported") for s in sentences)
        return Answer("q", "".join(sentences), (), False, "extractive", checks, (p,))

    frames = ["钱小红"]
    turn = "但平台劳动者的社会保障仍然不足。"
    assert _cut_from_antecedent(answer("钱小红：" + turn), frames) == 1.0
    assert _cut_from_antecedent(answer("钱小红：平台规则应当公开透明。", turn), frames) == 1.0
    # the controls: after the sentence it turns from, or opening with no connective
    assert _cut_from_antecedent(answer("钱小红：平台企业吸纳了大量灵活就业人员。", turn), frames) == 0.0
    assert _cut_from_antecedent(answer("钱小红：平台规则应当公开透明。"), frames) == 0.0
