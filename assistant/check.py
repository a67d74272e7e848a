"""`assistant check FILE.jsonl`: the grounding check on answers from any RAG system.

Each line: ``{"question": str, "answer": str with [n] markers, "passages": [{"text": str, "speaker": str?}]}``
(a passage may also be given as its text alone)
(marker n cites the n-th passage). Each answer sentence gets a verdict with a reason (``grounding.py``);
a summary follows. A bad line (not JSON, a missing or empty field, a marker beyond the passages) is
reported with its line number and the other lines are still checked. ``--judge MODEL`` also asks a
model (any ``--model`` backend) whether the passages entail each sentence; a sentence is supported
only if both agree. Exit status 1 if a line could not be checked, or, with ``--min-supported 0.9``, if fewer
sentences are supported.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .grounding import MARKER_RE, SUPPORTED, Judge, check_answer, parse_markers
from .types import Chunk, Passage, SentenceCheck


class LineError(ValueError):
    """A line that cannot be checked; the message says what is wrong with it."""


@dataclass(frozen=True)
class LineResult:
    line: int
    question: str = ""
    sentences: tuple[SentenceCheck, ...] = ()
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "question": self.question,
                               "sentences": [s.to_json() for s in self.sentences]}
        if self.error:
            out["error"] = self.error
        return out


def parse_line(raw: str) -> tuple[str, str, list[Passage]]:
    """(question, answer, passages) of one input line, or LineError."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise LineError(f"not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise LineError("not a JSON object with question, answer and passages")
    missing = [k for k in ("question", "answer", "passages") if k not in obj]
    if missing:
        raise LineError(f"missing field(s): {', '.join(missing)}")
    question, answer, items = obj["question"], obj["answer"], obj["passages"]
    if not isinstance(question, str) or not isinstance(answer, str):
        raise LineError("question and answer must be strings")
    if not answer.strip():
        raise LineError("the answer is empty")
    if not isinstance(items, list) or not items:
        raise LineError("passages must be a non-empty list of {\"text\": …, \"speaker\": …}")
    passages = []
    for n, item in enumerate(items, 1):
        if isinstance(item, str):  # a passage given as its text alone
            item = {"text": item}
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise LineError(f"passage {n} must be its text (a non-empty string) or {{\"text\": …, \"speaker\": …}}")
        speaker = item.get("speaker") or ""
        if not isinstance(speaker, str):
            raise LineError(f"passage {n}: \"speaker\" must be a string")
        text = item["text"]
        passages.append(Passage(Chunk(f"p{n}", text, speaker.strip(), "", "", n, 0, 0, len(text)), 0.0))
    return question, answer, passages


def check_lines(lines: Sequence[str], judge: Judge | None = None) -> Iterator[LineResult]:
    """Check every non-blank line; the experts the check knows are the speakers named anywhere in the file."""
    parsed: list[tuple[int, tuple[str, str, list[Passage]] | LineError]] = []
    for n, raw in enumerate(lines, 1):
        if raw.strip():
            try:
                parsed.append((n, parse_line(raw)))
            except LineError as e:
                parsed.append((n, e))
    experts = sorted({p.speaker for _, item in parsed if not isinstance(item, LineError)
                      for p in item[2] if p.speaker})
    for n, item in parsed:
        if isinstance(item, LineError):
            yield LineResult(n, error=str(item))
            continue
        question, answer, passages = item
        checks = tuple(check_answer(answer, passages, experts, judge))
        beyond = sorted({m for m in (int(x) for g in MARKER_RE.findall(answer) for x in re.split(r"\D+", g) if x)
                         if not 1 <= m <= len(passages)})
        error = (f"marker(s) {', '.join(f'[{m}]' for m in beyond)} beyond the {len(passages)} passage(s)"
                 if beyond else "" if checks else "no sentence to check")
        yield LineResult(n, question, checks, error)


def summarize(results: Iterable[LineResult], seconds: float) -> dict[str, Any]:
    results = list(results)
    verdicts = Counter(s.verdict for r in results for s in r.sentences)
    total = sum(verdicts.values())
    return {"lines": len(results), "lines_with_errors": sum(1 for r in results if r.error),
            "sentences": total, "verdicts": dict(verdicts),
            "supported_share": round(verdicts[SUPPORTED] / total, 4) if total else 0.0,
            "seconds": round(seconds, 3), "sentences_per_second": round(total / seconds, 1) if seconds else 0.0}


