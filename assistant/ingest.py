"""Files -> parsed documents -> the index. Every file is read before the index is touched.

A document is known by its resolved path (two ``talk.md`` in different folders are two documents)
and carries a hash of its content, so the same text given twice is caught before it is indexed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .chunk import chunk_sections
from .parse import InputError, content_hash, parse_file
from .settings import Settings
from .store import Index, IngestReport
from .types import Chunk, Document

SUFFIXES = (".txt", ".md", ".markdown")


def document_paths(paths: Sequence[str | Path], settings: Settings) -> list[Path]:
    """Expand folders to the documents inside them; no paths means the seeds folder. A file named
    twice (directly and through its folder) is listed once."""
    if not paths:
        paths = [settings.seeds_dir]
    out: dict[Path, Path] = {}
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
            if not found:
                raise InputError(f"{p}: no .txt or .md documents in this folder")
            for f in found:
                out.setdefault(f.resolve(), f)
        else:
            out.setdefault(p.resolve() if p.exists() else p, p)
    return list(out.values())


def load_documents(paths: Sequence[str | Path], settings: Settings) -> list[Document]:
    """Parse every file, or raise InputError for the first one that cannot be used."""
    docs: list[Document] = []
    seen: dict[str, Path] = {}
    for p in document_paths(paths, settings):
        doc = parse_file(p)
        if not doc.sections:
            raise InputError(f"{p}: no text found to index")
        digest = content_hash(doc)
        if digest in seen:
            raise InputError(f"{seen[digest]} and {p} hold the same text; give only one of them "
                             "(nothing was indexed)")
        seen[digest] = p
        docs.append(doc)
    return docs


def chunker(settings: Settings) -> Callable[[Document], list[Chunk]]:
    def run(doc: Document) -> list[Chunk]:
        return chunk_sections(doc.sections, settings.chunk_size, settings.chunk_overlap)
    return run


def ingest(index: Index, paths: Sequence[str | Path] = (), *, rebuild: bool = False, progress: bool = False,
           on_wait: Callable[[str], None] | None = None) -> IngestReport:
    """Parse ``paths`` (default: the seeds) and build them into ``index``; ``on_wait`` hears when this
    ingest has to wait for another one holding the index's lock."""
    docs = load_documents(paths, index.settings)
    return index.build(docs, chunker(index.settings), rebuild=rebuild, progress=progress, on_wait=on_wait)


def stale_documents(index: Index) -> list[Path]:
    """The indexed documents this version would parse or chunk differently from the build (a parser fix
    since the index was built): their files, to ingest again. A document whose file is gone or no longer
    parses is left as the build has it."""
    m = index.manifest or {}
    if (m.get("chunk_size"), m.get("chunk_overlap")) != (index.settings.chunk_size, index.settings.chunk_overlap):
        return []  # other chunk settings than the build's: `assistant ingest --rebuild` applies them, not a reader
    have: dict[str, set[str]] = {}
    for c in index.chunks():
        have.setdefault(c.source, set()).add(c.id)
    run = chunker(index.settings)
    stale = []
    for d in m.get("documents", []):
        path = Path(d.get("source", ""))
        if not path.is_file():
            continue
        try:
            doc = parse_file(path)
        except InputError:
            continue
        if not doc.sections:
            continue
        if {c.id for c in run(doc)} != have.get(str(path), set()):
            stale.append(path)
    return stale
