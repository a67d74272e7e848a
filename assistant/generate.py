"""Generator backends behind one small interface, chosen by one ``--model`` string through a registry.

=========================  =====================================================================
``extractive``             no LLM: the passages' own sentences, cited (``extractive.py``)
``llamacpp:FILE.gguf``     llama.cpp (``llamacpp.py``); a bare ``FILE.gguf`` means this
``transformers:SPEC``      a Hugging Face model folder, a cached hub id, or ``FILE.gguf`` through
                           transformers' ``gguf_file``; a bare folder or hub id means this
``openai:NAME``            an OpenAI-compatible server at ``--base-url`` (vLLM, llama-server, Ollama)
``auto``                   a configured model; else a GGUF in the models folders; else a cached
                           Qwen2.5 Instruct; else ``extractive``
=========================  =====================================================================

Each backend is a :class:`Backend` in the registry, keyed by its prefix, saying which bare
values it takes. Third parties add one through the entry-point group
``xinzhi_assistant.backends``: the entry point names a ``Backend`` (or a function returning one).
Nothing here is ever downloaded: the Hugging Face libraries run offline unless
``ASSISTANT_ALLOW_DOWNLOADS=1``.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .models import find_cached_qwen
from .settings import Settings
from .types import Passage

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "xinzhi_assistant.backends"


class ModelError(RuntimeError):
    """A model that cannot be used; the message names the cause and what to do."""


class UnknownBackendError(ModelError, ValueError):
    """A ``--model`` value no backend accepts."""


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
    max_new_tokens: int = 0  # 0: settings.max_new_tokens; a short task (a follow-up rewrite) asks for fewer


class Generator(Protocol):
    name: str
    is_llm: bool
    # optional: True when the backend keeps the KV state of the last prompt, so a follow-up is sent as the
    # conversation's next turn (read with getattr, default False)

    def stream(self, request: Request) -> Iterator[str]:
        """Yield pieces of the answer text as they are produced."""
        ...


# ------------------------------------------------------------------------- registry


def _never(spec: str) -> bool:
    return False


@dataclass(frozen=True)
class Backend:
    """One way of answering. ``create(arg, settings)`` gets what follows ``name:`` (or the whole
    bare value that ``claims`` accepted)."""

    name: str
    usage: str  # how to write it, for help and errors: "llamacpp:FILE.gguf"
    create: Callable[[str, Settings], Generator]
    claims: Callable[[str], bool] = _never  # takes this value without a prefix?


_REGISTRY: dict[str, Backend] = {}
_PLUGINS_LOADED = False


def register(backend: Backend) -> Backend:
    _REGISTRY[backend.name] = backend
    return backend


def backends() -> dict[str, Backend]:
    """Every registered backend, built-in ones first, then those of installed plugins."""
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        _load_plugins()
    return dict(_REGISTRY)


def _load_plugins() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            backend = obj if isinstance(obj, Backend) else obj()
            if not isinstance(backend, Backend):
                raise TypeError(f"expected a Backend, got {type(backend).__name__}")
        except Exception as e:  # a broken plugin must not stop the built-in backends
            log.warning("ignoring model backend plugin %s (%s): %s", ep.name, ep.value, e)
            continue
        if backend.name in _REGISTRY:
            log.warning("ignoring model backend plugin %s: the name %r is taken", ep.value, backend.name)
            continue
        register(backend)


def resolve(spec: str) -> tuple[Backend, str]:
    """(backend, its argument) for a ``--model`` value, or UnknownBackendError listing the choices."""
    spec = spec.strip()
    registry = backends()
    prefix, sep, rest = spec.partition(":")
    if prefix in registry and (sep or not registry[prefix].claims(spec)):
        return registry[prefix], rest
    for backend in registry.values():
        if backend.claims(spec):
            return backend, spec
    raise UnknownBackendError(f"unknown model backend {spec!r}; choose from "
                              f"{sorted(b.usage for b in registry.values())}")


def make_generator(settings: Settings, model: str | None = None) -> Generator:
    backend, arg = resolve(model or settings.model or "auto")
    return backend.create(arg, settings)


def resolve_auto(settings: Settings) -> str:
    """What ``auto`` means on this machine: a configured model; else a GGUF in the models
    folders (llama.cpp); else a Qwen2.5 Instruct in the local Hugging Face cache; else extractive."""
    from .models import default_gguf

    if settings.model.strip() not in ("", "auto"):
        return settings.model.strip()
    gguf = default_gguf(settings)
    if gguf is not None and _llamacpp_installed():
        return f"llamacpp:{gguf}"
    cached = find_cached_qwen()
    if cached:
        return f"transformers:{cached}"
    return "extractive"


def _llamacpp_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("llama_cpp") is not None


def _is_gguf(spec: str) -> bool:
    return spec.lower().endswith(".gguf")


def _is_local_or_hub_id(spec: str) -> bool:
    return os.path.exists(os.path.expanduser(spec)) or "/" in spec or spec.startswith((".", "~"))


def _extractive(arg: str, settings: Settings) -> Generator:
    from .extractive import ExtractiveGenerator

    return ExtractiveGenerator()


def _auto(arg: str, settings: Settings) -> Generator:
    return make_generator(settings, resolve_auto(settings))


def _llamacpp(arg: str, settings: Settings) -> Generator:
    from .llamacpp import LlamaCppGenerator

    return LlamaCppGenerator(arg, settings)


# ------------------------------------------------------------------------- transformers

_LOADED: dict[str, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()
_STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")


def offline_hub(settings: Settings | None = None) -> None:
    """Keep the Hugging Face libraries off the network (set before they are imported) unless the
    user opts in with ``ASSISTANT_ALLOW_DOWNLOADS=1`` (or ``allow_downloads = true``)."""
    if settings is not None:
        allowed = settings.allow_downloads
    else:  # before settings exist (import time of a hub library): the variable the settings would read
        allowed = os.environ.get("ASSISTANT_ALLOW_DOWNLOADS", "").lower() in ("1", "true", "yes", "on")
    if allowed:
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    constants: Any = sys.modules.get("huggingface_hub.constants")
    if constants is not None and os.environ["HF_HUB_OFFLINE"] not in ("0", "false", "False"):
        constants.HF_HUB_OFFLINE = True  # imported before us (by another library): it read the variable already


def _resolve_local(spec: str) -> tuple[str, str | None]:
    """(folder or hub id, gguf file name or None) for a model spec, or ModelError."""
    path = Path(spec).expanduser()
    if _is_gguf(spec):
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


def _device_and_dtype(settings: Settings) -> tuple[str | None, Any]:
    """``device_map``/``dtype`` settings ("auto": the GPU in bfloat16 when there is one, else CPU float32)."""
    import torch

    dtype = settings.dtype or "auto"
    gpu = torch.cuda.is_available()
    device_map: str | None = settings.device_map or "auto"
    if device_map == "auto":
        device_map = "auto" if gpu else None
    if dtype == "auto":
        return device_map, (torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float32)
    try:
        return device_map, getattr(torch, dtype) if isinstance(dtype, str) else dtype
    except AttributeError:
        raise ModelError(f"dtype {dtype!r} is not a torch dtype (try auto, float32, bfloat16, float16)") from None


class TransformersGenerator:
    is_llm = True
    keeps_context = False  # each call starts from an empty cache: a follow-up is sent as a standalone prompt

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
            offline_hub(self.settings)
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError:
                raise ModelError("the transformers backend needs: pip install transformers torch") from None
            device_map, dtype = _device_and_dtype(self.settings)
            kwargs: dict[str, Any] = {"local_files_only": True}
            if gguf:
                kwargs["gguf_file"] = gguf
            try:
                tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs,
                                                             **({"device_map": device_map} if device_map else {}))
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
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.model.device)

    def generation_config(self, max_new_tokens: int | None = None) -> Any:
        """The model's own generation config, made greedy, with our length limit and stop tokens."""
        import copy

        cfg = copy.deepcopy(self.model.generation_config)
        cfg.max_new_tokens = max_new_tokens or self.settings.max_new_tokens
        cfg.do_sample = False
        for knob in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
            if hasattr(cfg, knob):
                setattr(cfg, knob, None)  # sampling knobs mean nothing when greedy (and transformers warns)
        eos = cfg.eos_token_id
        stops = list(eos) if isinstance(eos, list | tuple) else ([eos] if eos is not None else [])
        vocab = self.tokenizer.get_vocab()
        for token in (self.tokenizer.eos_token, *_STOP_TOKENS):
            tid = vocab.get(token) if token else None
            if isinstance(tid, int) and tid not in stops:
                stops.append(tid)
        cfg.eos_token_id = stops or None
        # the pad id may be 0: test for None, never `or`
        pad = self.tokenizer.pad_token_id
        cfg.pad_token_id = pad if pad is not None else (cfg.pad_token_id if cfg.pad_token_id is not None
                                                         else (stops[0] if stops else None))
        return cfg

    def stream(self, request: Request) -> Iterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                stop = request.cancel.is_set() or abandoned.is_set()
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        abandoned = threading.Event()  # the consumer stopped reading
        inputs = self.prompt_ids(request.messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=None)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.model.generate(**inputs, streamer=streamer,
                                    generation_config=self.generation_config(request.max_new_tokens),
                                    stopping_criteria=StoppingCriteriaList([_Cancelled()]))
            except BaseException as e:  # surfaced to the caller below
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if request.cancel.is_set():
                    break
                if piece:
                    yield piece
        finally:
            abandoned.set()
        thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}")


