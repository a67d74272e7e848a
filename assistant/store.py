"""The Chroma index: chunks with their speaker metadata, built atomically, read without writing.

Embedded (a ``PersistentClient`` in ``settings.index_dir``) by default, or a
Chroma server (``chroma run --path … --host 127.0.0.1``) when
``settings.chroma`` is its URL; ``storage`` reaches either safely.

* **Builds.** A small manifest collection records which chunk collection is
  live, which embedder built it and the documents and sections it holds. A build
  writes a *new* collection and switches the manifest to it only when every chunk
  is in, so an interrupted or failed ingest leaves the previous index answering.
* **Generations.** An ``Index`` pins the build that was live when it first read,
  and the collection a build replaces is kept one more generation, so a running
  ``serve``/``chat`` keeps answering from what it opened until it reloads
  (``Index.outdated()`` tells it a newer build is live). Older collections, and
  the partial one of a killed ingest, are removed by the next ingest, under the lock.
* **One writer.** Ingests take the index's lock (``storage``); the second waits
  ``ingest_wait`` seconds, then stops with a one-line message.
* **Read-only reads.** An embedded index is read from a private snapshot:
  ``stats``, ``retrieve`` and ``ask`` never change the index folder and work on
  read-only storage. Every call to a Chroma server has a deadline.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from .embed import embedder_name
from .parse import content_hash
from .settings import Settings
from .storage import (
    LEASE,
    MARKER,
    ChromaUnavailable,
    EmbedderMismatch,
    IndexError_,
    IndexReplaced,
    IndexUnreadable,
    IngestBusy,
    NoIndex,
    ServerLease,
    bounded,
    check_folder,
    claim_folder,
    close_snapshot,
    connect,
    file_lock,
    is_outage,
    not_found,
    one_line,
    read_marker,
    rebuild_hint,
    snapshot,
    unreachable,
    wipe_embedded,
    write_marker,
)
from .types import Chunk, Document

__all__ = ["BATCH", "LEASE", "MANIFEST", "MARKER", "PREFIX", "ChromaUnavailable", "EmbedderMismatch", "Index",
           "IndexError_", "IndexReplaced", "IndexUnreadable", "IngestBusy", "IngestReport", "NoIndex",
           "wipe_embedded"]

MANIFEST = "assistant_manifest"
PREFIX = "chunks_"
BATCH = 32


@dataclass(frozen=True)
class IngestReport:
    chunks: int
    embedded: int  # chunks whose vectors were computed (the rest were reused)
    sections: int
    changed: bool
    seconds: float
    warnings: tuple[str, ...] = ()


# ------------------------------------------------------------------ the manifest


def _parse_manifest(meta: dict[str, Any] | None, where: str, settings: Settings, strict: bool = True
                    ) -> dict[str, Any] | None:
    raw = (meta or {}).get("manifest")
    if not raw:
        return None
    try:
        m = json.loads(raw)
        if not (isinstance(m, dict) and isinstance(m.get("collection"), str) and isinstance(m.get("embedder"), str)
                and isinstance(m.get("documents"), list) and isinstance(m.get("sections"), list)):
            raise ValueError("missing fields")
    except (ValueError, TypeError) as e:
        if not strict:
            return None
        raise IndexUnreadable(f"the manifest of the index in {where} is not valid ({one_line(e, 80)}); "
                              f"{rebuild_hint(settings)}") from None
    return m


class Index:
    """The chunk collection of one build (pinned when first read) plus its manifest."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None, client: Any = None):
        self.settings = settings
        self.embedder = embedder
        self.embedded = settings.chroma == "embedded"
        self.folder = Path(settings.index_dir)
        self.where = str(self.folder) if self.embedded else settings.chroma
        self._lock = threading.RLock()
        self._reader: Any = client  # the client reads go to (embedded: a snapshot, opened on first read)
        self._writer: Any = client  # the client builds go to (embedded: the real folder, opened by a build)
        self._snapshot: weakref.finalize | None = None
        self._opened = False
        self._pinned: dict[str, Any] | None = None
        self._col: Any = None
        self._chunks: list[Chunk] | None = None
        self._lease: ServerLease | None = None
        if client is None:
            if self.embedded:
                check_folder(self.folder)
            else:
                self._reader = self._writer = connect(settings)

    # ---------------------------------------------------------------- calls
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One Chroma call, bounded by ``chroma_timeout``; on a server, transport failures are named as outages."""
        if self.embedded:
            return bounded(lambda: fn(*args, **kwargs), self.settings)
        try:
            return bounded(lambda: fn(*args, **kwargs), self.settings)
        except ChromaUnavailable:
            raise
        except Exception as e:
            if is_outage(e):
                raise unreachable(self.settings, f"({type(e).__name__})") from None
            raise

    def _failure(self, e: Exception, what: str) -> IndexError_:
        if self.embedded:
            return IndexUnreadable(f"the index in {self.where} cannot be read ({what}: {one_line(e)}); "
                                   f"{rebuild_hint(self.settings)}")
        return IndexError_(f"the Chroma server at {self.where} failed ({what}: {one_line(e)}); "
                           "see the server's log")

    # ---------------------------------------------------------------- opening
    def _open(self) -> None:
        """Pin the build that is live now: every later read of this Index goes to it."""
        with self._lock:
            if self._opened:
                return
            if self._reader is None:
                if not (self.folder / "chroma.sqlite3").is_file():
                    self._opened = True  # no index yet; nothing is created by reading
                    return
                self._reader = bounded(self._open_snapshot, self.settings)  # copies the database: disk-bound
            self._pinned = self._read_manifest(self._reader)
            self._opened = True

    def _open_snapshot(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            tmp = snapshot(self.folder)
        except sqlite3.DatabaseError as e:
            raise IndexUnreadable(f"the index in {self.where} cannot be opened ({one_line(e)}); "
                                  f"{rebuild_hint(self.settings)}") from None
        except OSError as e:
            raise IndexError_(f"the index in {self.where} cannot be read ({e.strerror}: {e.filename}); "
                              "check the folder's permissions") from None
        try:
            client = chromadb.PersistentClient(path=str(tmp), settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise IndexUnreadable(f"the index in {self.where} cannot be opened ({type(e).__name__}: "
                                  f"{one_line(e)}); {rebuild_hint(self.settings)}") from None
        self._snapshot = weakref.finalize(self, close_snapshot, client, tmp)
        return client

    def _read_manifest(self, client: Any, strict: bool = True) -> dict[str, Any] | None:
        try:
            col = self._call(client.get_collection, MANIFEST, embedding_function=None)
        except ChromaUnavailable:
            raise
        except Exception as e:
            if not_found(e):
                return None
            raise self._failure(e, "reading the manifest") from None
        return _parse_manifest(col.metadata, self.where, self.settings, strict)

    def _pin(self, client: Any, manifest: dict[str, Any] | None) -> None:
        with self._lock:
            if self._snapshot is not None and client is not self._reader:
                self._snapshot()  # close the snapshot this Index read before
                self._snapshot = None
            self._reader, self._pinned, self._opened = client, manifest, True
            self._col, self._chunks = None, None

    @property
    def client(self) -> Any:
        if self._writer is not None:
            return self._writer
        self._open()
        if self._reader is None:
            raise NoIndex(f"no index in {self.where}; run `assistant ingest`")
        return self._reader

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The manifest of the build this Index reads (the live one when it was first read)."""
        self._open()
        return self._pinned

    def outdated(self) -> bool:
        """True when an ingest has switched the index to a newer build since this Index pinned its build:
        reopen (a new ``Index``) to answer from it. Reads nothing but the marker when embedded."""
        pinned = (self.manifest or {}).get("collection")
        if self.embedded:
            live = bounded(lambda: read_marker(self.folder), self.settings).get("collection")
            return bool(live) and live != pinned
        latest = self._read_manifest(self._reader, strict=False)
        return (latest or {}).get("collection") != pinned

    def _live(self) -> Any:
        """The pinned chunk collection."""
        m = self.manifest
        if not m:
            raise NoIndex(f"no index in {self.where}; run `assistant ingest`")
        with self._lock:
            if self._col is None:
                try:
                    self._col = self._call(self._reader.get_collection, m["collection"], embedding_function=None)
                except ChromaUnavailable:
                    raise
                except Exception as e:
                    raise self._gone(m["collection"]) if not_found(e) else self._failure(e, "opening") from None
            return self._col

    def _gone(self, name: str) -> IndexError_:
        """The pinned collection is missing: replaced by newer builds, or damage."""
        try:
            latest = (read_marker(self.folder) if self.embedded else
                      self._read_manifest(self._reader, strict=False) or {}).get("collection")
        except IndexError_:
            latest = None
        if latest and latest != name:
            return IndexReplaced(f"the index in {self.where} was rebuilt by `assistant ingest` since this process "
                                 "opened it and the build it was reading is gone; ask again to reload "
                                 "(or restart the server)")
        return IndexUnreadable(f"the index in {self.where} is damaged (collection {name} is missing); "
                               f"{rebuild_hint(self.settings)}")

    def _read(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """A read of the pinned collection, its failures named."""
        try:
            return self._call(fn, **kwargs)
        except ChromaUnavailable:
            raise
        except Exception as e:
            if not_found(e):
                raise self._gone((self._pinned or {}).get("collection", "?")) from None
            raise self._failure(e, what) from None

    def check_embedder(self, manifest: dict[str, Any] | None = None) -> None:
        m = manifest or self.manifest
        if m and self.embedder is not None and m["embedder"] != embedder_name(self.embedder):
            raise EmbedderMismatch(
                f"the index in {self.where} was built with embedder {m['embedder']!r}, but "
                f"{embedder_name(self.embedder)!r} is configured; run `assistant ingest --rebuild` "
                "to rebuild it, or configure the embedder that built it")

    # ---------------------------------------------------------------- reading
    def chunks(self) -> list[Chunk]:
        """Every chunk of the pinned build, in document order (cached)."""
        with self._lock:
            if self._chunks is None:
                col = self._live()
                got = self._read("reading chunks", col.get, include=["documents", "metadatas"])
                chunks = [Chunk(id=i, text=d, **_meta(m)) for i, d, m in
                          zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
                self._chunks = _in_order(chunks, self.manifest)
            return self._chunks

    def dense_search(self, query: str, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks."""
        if self.embedder is None:
            raise IndexError_("dense search needs an embedder")
        self.check_embedder()
        col = self._live()
        n = len(self.chunks())
        if n == 0:
            return []
        res = self._read("searching", col.query, query_embeddings=[self.embedder.embed_query(query)],
                         n_results=min(k, n), where=where or None, include=["distances"])
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
            "generation": m.get("generation", 1),
            "chunk_size": m.get("chunk_size"),
            "chunk_overlap": m.get("chunk_overlap"),
            "built_at": m.get("built_at", ""),
        }

    # ---------------------------------------------------------------- writing
    @contextmanager
    def ingest_lock(self, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Serialize ingests: a file lock in the folder (embedded) or a lease on the server."""
        if self.embedded:
            check_folder(self.folder)
            if not (self.folder / "chroma.sqlite3").exists():
                claim_folder(self.folder)  # the marker goes in before Chroma writes anything
            with file_lock(self.folder, self.settings.ingest_wait, on_wait):
                yield
            return
        self._lease = ServerLease(self._writer, self._call, self.where, self.settings.ingest_wait)
        self._lease.take(on_wait)
        try:
            yield
        finally:
            lease, self._lease = self._lease, None
            lease.release()

    def build(self, docs: Sequence[Document], chunker: Callable[[Document], list[Chunk]], *,
              rebuild: bool = False, progress: bool = False,
              on_wait: Callable[[str], None] | None = None) -> IngestReport:
        """Add or replace ``docs`` (by resolved path; the same text under another path replaces it) and
        switch to the new collection when complete. Runs under the ingest lock."""
        t0 = time.perf_counter()
        if self.embedder is None:
            raise IndexError_("building an index needs an embedder")
        with self.ingest_lock(on_wait):
            if self._writer is None:
                try:
                    self._writer = connect(self.settings)
                except Exception as e:
                    raise IndexUnreadable(f"the index in {self.where} cannot be opened ({type(e).__name__}: "
                                          f"{one_line(e)}); {rebuild_hint(self.settings)}") from None
            writer = self._writer
            try:
                mcol = self._call(writer.get_or_create_collection, MANIFEST, embedding_function=None)
            except IndexError_:
                raise
            except Exception as e:
                raise self._failure(e, "opening the manifest") from None
            current = _parse_manifest(mcol.metadata, self.where, self.settings, strict=not rebuild)
            if self.embedded:
                claim_folder(self.folder)  # an index from before the marker: claimed once it proved readable
            self._drop_stale(writer, current)  # e.g. the partial collection of a killed ingest
            old = None if rebuild else current
            if old:
                self.check_embedder(old)
            old_chunks, vectors = self._read_build(writer, old) if old else ([], {})
            plan = _plan(docs, chunker, old, old_chunks)
            chunks, documents, sections, warnings = plan
            if not chunks:
                raise IndexError_("nothing to index: the documents hold no text")
            if old and sorted(c.id for c in chunks) == sorted(c.id for c in old_chunks):
                self._pin(writer, old)
                return IngestReport(len(chunks), 0, len(sections), False, time.perf_counter() - t0, warnings)
            name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
            embedded = self._write_collection(writer, name, chunks, vectors, progress)
            manifest = {"version": 2, "collection": name, "embedder": embedder_name(self.embedder),
                        "generation": int((current or {}).get("generation", 0)) + 1,
                        "previous": (current or {}).get("collection"),
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "documents": documents,
                        "sections": sections, "chunk_size": self.settings.chunk_size,
                        "chunk_overlap": self.settings.chunk_overlap}
            try:
                self._renew_lease(force=True)  # still ours: nobody took over while this build ran
            except BaseException:
                self._call(writer.delete_collection, name)
                raise
            try:
                self._call(mcol.modify, metadata={"manifest": json.dumps(manifest, ensure_ascii=False)})
            except ChromaUnavailable:
                # no answer in time: the switch may still land after this (the call runs on), so the new
                # collection stays; the next ingest's _drop_stale removes it unless the manifest names it
                raise
            except BaseException:
                self._call(writer.delete_collection, name)
                raise
            if self.embedded:
                write_marker(self.folder, collection=name, generation=manifest["generation"])
            self._drop_stale(writer, manifest)
            self._pin(writer, manifest)
        return IngestReport(len(chunks), embedded, len(sections), True, time.perf_counter() - t0, warnings)

    def _read_build(self, client: Any, m: dict[str, Any]) -> tuple[list[Chunk], dict[str, list[float]]]:
        """The chunks of a build, and their vectors by text when this embedder made them (to reuse)."""
        try:
            col = self._call(client.get_collection, m["collection"], embedding_function=None)
            got = self._call(col.get, include=["documents", "metadatas", "embeddings"])
        except ChromaUnavailable:
            raise
        except Exception as e:
            raise IndexUnreadable(f"the index in {self.where} is damaged (collection {m['collection']}: "
                                  f"{one_line(e, 80)}); {rebuild_hint(self.settings)}") from None
        chunks = [Chunk(id=i, text=d, **_meta(x)) for i, d, x in
                  zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
        same = self.embedder is not None and m.get("embedder") == embedder_name(self.embedder)
        vectors = {d: list(map(float, v)) for d, v in zip(got["documents"], got["embeddings"], strict=True)} \
            if same else {}
        return _in_order(chunks, m), vectors

    def _write_collection(self, client: Any, name: str, chunks: list[Chunk], vectors: dict[str, list[float]],
                          progress: bool) -> int:
        """Write every chunk to a new collection; return how many were embedded. Nothing is left on failure."""
        assert self.embedder is not None
        col = self._call(client.create_collection, name, embedding_function=None,
                         configuration={"hnsw": {"space": "cosine"}},
                         metadata={"embedder": embedder_name(self.embedder)})
        embedded = 0
        try:
            bar = _progress(len(chunks), progress)
            for i in range(0, len(chunks), BATCH):
                batch = chunks[i:i + BATCH]
                todo = list(dict.fromkeys(c.text for c in batch if c.text not in vectors))
                if todo:
                    for text, v in zip(todo, self.embedder.embed_documents(todo), strict=True):
                        vectors[text] = v
                    embedded += len(todo)
                self._call(col.add, ids=[c.id for c in batch], documents=[c.text for c in batch],
                           metadatas=[c.metadata() for c in batch], embeddings=[vectors[c.text] for c in batch])
                self._renew_lease()
                bar(len(batch))
            bar(0, close=True)
        except BaseException:
            try:
                self._call(client.delete_collection, name)
            except Exception:  # noqa: BLE001 - the next ingest removes it under the lock
                pass
            raise
        return embedded

    def _renew_lease(self, force: bool = False) -> None:
        if self._lease is not None:
            self._lease.renew(force)

    def _drop_stale(self, client: Any, manifest: dict[str, Any] | None) -> None:
        """Delete chunk collections that are neither live nor the one generation kept for running readers
        (left by replaced builds and by interrupted ingests). Only ever called under the ingest lock."""
        keep = {(manifest or {}).get("collection"), (manifest or {}).get("previous")}
        for col in self._call(client.list_collections):
            name = col if isinstance(col, str) else col.name
            if name.startswith(PREFIX) and name not in keep:
                try:
                    self._call(client.delete_collection, name)
                except ChromaUnavailable:
                    raise
                except Exception as e:  # noqa: BLE001 - already gone
                    if not not_found(e):
                        raise

def _plan(docs: Sequence[Document], chunker: Callable[[Document], list[Chunk]], old: dict[str, Any] | None,
          old_chunks: list[Chunk]) -> tuple[list[Chunk], list[dict[str, Any]], list[dict[str, Any]], tuple[str, ...]]:
    """(chunks, documents, sections, warnings) of the index after adding ``docs`` to ``old``.

    A document is replaced by one of the same resolved path, or by one with the same text under another
    path (a moved or copied file: indexed once, under its new path). Entries from before paths were
    recorded (a bare file name, no hash) are replaced by a document of that name."""
    hashes = {d.source: content_hash(d) for d in docs}
    names = {Path(d.source).name for d in docs}
    warnings = [w for d in docs for w in d.warnings]
    kept_sources: set[str] = set()
    kept_docs = []
    for d in (old or {}).get("documents", []):
        src, sha = d.get("source", ""), d.get("sha256")
        if src in hashes:
            continue
        if sha and sha in hashes.values():
            new = next(s for s, h in hashes.items() if h == sha)
            warnings.append(f"{new} holds the same text as {src}, indexed before; it is now indexed once, "
                            f"under {new}")
            continue
        if not sha and "/" not in src and src in names:
            continue
        kept_sources.add(src)
        kept_docs.append(d)
    new_chunks = [c for d in docs for c in chunker(d)]
    chunks = [c for c in old_chunks if c.source in kept_sources] + new_chunks
    documents = kept_docs + [{"source": d.source, "name": Path(d.source).name, "title": d.title,
                              "sections": len(d.sections), "sha256": hashes[d.source]} for d in docs]
    sections = [s for s in (old or {}).get("sections", []) if s.get("source") in kept_sources]
    for d in docs:
        for s in d.sections:
            sections.append({"source": d.source, "index": s.index, "speaker": s.speaker,
                             "affiliation": s.affiliation, "title": s.title,
                             "chunks": sum(1 for c in new_chunks if c.source == d.source and c.section == s.index)})
    return chunks, documents, sections, tuple(warnings)


def _in_order(chunks: list[Chunk], manifest: dict[str, Any] | None) -> list[Chunk]:
    order = {s: n for n, s in enumerate(d["source"] for d in (manifest or {}).get("documents", []))}
    return sorted(chunks, key=lambda c: (order.get(c.source, 1 << 30), c.section, c.start))


def _meta(m: dict[str, Any]) -> dict[str, Any]:
    """A Chunk's fields (all but id and text) from its Chroma metadata; a field written by an older
    version gets its default."""
    out = {}
    for f in fields(Chunk):
        if f.name in ("id", "text"):
            continue
        default = f.default if f.default is not MISSING else ("" if f.type == "str" else 0)
        out[f.name] = m.get(f.name, default)
    return out


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

