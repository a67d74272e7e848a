"""Issue 15, as a hostile or clumsy user would find it: each finding reproduced, and held.

Running processes keep answering while ingests replace the index; ingests take turns; a Chroma
server that hangs or goes away is named as an outage within its deadline; an installed wheel runs;
documents are known by path and content; read-only commands never write; every listed traceback
is a one-line error; and random input never raises anything but the documented QuestionError.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from assistant.cli import main
from assistant.embed import HashEmbeddings
from assistant.ingest import ingest
from assistant.settings import Settings
from assistant.store import PREFIX, ChromaUnavailable, Index, IndexReplaced
from tests.helpers import DATA, ROOT, SEED

QUESTION = "吕薇认为发展新质生产力的本质是什么？"


def _args(*args: str, folder: Path) -> list[str]:
    return [*args, "--index-dir", str(folder), "--embedder", "hash"]


def _copy_index(hash_index, tmp_path: Path) -> Settings:  # type: ignore[no-untyped-def]
    folder = tmp_path / "index"
    shutil.copytree(hash_index.settings.index_dir, folder)
    return hash_index.settings.with_overrides(index_dir=folder)


def _files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: a hash of its bytes and its modification time."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _speakers_file(path: Path, affiliation: str = "某某大学劳动经济研究中心主任") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (DATA / "transcript.md").read_text(encoding="utf-8").replace("某某大学劳动经济研究中心主任", affiliation)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ 2. a running process and a new build


def test_a_running_reader_keeps_answering_while_ingests_replace_the_index(hash_index, tmp_path) -> None:
    """Finding 2: an ingest's clean-up deleted the collection a running serve/chat used."""
    from assistant.retrieve import Retriever

    settings = _copy_index(hash_index, tmp_path)
    reader = Retriever(Index(settings, HashEmbeddings()), settings)
    before = [p.id for p in reader.search(QUESTION).passages]
    assert not reader.index.outdated()
    for affiliation in ("甲大学", "乙大学", "丙大学"):  # three builds: the reader's is long replaced
        report = ingest(Index(settings, HashEmbeddings()), [_speakers_file(tmp_path / "talk.md", affiliation)])
        assert report.changed
    assert [p.id for p in reader.search(QUESTION).passages] == before  # still its own build
    assert reader.index.outdated()  # and it knows a newer one is live
    fresh = Index(settings, HashEmbeddings())
    assert {"孙丽", "周强"} <= set(fresh.stats()["speakers"]) and not fresh.outdated()


def test_a_server_reader_keeps_its_build_one_generation_then_is_told_to_reload(chroma_server, tmp_path) -> None:
    from assistant.retrieve import Retriever

    settings = Settings(index_dir=tmp_path / "unused", chroma=chroma_server, embedder="hash")
    ingest(Index(settings, HashEmbeddings()), [SEED])
    reader = Retriever(Index(settings, HashEmbeddings()), settings)
    ingest(Index(settings, HashEmbeddings()), [_speakers_file(tmp_path / "a" / "talk.md")])
    assert reader.search(QUESTION).passages  # its build was kept one generation
    assert reader.index.outdated()
    ingest(Index(settings, HashEmbeddings()), [_speakers_file(tmp_path / "b" / "talk.md", "乙大学")])
    with pytest.raises(IndexReplaced) as e:
        reader.search(QUESTION)
    assert "reload" in str(e.value) and "--rebuild" not in str(e.value) and "damaged" not in str(e.value)
    names = {c.name for c in Index(settings).client.list_collections() if c.name.startswith(PREFIX)}
    assert len(names) == 2  # the live build and the one before it


def _chat(monkeypatch, capsys, args: list[str], steps: list) -> tuple[str, list[float]]:  # type: ignore[no-untyped-def]
    """Run `assistant chat`, feeding it ``steps``: each a question, or a callable run before the next one.
    Returns the output and how long each question took."""
    feed = list(steps)
    times: list[float] = []

    def fake_input(prompt: str = "") -> str:
        times.append(time.monotonic())
        while feed and callable(feed[0]):
            feed.pop(0)()
        return feed.pop(0) if feed else ""

    monkeypatch.setattr("builtins.input", fake_input)
    capsys.readouterr()
    assert main(["chat", *args]) == 0
    return capsys.readouterr().out, [b - a for a, b in zip(times, times[1:], strict=False)]


