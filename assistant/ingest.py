"""Files -> parsed documents -> the index. Every file is read before the index is touched."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .chunk import chunk_sections
from .parse import InputError, parse_file
from .settings import Settings
from .store import Index, IngestReport
from .types import Chunk, Document

SUFFIXES = (".txt", ".md", ".markdown")


def document_paths(paths: Sequence[str | Path], settings: Settings) -> list[Path]:
    """Expand folders to the documents inside them; no paths means the seeds folder."""
    if not paths:
        paths = [settings.seeds_dir]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
            if not found:
                raise InputError(f"{p}: no .txt or .md documents in this folder")
            out.extend(found)
        else:
            out.append(p)
    return out


def load_documents(paths: Sequence[str | Path], settings: Settings) -> list[Document]:
    """Parse every file, or raise InputError for the first one that cannot be used."""
    docs = []
    for p in document_paths(paths, settings):
        doc = parse_file(p)
        if not doc.sections:
            raise InputError(f"{p}: no text found to index")
        docs.append(doc)
    return docs


def chunker(settings: Settings):  # type: ignore[no-untyped-def]
    def run(doc: Document) -> list[Chunk]:
        return chunk_sections(doc.sections, settings.chunk_size, settings.chunk_overlap)
    return run


def ingest(index: Index, paths: Sequence[str | Path] = (), *, rebuild: bool = False,
           progress: bool = False) -> IngestReport:
    docs = load_documents(paths, index.settings)
    return index.build(docs, chunker(index.settings), rebuild=rebuild, progress=progress)