# ------------------------------------------------------------------------- OpenAI-compatible


class OpenAIGenerator:
    """Any OpenAI-compatible server through the ``openai`` SDK, streamed. ``request_timeout`` bounds
    the whole request (connect, first byte, the entire stream); a reply that is not a chat
    completion is a ModelError naming what came back, never an empty answer."""

    is_llm = True

    def __init__(self, model: str, settings: Settings) -> None:
        if not model:
            raise ModelError("give the served model's name: --model openai:NAME")
        if not settings.base_url:
            raise ModelError("openai:NAME needs the server's address: --base-url URL or OPENAI_BASE_URL "
                             "(e.g. http://127.0.0.1:8080/v1)")
        self.model = model
        self.base_url = _check_url(settings.base_url.strip()).rstrip("/")
        self.timeout = float(settings.request_timeout)
        self.max_tokens = settings.max_new_tokens
        self.name = f"openai:{model}"
        try:
            import openai
        except ImportError:
            raise ModelError("the openai backend needs: pip install openai") from None
        try:
            http = openai.DefaultHttpxClient(follow_redirects=False)
            self.client = openai.OpenAI(base_url=self.base_url, api_key=settings.api_key or "none",
                                        timeout=openai.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                                        max_retries=settings.max_retries, http_client=http)
        except Exception as e:  # an unparsable base URL, e.g. "http://[::1"
            raise ModelError(f"--base-url {settings.base_url!r} is not a usable URL ({e})") from None

    def stream(self, request: Request) -> Iterator[str]:
        deadline = time.monotonic() + self.timeout
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        opened: list[Any] = []
        worker = threading.Thread(target=self._pump, daemon=True,
                                  args=(request.messages, request.max_new_tokens or self.max_tokens, events, opened))
        worker.start()
        got_text = False
        try:
            while True:
                if request.cancel.is_set():
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    what = "did not finish its answer" if got_text else "did not answer"
                    raise ModelError(f"the model server at {self.base_url} {what} within {self.timeout:g} s "
                                     "(request_timeout)")
                try:
                    kind, item = events.get(timeout=min(0.2, left))
                except queue.Empty:
                    continue
                if kind == "text":
                    got_text = True
                    yield item
                elif kind == "error":
                    raise item
                else:  # "end"
                    if not got_text:
                        raise ModelError(f"the model server at {self.base_url} sent an empty answer "
                                         f"(no text in the stream{item})")
                    return
        finally:
            if opened:
                _abort(opened[0])

    def _pump(self, messages: list[dict[str, str]], max_tokens: int, events: queue.Queue[tuple[str, Any]],
              opened: list[Any]) -> None:
        """Runs in a worker thread: the SDK call, then each piece of text, then "end" (or "error")."""
        import openai

        try:
            stream: Any = self.client.chat.completions.create(model=self.model, messages=messages,  # type: ignore[arg-type]
                                                              stream=True, temperature=0, max_tokens=max_tokens)
            opened.append(stream)
            kind = stream.response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "text/event-stream":
                events.put(("text", self._not_a_stream(stream.response, kind)))
                events.put(("end", ""))
                return
            odd = 0
            for chunk in stream:
                choices = getattr(chunk, "choices", None)
                if choices is None:
                    odd += 1
                    continue
                for choice in choices:
                    text = getattr(getattr(choice, "delta", None), "content", None)
                    if text:
                        events.put(("text", text))
            events.put(("end", f"; {odd} event(s) were not chat completion chunks" if odd else ""))
        except openai.APIStatusError as e:
            events.put(("error", ModelError(self._status_message(e.response))))
        except openai.APITimeoutError:
            events.put(("error", ModelError(f"the model server at {self.base_url} did not answer within "
                                            f"{self.timeout:g} s (request_timeout)")))
        except openai.APIConnectionError:
            events.put(("error", ModelError(f"cannot reach the model server at {self.base_url}; is it running?")))
        except openai.APIError as e:
            events.put(("error", ModelError(f"the model server at {self.base_url} reported an error: "
                                            f"{_clean(str(e.message))}")))
        except ModelError as e:
            events.put(("error", e))
        except ValueError as e:  # JSON that does not parse inside the event stream
            events.put(("error", ModelError(f"the model server at {self.base_url} sent something that is not a "
                                            f"chat completion stream ({type(e).__name__}: {_clean(str(e))[:80]})")))
        except Exception as e:  # the stream closed under us after a cancel or deadline, or a library error
            events.put(("error", ModelError(f"the model server at {self.base_url} failed: {type(e).__name__}")))

    def _status_message(self, response: Any) -> str:
        code = response.status_code
        if 300 <= code < 400:
            where = response.headers.get("location", "?")
            return (f"the model server at {self.base_url} redirected ({code}) to {_clean(where)}; "
                    "give the final address as --base-url")
        body = _clean(response.text[:200]) if hasattr(response, "text") else ""
        hint = " — is /v1 missing from --base-url?" if code in (404, 405) and not self.base_url.endswith("/v1") else ""
        return f"the model server at {self.base_url} answered {code}{hint}: {body}"

    def _not_a_stream(self, response: Any, kind: str) -> str:
        """The text of a reply that is not an event stream: a plain (non-streamed) chat completion
        is accepted; HTML or anything else is a ModelError naming it."""
        import json

        body = response.read().decode("utf-8", "replace")
        if "html" in kind or body.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
            raise ModelError(f"the server at {self.base_url} returned HTML, not a chat completion — "
                             "is /v1 missing from --base-url?")
        try:
            text = json.loads(body)["choices"][0]["message"]["content"]
            if isinstance(text, str) and text:
                return text
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        raise ModelError(f"the model server at {self.base_url} did not return a chat completion "
                         f"({kind or 'no content type'}: {_clean(body[:80])!r})")


