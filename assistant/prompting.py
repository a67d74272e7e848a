"""Prompt templates are files in ``prompts/``, rendered through one strict loader."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any


class PromptError(RuntimeError):
    """A prompt template that is missing or broken; the message names it and the fix."""


@lru_cache(maxsize=8)
def _env(folder: str) -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=False, autoescape=False)


def render(folder: Path, name: str, **values: Any) -> str:
    """Render ``prompts/<name>``; a missing file or variable is an error, never an empty string."""
    import jinja2

    try:
        return _env(str(folder)).get_template(name).render(**values).strip()
    except jinja2.TemplateNotFound:
        raise PromptError(f"prompt template {name!r} not found in {folder}; "
                          "set prompts_dir to a folder holding it") from None
    except jinja2.UndefinedError as e:
        raise PromptError(f"prompt template {name!r}: {e}") from None
    except jinja2.TemplateSyntaxError as e:
        raise PromptError(f"prompt template {name!r} in {folder}, line {e.lineno}: {e.message}; fix the template") \
            from None
    except (UnicodeDecodeError, OSError) as e:
        raise PromptError(f"prompt template {name!r} in {folder} cannot be read ({e}); "
                          "save it as UTF-8 text") from None


@lru_cache(maxsize=16)
def text(folder: Path, name: str) -> str:
    path = Path(folder) / name
    if not path.is_file():
        raise PromptError(f"prompt file {name!r} not found in {folder}; set prompts_dir to a folder holding it")
    try:
        return path.read_text(encoding="utf-8").strip()
    except (UnicodeDecodeError, OSError) as e:
        raise PromptError(f"prompt file {path} cannot be read ({e}); save it as UTF-8 text") from None


def refusal(folder: Path, english: bool) -> str:
    return text(folder, "refusal_en.txt" if english else "refusal_zh.txt")
