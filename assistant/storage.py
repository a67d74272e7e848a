"""Where the index lives, and how it is reached safely.

* **The embedded folder** is this program's only by proof: a marker file written when the folder is
  first claimed (and rewritten with the live collection at each build). ``ingest --rebuild`` touches
  nothing in a folder without it, and inside one removes only what Chroma itself writes.
* **The ingest lock**: a file lock in that folder, or, on a Chroma server, a lease collection (its
  creation is atomic on the server; it expires, so a crashed ingest does not block the next for long).
* **Read-only snapshots**: Chroma writes to its files whenever it opens them, so readers open a private
  copy (the database through a read-only SQLite connection, and the segment files).
* **Deadlines**: every Chroma call runs under ``chroma_timeout``, on a server and embedded alike; one
  that gets no answer is an outage (``ChromaUnavailable``), never reported as a damaged index. (An
  embedded call can hang on a stalled disk or a network file system; a build that times out leaves the
  live build untouched, because a build only switches the manifest once all of it is written.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .settings import Settings

LEASE = "assistant_ingest_lease"
LEASE_TTL = 120.0  # seconds a server-mode ingest lease lasts unless renewed
# An embedded index folder is this program's only by proof: this file, written when the folder is first
# claimed (and rewritten with the live collection at each build). `ingest --rebuild` touches nothing in a
# folder without it, and inside one removes only what Chroma itself writes (its sqlite database and its
# UUID-named segment folders).
MARKER = ".xinzhi-index"
LOCK = ".xinzhi-index.lock"
CHROMA_FILES = frozenset({"chroma.sqlite3", "chroma.sqlite3-journal", "chroma.sqlite3-wal", "chroma.sqlite3-shm"})
SEGMENT_FILES = frozenset({"data_level0.bin", "header.bin", "length.bin", "link_lists.bin",
                           "index_metadata.pickle"})
NEUTRAL = frozenset({"README.md", ".gitkeep", ".gitignore", MARKER, MARKER + ".tmp", LOCK})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
class IndexError_(RuntimeError):
    """The index cannot be used; the message says how to fix it."""


class NoIndex(IndexError_):
    pass


class EmbedderMismatch(IndexError_):
    pass


class IndexUnreadable(IndexError_):
    """The index files (or its manifest) are damaged; ``assistant ingest --rebuild`` replaces them."""


class IndexReplaced(IndexError_):
    """The build this process was reading is gone: newer builds replaced it. Reloading fixes it."""


class ChromaUnavailable(IndexError_):
    """Chroma (a server, or the embedded database) did not answer: an outage, not damage."""


class IngestBusy(IndexError_):
    """Another ingest is writing the index."""


def one_line(e: object, limit: int = 240) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "…"


# ------------------------------------------------------------------ connecting, with deadlines


def _port(settings: Settings) -> int:
    try:
        return urlparse(settings.chroma if "://" in settings.chroma else f"http://{settings.chroma}").port or 8000
    except ValueError:
        return 8000


def unreachable(settings: Settings, detail: str) -> ChromaUnavailable:
    return ChromaUnavailable(
        f"cannot reach the Chroma server at {settings.chroma} {detail}; is it running? Start or restart it "
        f"(`chroma run --path {settings.index_dir} --host 127.0.0.1 --port {_port(settings)}`), "
        "or set chroma = 'embedded'")


def bounded(fn: Callable[[], Any], settings: Settings) -> Any:
    """``fn()`` on a daemon thread, given at most ``settings.chroma_timeout`` seconds.

    A Chroma server that accepts connections and never answers would otherwise hang the caller forever
    (its HTTP client has no timeout), and so would an embedded database on a stalled disk. A thread left
    waiting ends with the process."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller below
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="chroma-call", daemon=True).start()
    if not done.wait(settings.chroma_timeout):
        if settings.chroma == "embedded":
            raise ChromaUnavailable(
                f"the index in {settings.index_dir} did not answer in {settings.chroma_timeout:g} s; its disk may "
                "be stalled or another program may hold its database. Try again; if the folder is on a slow or "
                "network disk, raise chroma_timeout (ASSISTANT_CHROMA_TIMEOUT)")
        raise unreachable(settings, f"in {settings.chroma_timeout:g} s (no answer)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def connect(settings: Settings) -> Any:
    """A Chroma client for the configured place, with telemetry off (embedded: the real folder, for writing)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma == "embedded":
        return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)
    try:
        url = urlparse(settings.chroma if "://" in settings.chroma else f"http://{settings.chroma}")
        host, port = url.hostname, url.port or 8000
    except ValueError:
        host = None
    if not host:
        raise IndexError_(f"chroma = {settings.chroma!r}: give 'embedded' or a server URL such as http://127.0.0.1:8000")

    def open_client() -> Any:
        client = chromadb.HttpClient(host=host, port=port, ssl=url.scheme == "https", settings=chroma_settings)
        client.heartbeat()
        return client

    try:
        return bounded(open_client, settings)
    except ChromaUnavailable:
        raise
    except Exception as e:  # connection refused, DNS, TLS: all mean "not reachable"
        raise unreachable(settings, f"({type(e).__name__})") from None


def is_outage(e: BaseException) -> bool:
    import httpx

    return isinstance(e, httpx.HTTPError | OSError | ConnectionError)


def not_found(e: BaseException) -> bool:
    from chromadb.errors import NotFoundError

    return isinstance(e, NotFoundError) or "does not exist" in str(e)


# ------------------------------------------------------------------ the folder: ours by proof


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


def read_marker(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_marker(folder: Path, **values: Any) -> None:
    data = {"created_by": "xinzhi-assistant", "version": 1, **read_marker(folder), **values}
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def claim_folder(folder: Path) -> None:
    """Mark an embedded index folder as this program's before the first write to it."""
    check_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / MARKER).is_file():
            write_marker(folder)
    except OSError as e:
        raise IndexError_(f"cannot write the index in {folder} ({e.strerror}); set index_dir (or --index-dir) "
                          "to a folder you can write to") from None