def test_chat_answers_from_a_new_build_on_the_next_question_and_says_so(hash_index, tmp_path, monkeypatch,
                                                                        capsys) -> None:
    settings = _copy_index(hash_index, tmp_path)

    def new_build() -> None:
        ingest(Index(settings, HashEmbeddings()), [_speakers_file(tmp_path / "talk.md")])

    out, _ = _chat(monkeypatch, capsys, _args("--model", "extractive", folder=settings.index_dir),
                   [QUESTION, new_build, "孙丽认为人工智能会替代哪些岗位？"])
    assert out.count("answering from the new build") == 1
    assert "孙丽（" in out.split("answering from the new build")[1]


def test_chat_shows_the_checked_answer_when_the_models_markers_were_corrected(hash_index, tmp_path, monkeypatch,
                                                                              capsys) -> None:
    """The streamed reply cites [5] for a sentence passage [1] holds; post-processing re-cites it. The sources the
    chat lists must belong to the markers on screen, so the checked answer is printed after the stream."""
    from assistant import cli
    from assistant.pipeline import Assistant as RealAssistant

    settings = _copy_index(hash_index, tmp_path)

    class MisCiting:
        is_llm, name = True, "miscite"

        def stream(self, request):  # type: ignore[no-untyped-def]
            first = next(s for s in request.passages[0].text.split("。") if len(s) > 15)
            yield f"{first}。[5]"

    monkeypatch.setattr(cli, "_assistant", lambda args: RealAssistant(settings, generator=MisCiting()))
    out, _ = _chat(monkeypatch, capsys, _args("--model", "extractive", folder=settings.index_dir), [QUESTION])
    assert "[5]" in out.split("— checked and cited:")[0]  # what streamed
    checked = out.split("— checked and cited:")[1]
    assert "[1]" in checked and "[5]" not in checked.split("\n\n")[0], checked


def test_a_second_ingest_waits_a_bounded_time_then_exits_with_one_line(tmp_path, monkeypatch, capsys) -> None:
    """Finding 3: two ingests at once had no lock."""
    folder = tmp_path / "index"
    assert main(_args("ingest", str(SEED), folder=folder)) == 0
    monkeypatch.setenv("ASSISTANT_INGEST_WAIT", "0.5")
    holder = Index(Settings(index_dir=folder, embedder="hash"), HashEmbeddings())
    capsys.readouterr()
    with holder.ingest_lock():
        t0 = time.monotonic()
        assert main(_args("ingest", str(DATA / "transcript.md"), folder=folder)) == 2
        waited = time.monotonic() - t0
    err = capsys.readouterr().err
    assert err.startswith("note: another ingest is writing the index")  # it said it was waiting
    line = _one_line(err.split("\n", 1)[1])
    assert "another `assistant ingest` is writing the index" in line and "nothing was changed" in line
    assert 0.4 < waited < 5
    assert "孙丽" not in Index(Settings(index_dir=folder, embedder="hash")).stats()["speakers"]


