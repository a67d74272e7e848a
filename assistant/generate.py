"""Generator backends behind one small interface, chosen by one ``--model`` string.

* ``extractive``: no LLM; composes the answer from the passages' own sentences
  (see ``extractive.py``). Deterministic and instant.
* a local model: a Hugging Face model folder, a ``.gguf`` file, or a hub id already in
  the local cache (``transformers``; loaded once per process; never downloads).
* ``openai:NAME``: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, LMDeploy) at
  ``--base-url`` / ``OPENAI_BASE_URL``; key from ``OPENAI_API_KEY`` if set.
* ``auto`` (default): a configured model, else a Qwen2.5 Instruct model in the local
  Hugging Face cache, else extractive.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .settings import Settings
from .types import Passage


class ModelError(RuntimeError):
    """A model that cannot be used; the message names the cause and what to do."""


@dataclass(frozen=True)
class Request:
    """Everything a backend may need: chat messages for LLMs, passages for the extractive engine."""

    question: str
    messages: list[dict[str, str]]
    passages: tuple[Passage, ...]
    english: bool = False
    hints: dict[str, Any] = field(default_factory=dict)
    refusal: str = ""  # the one sentence that means "the passages do not answer"
    # set by the consumer (a closed tab, a new question, the stop button): backends stop within a second
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


class Generator(Protocol):
    name: str
    is_llm: bool

    def stream(self, request: Request) -> Iterator[str]:
        """Yield pieces of the answer text as they are produced."""
        ...


# ------------------------------------------------------------------------- transformers

_LOADED: dict[str, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def _resolve_local(spec: str) -> tuple[str, str | None]:
    """(folder or hub id, gguf file name or None) for a model spec, or ModelError."""
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        return str(path.parent), path.name
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path} is neither a model folder nor a .gguf file")
        if not (path / "config.json").is_file():
            ggufs = sorted(path.glob("*.gguf"))
            if ggufs:
                return str(path), ggufs[0].name
            raise ModelError(f"{path} is not a model folder (no config.json and no .gguf file)")
        return str(path), None
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return spec, None  # a hub id: must already be in the local cache
    raise ModelError(f"model path {spec} does not exist")


class TransformersGenerator:
    is_llm = True

    def __init__(self, spec: str, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.name = f"transformers:{Path(spec).name if os.path.exists(os.path.expanduser(spec)) else spec}"
        self.model, self.tokenizer = self._load()

    def _load(self) -> tuple[Any, Any]:
        with _LOAD_LOCK:
            if self.spec in _LOADED:
                return _LOADED[self.spec]
            where, gguf = _resolve_local(self.spec)
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError:
                raise ModelError("the transformers backend needs: pip install transformers torch") from None
            kwargs: dict[str, Any] = {"local_files_only": True}
            if gguf:
                kwargs["gguf_file"] = gguf
            try:
                tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
                if gguf and ("architecture" in str(e).lower() or "not supported" in str(e).lower()):
                    raise ModelError(f"{gguf}: this GGUF architecture is not supported by transformers ({first})") \
                        from None
                if not os.path.exists(os.path.expanduser(where)):
                    raise ModelError(f"model {where!r} is not in the local Hugging Face cache and nothing is "
                                     f"downloaded; give a local folder or .gguf file ({first})") from None
                raise ModelError(f"cannot load model from {where}: {first}") from None
            if not getattr(tokenizer, "chat_template", None):
                raise ModelError(f"{where}: the tokenizer has no chat template; use an Instruct/chat model")
            model.eval()
            _LOADED[self.spec] = (model, tokenizer)
            return model, tokenizer

    def prompt_ids(self, messages: list[dict[str, str]]) -> Any:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False)

    def stream(self, request: Request) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        inputs = self.prompt_ids(request.messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=None)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.model.generate(**inputs, streamer=streamer, max_new_tokens=self.settings.max_new_tokens,
                                    do_sample=False, pad_token_id=self.tokenizer.pad_token_id
                                    or self.tokenizer.eos_token_id)
            except BaseException as e:  # surfaced to the caller below
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        yield from (piece for piece in streamer if piece)
        thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}")


# ------------------------------------------------------------------------- OpenAI-compatible


class OpenAIGenerator:
    is_llm = True

    def __init__(self, model: str, settings: Settings) -> None:
        if not model:
            raise ModelError("give the served model's name: --model openai:NAME")
        if not settings.base_url:
            raise ModelError("openai:NAME needs the server's address: --base-url URL or OPENAI_BASE_URL "
                             "(e.g. http://127.0.0.1:8080/v1)")
        self.model = model
        self.base_url = settings.base_url.rstrip("/")
        self.api_key = settings.api_key
        self.timeout = settings.request_timeout
        self.max_tokens = settings.max_new_tokens
        self.name = f"openai:{model}"

    def stream(self, request: Request) -> Iterator[str]:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "messages": request.messages, "stream": True, "temperature": 0,
                "max_tokens": self.max_tokens}
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        url = f"{self.base_url}/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ModelError(f"the model server at {self.base_url} answered {resp.status_code}: "
                                     f"{resp.text[:200]}")
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    except (json.JSONDecodeError, KeyError, IndexError):
                        continue
                    if delta:
                        yield delta
        except httpx.ConnectError:
            raise ModelError(f"cannot reach the model server at {self.base_url}; is it running?") from None
        except httpx.TimeoutException:
            raise ModelError(f"the model server at {self.base_url} did not answer within "
                             f"{self.timeout:.0f} s (request_timeout)") from None
        except httpx.HTTPError as e:
            raise ModelError(f"the model server at {self.base_url} failed: {type(e).__name__}") from None


# ------------------------------------------------------------------------- registry


def find_cached_qwen() -> str | None:
    """A Qwen2.5 Instruct model already in the local Hugging Face cache, if any."""
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    hub = hub.expanduser()
    if not hub.is_dir():
        return None
    for d in sorted(hub.glob("models--Qwen--Qwen2.5-*Instruct*")):
        if any(d.glob("snapshots/*/config.json")):
            return d.name[len("models--"):].replace("--", "/")
    return None


BACKENDS = ("auto", "extractive", "openai:NAME", "PATH (folder or .gguf)", "HUB_ID (in the local cache)")


def make_generator(settings: Settings, model: str | None = None) -> Generator:
    spec = (model or settings.model or "auto").strip()
    from .extractive import ExtractiveGenerator

    if spec == "auto":
        cached = find_cached_qwen()
        return TransformersGenerator(cached, settings) if cached else ExtractiveGenerator()
    if spec == "extractive":
        return ExtractiveGenerator()
    if spec.startswith("openai:"):
        return OpenAIGenerator(spec[len("openai:"):], settings)
    if spec.endswith(".gguf") or os.path.exists(os.path.expanduser(spec)) or "/" in spec:
        return TransformersGenerator(spec, settings)
    raise ModelError(f"unknown model backend {spec!r}; choose from {list(BACKENDS)}")
