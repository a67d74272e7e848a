"""The Chroma index: chunks with their speaker metadata, built atomically.

Embedded (a ``PersistentClient`` in ``settings.index_dir``) by default, or a
Chroma server (``chroma run --path … --host 127.0.0.1``) when
``settings.chroma`` is its URL.

A small manifest collection records which chunk collection is live, which
embedder built it, and the sections it holds. A build writes a *new*
collection and switches the manifest to it only when every chunk is in, so an
interrupted or failed ingest leaves the previous index answering.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from langchain_core.embeddings import Embeddings

from .embed import embedder_name
from .settings import Settings
from .types import Chunk, Document

MANIFEST = "assistant_manifest"
PREFIX = "chunks_"
BATCH = 32
# An embedded index folder is this program's only by proof: this file, written when the folder is first
# claimed. `ingest --rebuild` touches nothing in a folder without it, and inside one removes only what
# Chroma itself writes (its sqlite database and its UUID-named segment folders).
MARKER = ".xinzhi-index"
CHROMA_FILES = frozenset({"chroma.sqlite3", "chroma.sqlite3-journal", "chroma.sqlite3-wal", "chroma.sqlite3-shm"})
SEGMENT_FILES = frozenset({"data_level0.bin", "header.bin", "length.bin", "link_lists.bin",
                           "index_metadata.pickle"})
NEUTRAL = frozenset({"README.md", ".gitkeep", ".gitignore", MARKER})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class IndexError_(RuntimeError):
    """The index cannot be used; the message says how to fix it."""


class NoIndex(IndexError_):
    pass


class EmbedderMismatch(IndexError_):
    pass


@dataclass(frozen=True)
class IngestReport:
    chunks: int
    embedded: int  # chunks whose vectors were computed (the rest were reused)
    sections: int
    changed: bool
    seconds: float
    warnings: tuple[str, ...] = ()


def connect(settings: Settings) -> Any:
    """A Chroma client for the configured place, with telemetry off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma == "embedded":
        return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)
    url = urlparse(settings.chroma if "://" in settings.chroma else f"http://{settings.chroma}")
    if not url.hostname:
        raise IndexError_(f"chroma = {settings.chroma!r}: give 'embedded' or a server URL such as http://127.0.0.1:8000")
    try:
        client = chromadb.HttpClient(host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https",
                                     settings=chroma_settings)
        client.heartbeat()
        return client
    except Exception as e:  # connection refused, DNS, timeouts: all mean "not reachable"
        raise IndexError_(
            f"cannot reach the Chroma server at {settings.chroma} ({type(e).__name__}); start it with "
            f"`chroma run --path {settings.index_dir} --host 127.0.0.1 --port {url.port or 8000}` "
            "or set chroma = 'embedded'") from None


def _is_chroma_entry(path: Path) -> bool:
    """A file or folder Chroma writes in its persist directory (and nothing a user keeps there)."""
    if path.is_file():
        return path.name in CHROMA_FILES
    return (path.is_dir() and bool(_UUID.match(path.name))
            and all(f.is_file() and f.name in SEGMENT_FILES for f in path.iterdir()))


def _foreign_entries(folder: Path) -> list[str]:
    """Names in ``folder`` that neither Chroma nor this program put there."""
    return sorted(c.name for c in folder.iterdir() if c.name not in NEUTRAL and not _is_chroma_entry(c))


def check_folder(folder: Path) -> None:
    """Refuse an embedded index folder that holds anything but this program's index.

    A folder is usable when it is missing, empty (a README aside), carries the marker, or holds only
    Chroma's own files (an index from before the marker existed; it is claimed on the next write).
    """
    if folder.exists() and not folder.is_dir():
        raise IndexError_(f"index_dir {folder} is a file, not a folder; set index_dir (or --index-dir) to a folder")
    if not folder.is_dir() or (folder / MARKER).is_file():
        return
    foreign = _foreign_entries(folder)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise IndexError_(f"{folder} is not an index of this assistant (it holds {shown}); nothing was changed. "
                          "Set index_dir (or --index-dir) to an empty or new folder")


def claim_folder(folder: Path) -> None:
    """Mark an embedded index folder as this program's before the first write to it."""
    check_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.is_file():
        marker.write_text(json.dumps({"created_by": "xinzhi-assistant", "version": 1}) + "\n", encoding="utf-8")