@contextmanager
def file_lock(folder: Path, wait: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    """Hold the embedded index's ingest lock, waiting at most ``wait`` seconds for another ingest."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / LOCK))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait:
                on_wait(f"another ingest is writing the index in {folder}; waiting up to {wait:g} s for it")
            lock.acquire(timeout=wait)
    except Timeout:
        raise IngestBusy(busy(str(folder), wait)) from None
    try:
        yield
    finally:
        lock.release()


def busy(where: str, wait: float) -> str:
    return (f"another `assistant ingest` is writing the index in {where} (waited {wait:g} s); nothing was "
            "changed. Run this ingest again when it has finished, or raise ingest_wait")


# ------------------------------------------------------------------ snapshots for reading


def snapshot(folder: Path) -> Path:
    """Copy an embedded index into a private temporary folder without writing to the original.

    The segment files first, then the database through a read-only SQLite connection (a consistent
    copy even while an ingest writes): Chroma replays from the database whatever the segments lack."""
    tmp = Path(tempfile.mkdtemp(prefix="xinzhi-index-"))
    try:
        for child in folder.iterdir():
            if child.is_dir() and _UUID.match(child.name):
                (tmp / child.name).mkdir()
                for f in child.iterdir():
                    try:
                        shutil.copyfile(f, tmp / child.name / f.name)
                    except FileNotFoundError:  # a failed build removed its collection meanwhile
                        pass
        src = sqlite3.connect(f"{(folder / 'chroma.sqlite3').resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(tmp / "chroma.sqlite3")
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def close_snapshot(client: Any, folder: Path) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001 - best effort while shutting down
        pass
    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ the server-mode lease


class ServerLease:
    """The ingest lock of an index on a Chroma server: a collection whose creation only one client can win,
    holding the owner and an expiry the owner renews while it builds."""

    def __init__(self, client: Any, call: Callable[..., Any], where: str, wait: float) -> None:
        self._writer, self._call, self.where, self.wait = client, call, where, wait
        self._lease: dict[str, Any] | None = None

    def take(self, on_wait: Callable[[str], None] | None) -> None:
        """Create the lease collection (atomic on the server); wait for a held one, take over an expired one."""
        me = {"owner": uuid.uuid4().hex, "host": socket.gethostname()[:100], "pid": os.getpid()}
        wait = self.wait
        deadline = time.monotonic() + wait
        told = False
        failures = 0
        while True:
            meta = {**me, "expires": time.time() + LEASE_TTL}
            try:
                self._call(self._writer.create_collection, LEASE, embedding_function=None, metadata=meta)
                self._lease = meta
                return
            except ChromaUnavailable:
                raise
            except Exception as e:  # it exists (someone holds the lease), or the server refused
                held = self.held()
                failures = 0 if held is not None else failures + 1
                if failures >= 3:
                    raise IndexError_(f"the Chroma server at {self.where} refused the ingest lease "
                                      f"({one_line(e)}); see the server's log") from None
            if held is not None and _expired(held):
                try:
                    self._call(self._writer.delete_collection, LEASE)
                except Exception as e:  # noqa: BLE001 - another ingest removed it first
                    if not not_found(e):
                        raise
                continue
            if time.monotonic() >= deadline:
                raise IngestBusy(busy(self.where, wait))
            if not told and on_wait:
                who = f" (pid {held.get('pid')} on {held.get('host')})" if held else ""
                on_wait(f"another ingest{who} is writing the index in {self.where}; waiting up to {wait:g} s")
                told = True
            time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))

    def held(self) -> dict[str, Any] | None:
        try:
            return dict(self._call(self._writer.get_collection, LEASE, embedding_function=None).metadata or {})
        except ChromaUnavailable:
            raise
        except Exception as e:
            if not_found(e):
                return None
            raise

    def renew(self, force: bool = False) -> None:
        """Extend the lease while building (when a third of it is used, or now); lost to another ingest: stop."""
        if self._lease is None:
            return
        if not force and self._lease["expires"] - time.time() > LEASE_TTL * 2 / 3:
            return
        held = self.held()
        if not held or held.get("owner") != self._lease["owner"]:
            raise IngestBusy(f"this ingest's lease on the index in {self.where} expired and another ingest took "
                             "over; nothing was changed. Run it again")
        self._lease = {**self._lease, "expires": time.time() + LEASE_TTL}
        col = self._call(self._writer.get_collection, LEASE, embedding_function=None)
        self._call(col.modify, metadata=self._lease)

    def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            held = self.held()
            if held and held.get("owner") == lease["owner"]:
                self._call(self._writer.delete_collection, LEASE)
        except Exception:  # noqa: BLE001 - the server is gone or refuses: the lease expires by itself
            pass


def _expired(lease: dict[str, Any]) -> bool:
    """A lease past its time, or held by a process of this machine that no longer exists."""
    if float(lease.get("expires", 0)) < time.time():
        return True
    if lease.get("host") == socket.gethostname()[:100] and isinstance(lease.get("pid"), int):
        try:
            os.kill(lease["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def rebuild_hint(settings: Settings) -> str:
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
    segment folders; every other file stays. Holds the ingest lock while it works. Returns the names removed.
    """
    folder = Path(settings.index_dir)
    if settings.chroma != "embedded" or not folder.exists():
        return []
    check_folder(folder)
    if not (folder / MARKER).is_file():
        raise IndexError_(f"the index in {folder} cannot be opened and {rebuild_hint(settings)}")
    from chromadb.api.shared_system_client import SharedSystemClient

    with file_lock(folder, settings.ingest_wait, None):
        SharedSystemClient.clear_system_cache()  # drop the cached client holding the broken files
        removed = []
        for child in sorted(folder.iterdir()):
            if _is_chroma_entry(child):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
                removed.append(child.name)
    return removed