def render(result: LineResult) -> str:
    lines = [f"line {result.line}: {result.question[:60]}" if result.question else f"line {result.line}"]
    if result.error:
        lines.append(f"  error: {result.error}")
    for s in result.sentences:
        lines.append(f"  {s.verdict:<12} {parse_markers(s.text)[0][:70]} {list(s.markers) or ''}".rstrip())
        if s.reason and s.verdict != SUPPORTED:
            lines.append(f"  {'':<12} ↳ {s.reason}")
    return "\n".join(lines)


def render_summary(summary: dict[str, Any]) -> str:
    parts = ", ".join(f"{n} {v}" for v, n in sorted(summary["verdicts"].items(), key=lambda kv: -kv[1]))
    return (f"summary: {summary['sentences']} sentences in {summary['lines']} lines "
            f"({summary['lines_with_errors']} with errors): {parts or 'none'}; "
            f"supported {summary['supported_share']:.0%}; {summary['seconds']:.2f} s, "
            f"{summary['sentences_per_second']:.0f} sentences/s")


# ------------------------------------------------------------------------------------------- the judge


def judge_prompt(sentence: str, passages: Sequence[str]) -> str:
    template = resources.files("assistant.resources").joinpath("judge_prompt.txt").read_text(encoding="utf-8")
    numbered = "\n".join(f"[{n}] {t}" for n, t in enumerate(passages, 1))
    return template.replace("{passages}", numbered).replace("{sentence}", sentence)


def make_judge(generator: Any) -> Judge:
    """An entailment judge over any generator backend: "yes" if the passages state the whole sentence."""
    from .generate import Request

    def judge(sentence: str, passages: Sequence[str]) -> bool:
        messages = [{"role": "user", "content": judge_prompt(sentence, passages)}]
        reply = "".join(generator.stream(Request(sentence, messages, (), max_new_tokens=8))).strip().lower()
        return bool(re.match(r"^\W*(yes|是|对|支持|entailed)", reply))

    return judge


# ------------------------------------------------------------------------------------------- command


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="check the citations of any RAG system's answers (JSONL)")
    p.add_argument("file", help="JSONL: one {\"question\", \"answer\" with [n] markers, \"passages\": "
                                "[{\"text\", \"speaker\"}]} a line; - for standard input")
    p.add_argument("--json", action="store_true", help="one JSON object per line, then {\"summary\": …}")
    p.add_argument("--min-supported", type=float, metavar="SHARE",
                   help="exit status 1 if the share of supported sentences is below SHARE (0-1)")
    p.add_argument("--judge", metavar="MODEL", help="also ask this model (any --model backend) per sentence")
    p.add_argument("--base-url", help="the judge's OpenAI-compatible server (or OPENAI_BASE_URL)")
    p.add_argument("--config", help="a TOML config file (default: ./assistant.toml if present)")


def main(args: argparse.Namespace) -> int:
    from .cli import UserError

    if args.min_supported is not None and not 0 <= args.min_supported <= 1:
        raise UserError("--min-supported is a share between 0 and 1, e.g. 0.9")
    if args.file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            with open(args.file, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as e:
            raise UserError(f"{args.file}: cannot be read ({e.strerror})") from None
        except UnicodeDecodeError:
            raise UserError(f"{args.file}: not UTF-8 text") from None
    judge = None
    if args.judge:
        from .generate import make_generator
        from .settings import load_settings

        settings = load_settings(config=args.config, base_url=args.base_url)
        judge = make_judge(make_generator(settings, args.judge))
    t0 = time.perf_counter()
    results = []
    for r in check_lines(lines, judge):
        results.append(r)
        print(json.dumps(r.to_json(), ensure_ascii=False) if args.json else render(r), flush=True)
    summary = summarize(results, time.perf_counter() - t0)
    print(json.dumps({"summary": summary}, ensure_ascii=False) if args.json else render_summary(summary))
    # a line that could not be checked is a failure whether or not a threshold was asked for: a caller
    # (a CI step, a script) must not read "all fine" from a file it half understood
    if summary["lines_with_errors"]:
        print(f"{summary['lines_with_errors']} line(s) could not be checked (see 'error' above)", file=sys.stderr)
        return 1
    if args.min_supported is not None and summary["supported_share"] < args.min_supported:
        print(f"below --min-supported {args.min_supported:g}", file=sys.stderr)
        return 1
    return 0