class Index:
    """The live chunk collection plus its manifest."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None, client: Any = None):
        self.settings = settings
        self.embedder = embedder
        self.where = str(settings.index_dir) if settings.chroma == "embedded" else settings.chroma
        if settings.chroma == "embedded" and client is None:
            check_folder(Path(settings.index_dir))
        try:
            self.client = client or connect(settings)
            self._manifest_col = self.client.get_or_create_collection(MANIFEST, embedding_function=None)
        except IndexError_:
            raise
        except Exception as e:
            raise IndexError_(f"the index in {self.where} cannot be opened ({type(e).__name__}: {e}); "
                              f"{_rebuild_hint(settings)}") from None
        self._chunks: list[Chunk] | None = None

    # ---------------------------------------------------------------- manifest
    @property
    def manifest(self) -> dict[str, Any] | None:
        meta = self._manifest_col.metadata or {}
        raw = meta.get("manifest")
        return json.loads(raw) if raw else None

    def _collection(self) -> Any:
        m = self.manifest
        if not m:
            raise NoIndex(f"no index in {self.where}; run `assistant ingest`")
        try:
            return self.client.get_collection(m["collection"], embedding_function=None)
        except Exception:
            raise IndexError_(f"the index in {self.where} is damaged (collection {m['collection']} is missing); "
                              "run `assistant ingest --rebuild`") from None

    def check_embedder(self) -> None:
        m = self.manifest
        if m and self.embedder is not None and m["embedder"] != embedder_name(self.embedder):
            raise EmbedderMismatch(
                f"the index in {self.where} was built with embedder {m['embedder']!r}, but "
                f"{embedder_name(self.embedder)!r} is configured; run `assistant ingest --rebuild` "
                "to rebuild it, or configure the embedder that built it")

    # ---------------------------------------------------------------- reading
    def chunks(self) -> list[Chunk]:
        """Every chunk in the live collection, in document order (cached)."""
        if self._chunks is None:
            got = self._collection().get(include=["documents", "metadatas"])
            chunks = [Chunk(id=i, text=d, **_meta(m)) for i, d, m in
                      zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
            order = {s: n for n, s in enumerate(d["source"] for d in (self.manifest or {}).get("documents", []))}
            chunks.sort(key=lambda c: (order.get(c.source, 1 << 30), c.section, c.start))
            self._chunks = chunks
        return self._chunks

    def vectorstore(self) -> Any:
        from langchain_chroma import Chroma

        self.check_embedder()
        return Chroma(client=self.client, collection_name=self._collection().name,
                      embedding_function=self.embedder, create_collection_if_not_exists=False)

    def dense_search(self, query: str, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks."""
        if self.embedder is None:
            raise IndexError_("dense search needs an embedder")
        self.check_embedder()
        col = self._collection()
        n = col.count()
        if n == 0:
            return []
        res = col.query(query_embeddings=[self.embedder.embed_query(query)], n_results=min(k, n),
                        where=where or None, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def stats(self) -> dict[str, Any]:
        m = self.manifest
        if not m:
            raise NoIndex(f"no index in {self.where}; run `assistant ingest`")
        by_speaker: dict[str, int] = {}
        for s in m["sections"]:
            by_speaker[s["speaker"]] = by_speaker.get(s["speaker"], 0) + s["chunks"]
        return {
            "sections": [{k: s[k] for k in ("speaker", "affiliation", "title", "chunks")} for s in m["sections"]],
            "speakers": by_speaker,
            "chunks": sum(s["chunks"] for s in m["sections"]),
            "documents": m["documents"],
            "embedder": m["embedder"],
            "index": self.where,
            "collection": m["collection"],
            "chunk_size": m["chunk_size"],
            "chunk_overlap": m["chunk_overlap"],
            "built_at": m["built_at"],
        }

    # ---------------------------------------------------------------- writing
    def build(self, docs: Sequence[Document], chunker: Callable[[Document], list[Chunk]], *,
              rebuild: bool = False, progress: bool = False) -> IngestReport:
        """Add or replace ``docs`` (by source name) and switch to the new collection when complete."""
        t0 = time.perf_counter()
        if self.embedder is None:
            raise IndexError_("building an index needs an embedder")
        old = None if rebuild else self.manifest
        if old and not rebuild:
            self.check_embedder()
        new_sources = {d.source for d in docs}
        kept_docs = [d for d in (old or {}).get("documents", []) if d["source"] not in new_sources]
        kept_chunks = [c for c in (self.chunks() if old else []) if c.source not in new_sources]
        new_chunks = [c for d in docs for c in chunker(d)]
        chunks = kept_chunks + new_chunks
        if not chunks:
            raise IndexError_("nothing to index: the documents hold no text")
        documents = kept_docs + [{"source": d.source, "title": d.title,
                                  "sections": len(d.sections)} for d in docs]
        sections = [s for s in (old or {}).get("sections", []) if s["source"] not in new_sources]
        for d in docs:
            for s in d.sections:
                sections.append({"source": d.source, "index": s.index, "speaker": s.speaker,
                                 "affiliation": s.affiliation, "title": s.title,
                                 "chunks": sum(1 for c in new_chunks if c.source == d.source and
                                               c.section == s.index)})
        warnings = tuple(w for d in docs for w in d.warnings)
        if old and sorted(c.id for c in chunks) == sorted(c.id for c in self.chunks()):
            return IngestReport(len(chunks), 0, len(sections), False, time.perf_counter() - t0, warnings)
        if self.settings.chroma == "embedded":
            claim_folder(Path(self.settings.index_dir))

        reuse = self._old_vectors() if old else {}
        name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        col = self.client.create_collection(name, embedding_function=None,
                                            configuration={"hnsw": {"space": "cosine"}},
                                            metadata={"embedder": embedder_name(self.embedder)})
        embedded = 0
        try:
            bar = _progress(len(chunks), progress)
            for i in range(0, len(chunks), BATCH):
                batch = chunks[i:i + BATCH]
                todo = [c for c in batch if c.id not in reuse]
                if todo:
                    for c, v in zip(todo, self.embedder.embed_documents([c.text for c in todo]), strict=True):
                        reuse[c.id] = v
                    embedded += len(todo)
                col.add(ids=[c.id for c in batch], documents=[c.text for c in batch],
                        metadatas=[c.metadata() for c in batch], embeddings=[reuse[c.id] for c in batch])
                bar(len(batch))
            bar(0, close=True)
        except BaseException:
            self.client.delete_collection(name)
            raise
        manifest = {"version": 1, "collection": name, "embedder": embedder_name(self.embedder),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "documents": documents,
                    "sections": sections, "chunk_size": self.settings.chunk_size,
                    "chunk_overlap": self.settings.chunk_overlap}
        self._manifest_col.modify(metadata={"manifest": json.dumps(manifest, ensure_ascii=False)})
        self._chunks = None
        self.drop_stale()
        return IngestReport(len(chunks), embedded, len(sections), True, time.perf_counter() - t0, warnings)

    def _old_vectors(self) -> dict[str, list[float]]:
        if self.embedder is None or (self.manifest or {}).get("embedder") != embedder_name(self.embedder):
            return {}
        got = self._collection().get(include=["embeddings"])
        return {i: list(map(float, v)) for i, v in zip(got["ids"], got["embeddings"], strict=True)}

    def drop_stale(self) -> None:
        """Delete chunk collections the manifest does not point at (left by interrupted builds)."""
        live = (self.manifest or {}).get("collection")
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(PREFIX) and name != live:
                self.client.delete_collection(name)


def _meta(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k, "" if k in ("speaker", "affiliation", "title", "source") else 0)
            for k in ("speaker", "affiliation", "title", "section", "paragraph", "start", "end", "source")}