def test_two_ingests_at_once_both_land(tmp_path) -> None:
    """Two `assistant ingest` processes started together (held at the lock until both wait on it):
    both finish, and both documents are in the index."""
    folder = tmp_path / "index"
    exe = [sys.executable, "-m", "assistant.cli", "ingest", "--index-dir", str(folder), "--embedder", "hash"]
    holder = Index(Settings(index_dir=folder, embedder="hash"), HashEmbeddings())
    with holder.ingest_lock():
        procs = [subprocess.Popen([*exe, str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for p in (SEED, DATA / "transcript.md")]
        waiting = [threading.Event() for _ in procs]

        def watch(proc: subprocess.Popen, seen: threading.Event, lines: list[str]) -> None:
            for line in proc.stderr:  # type: ignore[union-attr]
                lines.append(line)
                if line.startswith("note: another ingest"):
                    seen.set()

        errs: list[list[str]] = [[], []]
        watchers = [threading.Thread(target=watch, args=(p, w, e), daemon=True)
                    for p, w, e in zip(procs, waiting, errs, strict=True)]
        for t in watchers:
            t.start()
        assert all(w.wait(120) for w in waiting), errs  # both are blocked on the lock
    outs = [p.communicate(timeout=180)[0] for p in procs]
    for t in watchers:
        t.join(10)
    assert [p.returncode for p in procs] == [0, 0], (outs, errs)
    speakers = Index(Settings(index_dir=folder, embedder="hash")).stats()["speakers"]
    assert {"吕薇", "孙丽"} <= set(speakers)


def test_a_server_ingest_waits_for_a_held_lease_and_takes_an_expired_one(chroma_server, tmp_path) -> None:
    from assistant.store import LEASE, IngestBusy

    settings = Settings(index_dir=tmp_path / "unused", chroma=chroma_server, embedder="hash", ingest_wait=0.5)
    index = Index(settings, HashEmbeddings())
    held = {"owner": "someone-else", "host": "another-host", "pid": 1, "expires": time.time() + 600}
    index.client.create_collection(LEASE, embedding_function=None, metadata=held)
    t0 = time.monotonic()
    with pytest.raises(IngestBusy, match="another `assistant ingest` is writing"):
        ingest(index, [SEED])
    assert time.monotonic() - t0 < 5
    index.client.get_collection(LEASE).modify(metadata={**held, "expires": time.time() - 1})
    assert ingest(Index(settings, HashEmbeddings()), [SEED]).changed  # an expired lease is taken over
    assert LEASE not in {c.name for c in index.client.list_collections()}  # and released after


def test_a_killed_ingests_partial_collection_goes_at_the_next_ingest_even_an_unchanged_one(tmp_path) -> None:
    settings = Settings(index_dir=tmp_path / "index", embedder="hash")
    ingest(Index(settings, HashEmbeddings()), [SEED])
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(settings.index_dir),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    client.create_collection(f"{PREFIX}killedmidway", embedding_function=None)
    report = ingest(Index(settings, HashEmbeddings()), [SEED])
    assert not report.changed
    names = {c.name for c in client.list_collections()}
    assert f"{PREFIX}killedmidway" not in names and sum(n.startswith(PREFIX) for n in names) == 1


# ------------------------------------------------------------------ 3. Chroma that hangs or goes away


def test_a_chroma_server_that_never_answers_is_an_outage_within_the_deadline(stalled_server, monkeypatch,
                                                                             capsys) -> None:
    """Finding 4: a Chroma server that accepts connections but never answers hung `ask` forever."""
    monkeypatch.setenv("ASSISTANT_CHROMA_TIMEOUT", "1.5")
    capsys.readouterr()
    t0 = time.monotonic()
    assert main(["ask", QUESTION, "--chroma", stalled_server, "--embedder", "hash", "--model", "extractive"]) == 2
    assert time.monotonic() - t0 < 1.5 + 1
    line = _one_line(capsys.readouterr().err)
    assert f"cannot reach the Chroma server at {stalled_server} in 1.5 s" in line
    assert "--rebuild" not in line and "damaged" not in line


def test_the_cli_process_ends_too(stalled_server) -> None:
    """No thread left waiting on the hung server keeps the process alive."""
    env = {**os.environ, "ASSISTANT_CHROMA_TIMEOUT": "1"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", QUESTION, "--chroma", stalled_server,
                           "--embedder", "hash", "--model", "extractive"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2 and "cannot reach the Chroma server" in _one_line(proc.stderr)
    assert time.monotonic() - t0 < 30


def test_the_pipeline_names_a_hung_chroma_server_within_the_deadline(stalled_server) -> None:
    from assistant.pipeline import Assistant

    settings = Settings(chroma=stalled_server, embedder="hash", model="extractive", chroma_timeout=1.0)
    t0 = time.monotonic()
    with pytest.raises(ChromaUnavailable, match=r"cannot reach the Chroma server at .* in 1 s"):
        Assistant(settings).ask(QUESTION)
    assert time.monotonic() - t0 < 1.0 + 1


def test_an_embedded_index_that_stops_answering_is_named_within_the_deadline(hash_index, tmp_path,
                                                                             monkeypatch) -> None:
    """Issue 15, item 3: embedded Chroma calls had no deadline. A database on a stalled disk (here its
    query never returns) must give a clear message within chroma_timeout + 1 s, not a hang; the same
    index answers when nothing stalls (the control)."""
    from chromadb.api.models.Collection import Collection

    from assistant.pipeline import Assistant

    settings = _copy_index(hash_index, tmp_path).with_overrides(chroma_timeout=1.0)
    assert not Assistant(settings).ask(QUESTION).abstained  # control: answers when nothing stalls
    stall = threading.Event()
    real_query = Collection.query

    stalled_at: list[float] = []

    def stalled_query(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        stalled_at.append(time.monotonic())
        stall.wait(30)
        return real_query(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "query", stalled_query)
    try:
        with pytest.raises(ChromaUnavailable, match=rf"the index in {re.escape(str(settings.index_dir))} did not "
                                                    r"answer in 1 s.*chroma_timeout"):
            Assistant(settings).ask(QUESTION)
        # the deadline runs from the call that stalls (opening the index and reading the question before it take
        # their own time on a loaded machine)
        assert stalled_at and time.monotonic() - stalled_at[0] < 1.0 + 1
    finally:
        stall.set()


def test_an_index_folder_on_a_stalled_disk_is_named_within_the_deadline(hash_index, tmp_path, monkeypatch) -> None:
    """Opening an embedded index copies its database (a read of the real folder): a disk that stops
    answering there must not hang the first question either."""
    import assistant.store
    from assistant.pipeline import Assistant

    settings = _copy_index(hash_index, tmp_path).with_overrides(chroma_timeout=1.0)
    stall = threading.Event()
    real_snapshot = assistant.store.snapshot

    def stalled_snapshot(folder):  # type: ignore[no-untyped-def]
        stall.wait(30)
        return real_snapshot(folder)

    monkeypatch.setattr(assistant.store, "snapshot", stalled_snapshot)
    t0 = time.monotonic()
    try:
        with pytest.raises(ChromaUnavailable, match="did not answer in 1 s"):
            Assistant(settings).ask(QUESTION)
        assert time.monotonic() - t0 < 1.0 + 1
    finally:
        stall.set()


class StallableProxy:
    """A loopback TCP proxy in front of a server that can be told to stop answering, like a hung server."""

    def __init__(self, target: str) -> None:
        self.target = ("127.0.0.1", int(target.rsplit(":", 1)[1]))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stalled = threading.Event()
        self.closed = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.stalled.is_set():
                self.held.append(conn)
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                while self.stalled.is_set() and not self.closed.is_set():
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def stall(self) -> None:
        self.stalled.set()

    def resume(self) -> None:
        self.stalled.clear()
        for conn in self.held:
            conn.close()
        self.held.clear()

    def close(self) -> None:
        self.closed.set()
        self.resume()
        self.listener.close()


def test_chat_names_a_chroma_outage_keeps_its_history_and_goes_on(chroma_server, tmp_path, monkeypatch,
                                                                  capsys) -> None:
    """Finding 4: Chroma going down mid-session made `chat` exit, claiming the index was damaged."""
    ingest(Index(Settings(index_dir=tmp_path / "unused", chroma=chroma_server, embedder="hash"),
                 HashEmbeddings()), [SEED])
    proxy = StallableProxy(chroma_server)
    monkeypatch.setenv("ASSISTANT_CHROMA_TIMEOUT", "1.5")
    seen = _spy_on_answers(monkeypatch)
    try:
        out, took = _chat(monkeypatch, capsys, ["--chroma", proxy.url, "--embedder", "hash", "--model", "extractive"],
                          [QUESTION, proxy.stall, "张辉如何看待传统产业？", proxy.resume, "那王蕴怎么看？"])
    finally:
        proxy.close()
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot reach the Chroma server at {proxy.url} in 1.5 s" in errors[0]
    assert "--rebuild" not in out and "damaged" not in out
    assert took[1] < 1.5 + 1
    assert "王蕴（" in out.split(errors[0])[1]  # it went on and answered the follow-up
    # the follow-up was asked with the first question in its history (the failed one is not in it)
    assert [n for n, _ in seen] == [0, 1]


# ------------------------------------------------------------------ 7. packaging, documents, read-only


def test_an_installed_wheel_ingests_and_answers_from_another_folder(tmp_path) -> None:
    """Finding 8: a wheel install lacked prompts/ and seeds/ and put the index in site-packages."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("assistant", "prompts", "seeds"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                    str(src)], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True,
                   timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(PYTHONPATH=str(target), XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    where = run("-c", "import assistant; print(assistant.__file__)")
    assert where.stdout.strip().startswith(str(target)), where
    ingested = run("-m", "assistant.cli", "ingest", "--embedder", "hash")
    assert ingested.returncode == 0, ingested.stderr
    index_dir = tmp_path / "data" / "xinzhi-assistant" / "index"
    assert str(index_dir) in ingested.stdout and (index_dir / "chroma.sqlite3").is_file()
    asked = run("-m", "assistant.cli", "ask", "--model", "extractive", "--embedder", "hash", QUESTION)
    assert asked.returncode == 0, asked.stderr
    assert "吕薇（" in asked.stdout and "PromptError" not in asked.stderr
    assert not list(target.rglob("chroma.sqlite3"))  # nothing written into the installed package


def test_two_talk_md_in_different_folders_are_two_documents(tmp_path) -> None:
    """Finding 8: documents were keyed by base name, so one silently replaced the other."""
    settings = Settings(index_dir=tmp_path / "index", embedder="hash")
    a = _speakers_file(tmp_path / "a" / "talk.md")
    b = tmp_path / "b" / "talk.md"
    b.parent.mkdir()
    b.write_text("# 另一场会\n\n## 赵六 | 某研究所研究员 | 数据要素\n\n数据要素市场需要统一的规则。\n",
                 encoding="utf-8")
    ingest(Index(settings, HashEmbeddings()), [a])
    ingest(Index(settings, HashEmbeddings()), [b])
    stats = Index(settings).stats()
    assert {d["source"] for d in stats["documents"]} == {str(a.resolve()), str(b.resolve())}
    assert {"孙丽", "赵六"} <= set(stats["speakers"])


def test_identical_files_under_one_name_are_a_one_line_message(tmp_path, capsys) -> None:
    a = _speakers_file(tmp_path / "a" / "talk.md")
    b = _speakers_file(tmp_path / "b" / "talk.md")
    assert main(_args("ingest", str(a), str(b), folder=tmp_path / "index")) == 2
    line = _one_line(capsys.readouterr().err)
    assert "hold the same text" in line and str(a) in line and str(b) in line
    assert not (tmp_path / "index").exists()


def test_fixing_an_affiliation_reindexes_without_embedding_again(tmp_path) -> None:
    """Finding 8: chunk ids ignored affiliation and title, so a fix reported "index up to date"."""
    settings = Settings(index_dir=tmp_path / "index", embedder="hash")
    talk = _speakers_file(tmp_path / "talk.md", "某某大学")
    ingest(Index(settings, HashEmbeddings()), [talk])
    _speakers_file(talk, "某某大学劳动经济研究中心主任")
    report = ingest(Index(settings, HashEmbeddings()), [talk])
    assert report.changed and report.embedded < report.chunks
    section = next(s for s in Index(settings).stats()["sections"] if s["speaker"] == "孙丽")
    assert section["affiliation"] == "某某大学劳动经济研究中心主任"


def test_read_only_commands_never_write_to_the_index(hash_index, tmp_path, capsys) -> None:
    """Finding 8: stats/retrieve/ask wrote to the index, so one on read-only storage could not be queried.
    (The tests run as root, where chmod stops nothing: every file's bytes and time are compared.)"""
    folder = _copy_index(hash_index, tmp_path).index_dir
    subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    before = _files(folder)
    try:
        assert main(_args("stats", folder=folder)) == 0
        assert main(_args("retrieve", QUESTION, folder=folder)) == 0
        assert main(_args("ask", "--model", "extractive", QUESTION, folder=folder)) == 0
        assert "吕薇（" in capsys.readouterr().out
        assert _files(folder) == before
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)


def test_asking_an_empty_folder_creates_nothing_until_it_builds(tmp_path) -> None:
    settings = Settings(index_dir=tmp_path / "index", embedder="hash")
    assert Index(settings).manifest is None
    assert not settings.index_dir.exists()


# ------------------------------------------------------------------ 8. one-line errors


@pytest.mark.parametrize("var, value, key", [
    ("ASSISTANT_CHUNK_SIZE", "0", "chunk_size"),
    ("ASSISTANT_CHUNK_OVERLAP", "1000", "chunk_overlap"),
    ("ASSISTANT_CANDIDATES", "0", "candidates"),
    ("ASSISTANT_CONDENSE", "bogus", "condense"),
    ("ASSISTANT_K", "0", "setting k "),
    ("ASSISTANT_K", "five", "setting k "),
    ("ASSISTANT_CHROMA_TIMEOUT", "-1", "chroma_timeout"),
    ("ASSISTANT_PROMPTS_DIR", "/nonexistent", "prompts_dir"),
    ("ASSISTANT_CHROMA", "http://[::1", "chroma"),
    ("ASSISTANT_BASE_URL", "http://[::1", "base_url"),
])
def test_bad_settings_are_one_line_naming_the_key(tmp_path, monkeypatch, capsys, var, value, key) -> None:
    monkeypatch.setenv(var, value)
    assert main(_args("stats", folder=tmp_path / "index")) == 2
    line = _one_line(capsys.readouterr().err)
    assert key in line and value in line


def test_a_setting_of_an_earlier_version_names_what_replaced_it(tmp_path, capsys) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text("passage_chars = 260\n", encoding="utf-8")
    assert main(["stats", "--config", str(config)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "passage_chars is now prompt_chars" in line and str(config) in line


def test_a_config_file_with_a_number_for_a_folder_is_one_line(tmp_path, capsys) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text("index_dir = 5\n", encoding="utf-8")
    assert main(["stats", "--config", str(config)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "index_dir" in line and str(config) in line


def test_settings_check_types_ranges_and_choices() -> None:
    from assistant.settings import ConfigError, load_settings

    assert load_settings(env={"ASSISTANT_K": "7", "ASSISTANT_CONDENSE": "rules"}, config=None).k == 7
    for env in ({"ASSISTANT_CHUNK_SIZE": "100", "ASSISTANT_CHUNK_OVERLAP": "100"}, {"ASSISTANT_K": "1.5"},
                {"ASSISTANT_REQUEST_TIMEOUT": "nan"}, {"ASSISTANT_EXTRA": "x"}, {"ASSISTANT_N_CTX": "10"},
                {"ASSISTANT_DTYPE": "float8"}, {"ASSISTANT_ALLOW_DOWNLOADS": "maybe"},
                {"ASSISTANT_ALLOW_DOWNLOADS": "2"},
                {"ASSISTANT_MAX_RETRIES": "-1"}):
        with pytest.raises(ConfigError, match=next(iter(env)).removeprefix("ASSISTANT_").lower()):
            load_settings(env=env)


def test_backend_settings_are_declared_and_reach_the_backends(tmp_path) -> None:
    """The knobs people swapping models turn (issue 13) are settings like any other: typed, checked,
    set from a config file or ASSISTANT_<NAME>, and read by the backend that uses them."""
    from assistant.models import models_dirs
    from assistant.settings import load_settings

    s = load_settings(env={"ASSISTANT_N_CTX": "2048", "ASSISTANT_N_THREADS": "3", "ASSISTANT_DTYPE": "bfloat16",
                           "ASSISTANT_ALLOW_DOWNLOADS": "yes", "ASSISTANT_MAX_RETRIES": "0",
                           "ASSISTANT_MODELS_DIR": f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"}, config=None)
    assert (s.n_ctx, s.n_threads, s.dtype, s.allow_downloads, s.max_retries) == (2048, 3, "bfloat16", True, 0)
    assert models_dirs(s) == [tmp_path / "a", tmp_path / "b"]
    assert load_settings(env={}, config=None).allow_downloads is False


def test_a_manifest_that_is_not_json_is_one_line_and_rebuild_mends_it(tmp_path, capsys) -> None:
    folder = tmp_path / "index"
    assert main(_args("ingest", str(SEED), folder=folder)) == 0
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from assistant.store import MANIFEST

    client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
    client.get_collection(MANIFEST).modify(metadata={"manifest": "{not json"})
    capsys.readouterr()
    assert main(_args("stats", folder=folder)) == 2
    line = _one_line(capsys.readouterr().err)
    assert "manifest" in line and "ingest --rebuild" in line
    assert main(_args("ingest", "--rebuild", str(SEED), folder=folder)) == 0
    assert main(_args("stats", folder=folder)) == 0


def test_questions_file_that_is_not_utf8_is_one_line(hash_index, tmp_path, capsys) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(json.dumps({"question": QUESTION}, ensure_ascii=False).encode("gb18030"))
    folder = _copy_index(hash_index, tmp_path).index_dir
    assert main(_args("ask", "--model", "extractive", "--questions", str(questions), folder=folder)) == 2
    assert "not UTF-8" in _one_line(capsys.readouterr().err)


def test_eval_save_answers_into_a_missing_folder_fails_before_any_work(tmp_path, capsys) -> None:
    folder = tmp_path / "index"
    assert main(_args("eval", "--questions", str(ROOT / "tests" / "gold" / "questions.jsonl"), "--answers",
                      "--save-answers", "/nonexistent/dir/x", folder=folder)) == 2
    assert "no such folder" in _one_line(capsys.readouterr().err)
    assert not folder.exists()  # no index was built first


def _spy_on_answers(monkeypatch) -> list:  # type: ignore[no-untyped-def]
    """Record (history length, final answer) of every question the pipeline streams."""
    from assistant.pipeline import Assistant

    seen: list = []
    real = Assistant.stream

    def stream(self, question, history=(), speakers=()):  # type: ignore[no-untyped-def]
        response = real(self, question, history, speakers)
        real_answer = response.answer
        entry = [len(history), None]
        seen.append(entry)

        def answer():  # type: ignore[no-untyped-def]
            entry[1] = real_answer()
            return entry[1]
        response.answer = answer  # type: ignore[method-assign]
        return response

    monkeypatch.setattr(Assistant, "stream", stream)
    return seen


def test_chat_prints_a_multi_line_answer_once(hash_index, tmp_path, monkeypatch, capsys) -> None:
    """Finding 9: `assistant chat` printed every line after the first of a multi-line answer twice."""
    folder = _copy_index(hash_index, tmp_path).index_dir
    seen = _spy_on_answers(monkeypatch)
    out, _ = _chat(monkeypatch, capsys, _args("--model", "extractive", folder=folder),
                   ["吕薇和王蕴认为发展新质生产力的关键是什么？"])
    lines = seen[0][1].text.split("\n")
    assert len(lines) >= 2
    for line in lines:
        assert out.count(line) == 1, line


def test_escape_sequences_from_outside_are_not_printed(tmp_path, capsys) -> None:
    """Finding 9: terminal escape sequences from an error body reached the terminal raw."""
    from assistant.cli import _printable

    evil = "boom\x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b1m\u202eevil\r"
    assert _printable(evil) == "boomredevil"
    assert main(["ask", "--questions", str(tmp_path / "x\x1b[2J.jsonl")]) == 2
    assert "\x1b" not in capsys.readouterr().err


def test_escape_sequences_in_a_model_servers_error_body_are_not_printed(hash_index, tmp_path, capsys) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Evil(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = b"\x1b]0;owned\x07\x1b[2Jerror \x1b[31mred"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = _copy_index(hash_index, tmp_path).index_dir
    try:
        main(_args("ask", "--model", "openai:evil", "--base-url", f"http://127.0.0.1:{server.server_port}/v1",
                   QUESTION, folder=folder))
    finally:
        server.shutdown()
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err


def test_a_shift_jis_file_is_read_as_japanese_with_a_warning(tmp_path, capsys) -> None:
    """Finding 9: a Shift-JIS file was indexed as mojibake without a warning."""
    from assistant.parse import parse_file

    text = ("# 新しい生産力の座談会\n\n## 山田太郎 | 東京大学経済学部教授 | 新しい生産力について\n\n"
            "新しい質の生産力とは、技術革新によって生まれる先進的な生産力のことです。"
            "これからの経済成長には、人材の育成がとても重要だと考えます。\n")
    sjis = tmp_path / "japanese.md"
    sjis.write_bytes(text.encode("shift_jis"))
    doc = parse_file(sjis)
    (section,) = [s for s in doc.sections if s.speaker == "山田太郎"]
    assert "人材の育成" in section.text and section.affiliation == "東京大学経済学部教授"
    assert any("Shift-JIS" in w for w in doc.warnings)
    assert main(_args("ingest", str(sjis), folder=tmp_path / "index")) == 0
    assert "Shift-JIS" in capsys.readouterr().err


def test_control_characters_in_a_document_are_not_indexed(tmp_path) -> None:
    from assistant.parse import parse_file

    p = tmp_path / "ctrl.md"
    p.write_text("## 张三 | 某大学 | 题目\n\n数据\x1b[31m要素\u202e市场需要规则。\n", encoding="utf-8")
    text = parse_file(p).sections[0].text
    assert "\x1b" not in text and "\u202e" not in text and "要素" in text


# ------------------------------------------------------------------ property: random input never tracebacks

_SEED_TEXT = SEED.read_text(encoding="utf-8")
# anything Unicode can hold but lone surrogates, with control characters, escapes and bidi overrides
_CHARS = st.characters(exclude_categories=("Cs",))
_NASTY = st.sampled_from(["\x00", "\x1b[2J", "\u202e", "\ufeff", "\r\n", "\t", "\u200b", "𝕏", "🙂", "[1]", "[99]",
                          "吕薇", "Lü Wei", "？", "。", "一是", "2.4 亿", "%", "{{ x }}", "$where", "\\", "'\""])
_FRAGMENT = st.integers(0, len(_SEED_TEXT) - 1).flatmap(
    lambda i: st.integers(1, 300).map(lambda n: _SEED_TEXT[i:i + n]))
_TEXT = st.lists(st.one_of(st.text(_CHARS, max_size=40), _NASTY, _FRAGMENT), max_size=12).map("".join) | \
    st.text(_CHARS, min_size=2000, max_size=6000)
_FAST = hsettings(max_examples=120, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_assistant(hash_index):  # type: ignore[no-untyped-def]
    from assistant.pipeline import Assistant

    return Assistant(hash_index.settings.with_overrides(model="extractive"), index=hash_index)


@_FAST
@given(question=_TEXT)
def test_ask_raises_nothing_but_question_error(fuzz_assistant, question: str) -> None:
    from assistant.retrieve import QuestionError

    try:
        answer = fuzz_assistant.ask(question)
    except QuestionError:
        return
    assert isinstance(answer.text, str) and answer.model


@_FAST
@given(question=_TEXT, k=st.integers(1, 12), speakers=st.lists(st.sampled_from(["吕薇", "张辉", "nobody", ""])))
def test_search_raises_nothing_but_question_error(fuzz_assistant, question: str, k: int, speakers: list[str]) -> None:
    from assistant.retrieve import QuestionError

    try:
        result = fuzz_assistant.retriever.search(question, k=k, speakers=speakers)
    except QuestionError:
        return
    assert len(result.passages) <= k


@_FAST
@given(answer=_TEXT)
def test_grounding_check_raises_nothing(fuzz_assistant, answer: str) -> None:
    from assistant.grounding import check_answer

    retriever = fuzz_assistant.retriever
    passages = retriever.search(QUESTION).passages
    for check in check_answer(answer, passages, retriever.directory.experts):
        assert isinstance(check.verdict, str) and check.verdict


def test_ask_prints_how_a_traditional_question_was_read(hash_index, capsys) -> None:
    folder = hash_index.settings.index_dir
    assert main(_args("ask", "--model", "extractive", "呂薇怎麼看人才？", folder=folder)) == 0
    assert "（理解为：吕薇怎么看人才？）" in capsys.readouterr().out
    assert main(_args("ask", "--model", "extractive", "吕薇怎么看人才？", folder=folder)) == 0
    assert "理解为" not in capsys.readouterr().out


def test_ask_exits_2_for_a_question_it_cannot_search_with_or_without_json(hash_index, tmp_path, capsys) -> None:
    folder = hash_index.settings.index_dir
    assert main(_args("ask", "--model", "extractive", "😀", folder=folder)) == 2
    assert main(_args("ask", "--model", "extractive", "--json", "😀", folder=folder)) == 2
    captured = capsys.readouterr()
    assert '"error"' in captured.out and "could not be searched" in captured.err
    assert main(_args("ask", "--model", "extractive", "--json", QUESTION, folder=folder)) == 0  # the control


def test_questions_given_as_a_folder_or_an_empty_file_are_named_as_such(hash_index, tmp_path, capsys) -> None:
    folder = hash_index.settings.index_dir
    assert main(_args("ask", "--model", "extractive", "--questions", str(tmp_path), folder=folder)) == 2
    assert "a folder, not a questions file" in capsys.readouterr().err
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    assert main(_args("ask", "--model", "extractive", "--questions", str(tmp_path / "empty.jsonl"),
                      folder=folder)) == 2
    assert "no questions in it" in capsys.readouterr().err


def test_a_terminal_escape_sequence_is_no_part_of_the_question() -> None:
    """ESC [ 31 m (red) left "31" behind, which matched a passage's "1 月 31 日"."""
    from assistant.text import clean_question

    assert clean_question("\x01\x02\x1b[31m") == ""
    assert clean_question("王蕴\x1b[1;32m怎么看\x1b[0m数据").replace(" ", "") == "王蕴怎么看数据"
    assert clean_question("31 是什么") == "31 是什么"  # a number typed is kept
