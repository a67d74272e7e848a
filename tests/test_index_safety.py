"""The index folder is the program's only by proof: `--rebuild` never deletes what it did not create."""

from __future__ import annotations

import hashlib
from pathlib import Path

from assistant.cli import main
from assistant.embed import HashEmbeddings
from assistant.ingest import ingest
from assistant.settings import Settings
from assistant.store import MARKER, Index
from tests.helpers import SEED


def _cli(*args: str, folder: Path) -> list[str]:
    return [*args, "--index-dir", str(folder), "--embedder", "hash"]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _users_folder(folder: Path) -> None:
    (folder / "thesis").mkdir(parents=True)
    (folder / "thesis" / "chapter1.tex").write_text("\\section{Intro} my thesis", encoding="utf-8")
    (folder / "photos").mkdir()
    (folder / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff" + b"cat" * 100)
    (folder / "notes.md").write_text("# my notes", encoding="utf-8")


def test_rebuild_on_a_foreign_folder_with_a_stray_chroma_file_deletes_nothing(tmp_path, capsys) -> None:
    folder = tmp_path / "home"
    _users_folder(folder)
    (folder / "chroma.sqlite3").write_bytes(b"not a database" * 50)
    before = _snapshot(folder)
    assert main(_cli("ingest", "--rebuild", str(SEED), folder=folder)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an index of this assistant" in err and "nothing was changed" in err
    assert _snapshot(folder) == before


def test_ingest_into_a_folder_of_user_files_refuses_and_writes_nothing(tmp_path, capsys) -> None:
    folder = tmp_path / "docs"
    _users_folder(folder)
    before = _snapshot(folder)
    for args in (("ingest", str(SEED)), ("ingest", "--rebuild", str(SEED)), ("stats",)):
        assert main(_cli(*args, folder=folder)) == 2
        assert "not an index of this assistant" in capsys.readouterr().err
    assert _snapshot(folder) == before


def test_rebuild_of_a_damaged_index_removes_only_chromas_files(tmp_path, capsys) -> None:
    folder = tmp_path / "index"
    assert main(_cli("ingest", str(SEED), folder=folder)) == 0
    assert (folder / MARKER).is_file()
    (folder / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    keep = folder / "my-notes.txt"  # a file a user put into the index folder later
    keep.write_text("keep me", encoding="utf-8")
    capsys.readouterr()
    assert main(_cli("stats", folder=folder)) == 2
    err = capsys.readouterr().err
    assert "--rebuild" in err and "removes only Chroma's files" in err
    assert main(_cli("ingest", "--rebuild", str(SEED), folder=folder)) == 0
    assert keep.read_text(encoding="utf-8") == "keep me"
    assert main(_cli("stats", folder=folder)) == 0


def test_a_damaged_index_without_the_marker_is_left_alone(tmp_path, capsys) -> None:
    """An index from before the marker, once damaged, cannot be proven ours: nothing is deleted."""
    folder = tmp_path / "old-index"
    assert main(_cli("ingest", str(SEED), folder=folder)) == 0
    (folder / MARKER).unlink()
    (folder / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    before = _snapshot(folder)
    capsys.readouterr()
    assert main(_cli("ingest", "--rebuild", str(SEED), folder=folder)) == 2
    err = capsys.readouterr().err
    assert "will not delete anything" in err
    assert _snapshot(folder) == before


def test_an_index_from_before_the_marker_still_opens_and_is_claimed_on_the_next_write(tmp_path) -> None:
    settings = Settings(index_dir=tmp_path / "legacy", embedder="hash")
    ingest(Index(settings, HashEmbeddings()), [SEED])
    (settings.index_dir / MARKER).unlink()
    assert Index(settings).stats()["chunks"] > 0  # reading needs no marker and writes none
    assert not (settings.index_dir / MARKER).exists()
    ingest(Index(settings, HashEmbeddings()), [SEED], rebuild=True)
    assert (settings.index_dir / MARKER).is_file()


def test_index_dir_that_is_a_file_is_a_one_line_error(tmp_path, capsys) -> None:
    target = tmp_path / "index"
    target.write_text("a file", encoding="utf-8")
    assert main(_cli("ingest", "--rebuild", str(SEED), folder=target)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a file, not a folder" in err
    assert target.read_text(encoding="utf-8") == "a file"


def test_the_default_folder_with_its_readme_is_claimed(tmp_path) -> None:
    folder = tmp_path / "vectorstore"
    folder.mkdir()
    (folder / "README.md").write_text("the index lives here", encoding="utf-8")
    ingest(Index(Settings(index_dir=folder, embedder="hash"), HashEmbeddings()), [SEED])
    assert (folder / MARKER).is_file() and (folder / "README.md").is_file()