def _progress(total: int, enabled: bool) -> Callable[..., None]:
    if not enabled:
        return lambda n, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="chunk", desc="embedding", leave=False)

    def step(n: int, close: bool = False) -> None:
        bar.update(n)
        if close:
            bar.close()
    return step


def _rebuild_hint(settings: Settings) -> str:
    folder = Path(settings.index_dir)
    if settings.chroma != "embedded" or (folder / MARKER).is_file():
        return ("`assistant ingest --rebuild` replaces it (it removes only Chroma's files there, "
                "nothing else in the folder)")
    return (f"{folder} has no {MARKER} marker, so `--rebuild` will not delete anything in it; "
            "if it is an old index of this assistant, move it aside and run `assistant ingest`, "
            "or set index_dir to a new folder")


def wipe_embedded(settings: Settings) -> list[str]:
    """Remove the Chroma files of an embedded index that cannot be opened (for ``--rebuild``).

    Only a folder carrying this program's marker is touched, and in it only Chroma's own database and
    segment folders; every other file stays. Returns the names removed.
    """
    folder = Path(settings.index_dir)
    if settings.chroma != "embedded" or not folder.exists():
        return []
    check_folder(folder)
    if not (folder / MARKER).is_file():
        raise IndexError_(f"the index in {folder} cannot be opened and {_rebuild_hint(settings)}")
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # drop the cached client holding the broken files
    removed = []
    for child in sorted(folder.iterdir()):
        if _is_chroma_entry(child):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
            removed.append(child.name)
    return removed