def _check_url(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        ok = False
    if not ok:
        raise ModelError(f"--base-url {_clean(url)!r} is not a usable http(s) URL (e.g. http://127.0.0.1:8080/v1)")
    return url


def _clean(text: str) -> str:
    """A server's words, safe to print: no terminal escapes or control characters, one line."""
    return "".join(c if c.isprintable() else " " for c in text).strip()


def _abort(stream: Any) -> None:
    """Close a streaming response now, waking the worker blocked on its socket."""
    import socket

    try:
        network = stream.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # best effort: the socket may be gone already
        pass
    try:
        stream.close()
    except Exception:
        pass


# ------------------------------------------------------------------------- built-in backends

register(Backend("auto", "auto", _auto))
register(Backend("extractive", "extractive", _extractive))
register(Backend("llamacpp", "llamacpp:FILE.gguf", _llamacpp, claims=_is_gguf))
register(Backend("transformers", "transformers:FOLDER|HUB_ID|FILE.gguf", lambda arg, s: TransformersGenerator(arg, s),
                 claims=_is_local_or_hub_id))
register(Backend("openai", "openai:NAME", lambda arg, s: OpenAIGenerator(arg, s)))

BACKENDS = _REGISTRY  # the built-in registry (plugins are added on first use of ``backends()``)

__all__ = ["Backend", "Generator", "ModelError", "Request", "UnknownBackendError", "backends", "find_cached_qwen",
           "make_generator", "register", "resolve", "resolve_auto"]
