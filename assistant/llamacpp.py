"""The llama.cpp backend (llama-cpp-python): a GGUF file at the speed of the hardware.

* the chat template is the model's own (``tokenizer.chat_template`` in the GGUF metadata, rendered
  by llama-cpp-python's Jinja formatter); greedy decoding; stops on the model's end-of-generation
  tokens, its EOS, ``<|im_end|>``, ``<|endoftext|>`` and ``<|im_start|>``;
* one thread per physical core (setting ``n_threads``); ``n_ctx`` 4096 (setting ``n_ctx``); loaded once per process;
* the fixed part of a prompt (the system message and the header of the user's) is evaluated once
  and its KV state kept, so each question pays only for its passages and words, also after a
  different prompt (the follow-up rewrite) was evaluated in between;
* ``request.cancel`` stops generation within a token, and prompt evaluation within a graph node.

A file that is not a GGUF, truncated, or of an architecture llama.cpp does not know, and a
missing llama-cpp-python, are one-line ``ModelError``s naming the file and the fix.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .generate import ModelError, Request
from .models import gguf_problem
from .settings import Settings

STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
DEFAULT_N_CTX = 4096
_SENTINEL = "\uE000"  # a private-use character: where the first user message's text starts in a rendered prompt
_LOADED: dict[tuple[str, int], _Model] = {}
_LOAD_LOCK = threading.Lock()
INSTALL_HINT = ("pip install llama-cpp-python (builds llama.cpp from source: needs cmake and a C++ compiler, "
                "about 6-10 minutes on 2 cores)")


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share one core's arithmetic units)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    try:
        phys = core = ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "physical id":
                phys = value
            elif key == "core id":
                core = value
            elif not key and core:
                cores.add((phys, core))
                phys = core = ""
        if core:
            cores.add((phys, core))
    except OSError:
        pass
    return max(1, min(len(cores) or usable, usable))


def _threads_for(path: Path) -> int:
    """One per physical core; one for a tiny model (threads would only wait on each other at
    llama.cpp's per-operation barriers, and on a busy machine those waits cost seconds a token)."""
    try:
        tiny = path.stat().st_size < 64 << 20
    except OSError:
        tiny = False
    return 1 if tiny else physical_cores()


@dataclass
class Stats:
    """What the last request cost (for the benchmark): token counts and times in seconds."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV state was already there
    completion_tokens: int = 0
    steps: int = 0  # forward passes while decoding
    drafted: int = 0  # tokens guessed by prompt lookup
    accepted: int = 0  # guesses the model confirmed
    started: float = 0.0
    first_token: float = 0.0
    finished: float = 0.0

    @property
    def decode_tok_s(self) -> float:
        span = self.finished - self.first_token
        return (self.completion_tokens - 1) / span if self.completion_tokens > 1 and span > 0 else 0.0


@dataclass
class _Model:
    llm: Any
    path: Path
    formatter: Any
    stop_ids: frozenset[int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    prefixes: OrderedDict[tuple[int, ...], bytes] = field(default_factory=OrderedDict)  # KV states, LRU
    cancel: threading.Event = field(default_factory=threading.Event)  # the current request's
    abort_cb: Any = None  # llama.cpp's abort callback: polled between graph nodes while a prompt is evaluated


def _load(path: Path, n_ctx: int, n_threads: int) -> _Model:
    key = (str(path.resolve()), n_ctx)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        problem = gguf_problem(path) if path.is_file() else ("does not exist" if not path.exists() else "is a folder")
        if problem:
            fix = {"does not exist": "check the path (assistant models lists the models it finds)",
                   "is a folder": "give the .gguf file in it, or transformers:FOLDER for a Hugging Face folder",
                   "not a GGUF file": "give a .gguf model file (assistant models lists them)"}.get(
                       problem, "check the file's permissions")
            raise ModelError(f"model file {path}: {problem}; {fix}")
        # libgomp (llama.cpp's threads) reads this when it loads: spin ~1 ms at a barrier, then sleep. Its
        # default spins far longer, and when another process holds a core the waiting thread burns its whole
        # time slice: measured here, decode fell from ~11 to 0.7 tok/s on a busy 2-core machine (2.4 with this).
        os.environ.setdefault("GOMP_SPINCOUNT", "20000")
        try:
            import llama_cpp
            from llama_cpp import llama_chat_format
        except ImportError:
            raise ModelError(f"{path.name} needs llama-cpp-python: {INSTALL_HINT}; or run it through "
                             f"transformers: --model transformers:{path}") from None
        log: list[str] = []
        # flash attention: measured here, prefill of 600 tokens after the 520-token system prompt ran at 107
        # tokens/s with it and 94 without (the attention's share grows with the context a question follows)
        llm = _quiet_load(llama_cpp, log, lambda: llama_cpp.Llama(
            str(path), n_ctx=n_ctx, n_batch=512, n_threads=n_threads, n_threads_batch=n_threads, verbose=False,
            flash_attn=True))
        if llm is None:
            raise ModelError(_load_failure(path, log, llama_cpp.__version__))
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{path.name} has no chat template in its metadata (tokenizer.chat_template); "
                             "use an Instruct/chat model")

        def text(tid: int) -> str:
            return llm._model.token_get_text(tid) if tid >= 0 else ""

        formatter = llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=text(llm.token_eos()),
                                                          bos_token=text(llm.token_bos()))
        stops = {llm.token_eos()}
        for s in STOP_TOKENS:
            ids = llm.tokenize(s.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                stops.add(ids[0])
        model = _Model(llm, path, formatter, frozenset(t for t in stops if t >= 0))
        model.abort_cb = llama_cpp.ggml_abort_callback(lambda _: model.cancel.is_set())
        _LOADED[key] = model
        return model


def _quiet_load(llama_cpp: Any, log: list[str], make: Any) -> Any:
    """Load with llama.cpp's log captured (not printed); None when llama.cpp refuses the file."""
    from llama_cpp import _logger

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: Any) -> None:
        if level in (3, 4):  # ggml's GGML_LOG_LEVEL_WARN and _ERROR
            log.append(text.decode("utf-8", "replace").strip())

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        return make()
    except (ValueError, RuntimeError) as e:
        log.append(str(e))
        return None
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def _load_failure(path: Path, log: list[str], version: str) -> str:
    said = " ".join(log)
    low = said.lower()
    if "unknown model architecture" in low:
        arch = said.split("unknown model architecture:", 1)[-1].strip().split()[0].strip("'\".,")
        return (f"{path.name}: architecture {arch!r} is not supported by llama.cpp (llama-cpp-python {version}); "
                "use a GGUF of a supported architecture (e.g. qwen2, llama) or a newer llama-cpp-python")
    if "not within the file bounds" in low or "truncated" in low or "incomplete" in low or "failed to read" in low:
        return (f"{path.name}: the file is truncated or damaged ({path.stat().st_size:,} bytes); "
                "download it again (assistant models fetch NAME for the known ones)")
    detail = next((line for line in reversed(log) if "error" in line.lower()), log[-1] if log else "no reason given")
    return f"{path.name}: llama.cpp cannot load this model ({detail[:200]}); check the file or use another model"


def lookup_draft(seq: list[int], size: int, longest: int = 3, shortest: int = 2) -> list[int]:
    """Up to ``size`` tokens that followed the latest earlier occurrence of the last n tokens of ``seq``
    (n from ``longest`` down to ``shortest``): the guess of prompt-lookup decoding. [] when none occurs."""
    if size < 1:
        return []
    for n in range(longest, shortest - 1, -1):
        if len(seq) <= n:
            continue
        tail = seq[-n:]
        first = tail[0]
        for start in range(len(seq) - n - 1, -1, -1):
            if seq[start] == first and seq[start:start + n] == tail:
                return seq[start + n:start + n + size]
    return []


def _common_prefix(a: Any, b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LlamaCppGenerator:
    is_llm = True
    keeps_context = True  # the KV state of the last conversation stays: a follow-up evaluates only its new turn

    def __init__(self, spec: str, settings: Settings) -> None:
        if not spec:
            raise ModelError("give the model file: --model llamacpp:FILE.gguf")
        self.settings = settings
        self.path = Path(spec).expanduser()
        self.name = f"llamacpp:{self.path.name}"
        n_ctx = settings.n_ctx or DEFAULT_N_CTX
        n_threads = settings.n_threads or _threads_for(self.path)
        self.draft_tokens = settings.draft_tokens
        self._model = _load(self.path, n_ctx, n_threads)
        self.llm = self._model.llm
        self.last = Stats()

    # ---------------------------------------------------------------- prompt
    def prompt(self, messages: list[dict[str, str]]) -> str:
        return self._model.formatter(messages=messages).prompt

    def tokens(self, messages: list[dict[str, str]]) -> list[int]:
        return self.llm.tokenize(self.prompt(messages).encode("utf-8"), add_bos=False, special=True)

    def fits(self, messages: list[dict[str, str]], max_new_tokens: int) -> bool:
        """True if the prompt leaves room in the context for ``max_new_tokens`` (a long conversation may not)."""
        return len(self.tokens(messages)) + max_new_tokens <= self.llm.n_ctx()

    def fixed_prefix(self, messages: list[dict[str, str]], tokens: list[int]) -> list[int]:
        """The prompt's tokens up to where the first user message's text starts: the system message and the
        chat markup, the same for every question of every conversation."""
        if not messages:
            return []
        system = [m for m in messages[:1] if m.get("role") == "system"]
        head = self.prompt([*system, {"role": "user", "content": _SENTINEL}]).split(_SENTINEL, 1)[0]
        ids = self.llm.tokenize(head.encode("utf-8"), add_bos=False, special=True)
        return tokens[:_common_prefix(ids, tokens)]

    # ---------------------------------------------------------------- KV state of the fixed prefix
    def _reuse(self, tokens: list[int], fixed: list[int]) -> int:
        """Make the context hold the longest cached prefix of ``tokens``; the number of tokens reused: what the
        context already holds (the last conversation, when this prompt continues it), else the saved state
        of the fixed prefix."""
        llm, model = self.llm, self._model
        have = _common_prefix(llm.input_ids[:llm.n_tokens], tokens)
        if len(fixed) < 8 or have >= len(fixed):
            return have  # _greedy keeps the common prefix of what the context holds
        key = tuple(fixed)
        state = model.prefixes.get(key)
        if state is not None and self._restore(state, fixed):
            model.prefixes.move_to_end(key)
            return len(fixed)
        llm.reset()
        llm.eval(fixed)
        model.prefixes[key] = self._snapshot()
        while len(model.prefixes) > 4:
            model.prefixes.popitem(last=False)
        return 0

    def _snapshot(self) -> bytes:
        import llama_cpp

        ctx = self.llm.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        return bytes(buf)[:n]

    def _restore(self, state: bytes, fixed: list[int]) -> bool:
        import llama_cpp

        llm = self.llm
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_seq_set_data(llm.ctx, buf, len(state), 0) != len(state):
            llm.reset()
            return False
        llm.input_ids[:len(fixed)] = fixed
        llm.n_tokens = len(fixed)  # logits are not part of the saved state: _greedy evaluates the last token again
        return True

    # ---------------------------------------------------------------- generation
    def stream(self, request: Request) -> Iterator[str]:
        model, llm = self._model, self.llm
        tokens = self.tokens(request.messages)
        n_ctx = llm.n_ctx()
        if len(tokens) >= n_ctx:
            raise ModelError(f"the prompt has {len(tokens)} tokens but {self.path.name} was opened with n_ctx "
                             f"{n_ctx}; lower prompt_chars or k, or raise n_ctx")
        max_new = max(1, min(request.max_new_tokens or self.settings.max_new_tokens, n_ctx - len(tokens)))
        while not model.lock.acquire(timeout=0.1):  # one generation at a time per loaded model
            if request.cancel.is_set():
                return
        stats = self.last = Stats(prompt_tokens=len(tokens), started=time.perf_counter())
        model.cancel = request.cancel
        try:
            yield from self._generate(request, tokens, max_new, stats)
        finally:
            model.cancel = threading.Event()
            model.lock.release()

    def _generate(self, request: Request, tokens: list[int], max_new: int, stats: Stats) -> Iterator[str]:
        import llama_cpp

        model, llm = self._model, self.llm
        cancel = request.cancel
        llama_cpp.llama_set_abort_callback(llm.ctx, model.abort_cb, None)  # prompt evaluation can be stopped
        out: list[int] = []
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fed = 0
        try:
            stats.reused_tokens = self._reuse(tokens, self.fixed_prefix(request.messages, tokens))
            for token in self._greedy(tokens, stats):
                if not out:
                    stats.first_token = time.perf_counter()
                if cancel.is_set() or token in model.stop_ids or llama_cpp.llama_vocab_is_eog(llm._model.vocab,
                                                                                               token):
                    break
                out.append(token)
                stats.completion_tokens = len(out)
                data = llm.detokenize(out)
                piece = decoder.decode(data[fed:])
                fed = len(data)
                if piece:
                    yield piece
                if len(out) >= max_new:
                    break
            tail = decoder.decode(b"", final=True)
            tail = tail.replace("\ufffd", "")  # a character cut by the token limit
            if tail and not cancel.is_set():
                yield tail
        except RuntimeError as e:  # llama_decode aborted (cancel) or failed
            if not cancel.is_set():
                raise ModelError(f"{self.path.name}: generation failed ({e})") from None
        finally:
            stats.finished = time.perf_counter()
            stats.first_token = stats.first_token or stats.finished
            llama_cpp.llama_set_abort_callback(llm.ctx, llama_cpp.ggml_abort_callback(), None)

    def _greedy(self, tokens: list[int], stats: Stats) -> Iterator[int]:
        """Greedy decoding after ``tokens``, with prompt-lookup drafts (speculative decoding with no draft
        model): where the last tokens written also occur earlier in the prompt or the reply, the tokens that
        followed them there are guessed and checked in the same forward pass as the token before them.
        Reading the weights is what a token costs on a CPU, so a pass over 1 + 3 tokens costs about 1.6
        passes over one; a RAG answer copies its passages, so most guesses are right. A guess is kept only
        where it equals the model's own greedy choice, so the text is the one plain greedy decoding writes
        (up to float rounding between batch shapes); ``draft_tokens`` = 0 turns it off.

        The caller stops reading at a stop token, at its limit or on cancel; the KV cache and
        ``llm.input_ids[:llm.n_tokens]`` always describe the same tokens, so the next prompt reuses its
        common prefix."""
        import llama_cpp
        import numpy as np

        llm = self.llm
        n_ctx, n_vocab = llm.n_ctx(), llm.n_vocab()

        def choice(i: int) -> int:
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, i), shape=(n_vocab,))
            return int(row.argmax())

        # the prompt, after the longest prefix whose KV state is already there (the last token is always
        # evaluated again: its logits are not part of the saved state)
        llm.n_tokens = min(_common_prefix(llm.input_ids[:llm.n_tokens], tokens), len(tokens) - 1)
        llm.eval(tokens[llm.n_tokens:])
        # decoding: no abort callback (a Python call per graph node); the caller checks cancel per token
        llama_cpp.llama_set_abort_callback(llm.ctx, llama_cpp.ggml_abort_callback(), None)
        token = choice(-1)
        seq = list(tokens)
        while True:
            yield token
            seq.append(token)
            n_past = llm.n_tokens
            if n_past + 1 > n_ctx:
                return
            draft = lookup_draft(seq, self.draft_tokens)[: n_ctx - n_past - 1]
            batch = [token, *draft]
            llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=bool(draft))
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past:n_past + len(batch)] = batch
            llm.n_tokens = n_past + len(batch)
            stats.steps += 1
            stats.drafted += len(draft)
            if not draft:
                token = choice(-1)
                continue
            for i, guess in enumerate(draft):
                token = choice(i)
                if token != guess:  # the model's own choice: drop the rest of the guess from the cache
                    llm.n_tokens = n_past + 1 + i
                    llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
                    break
                stats.accepted += 1
                yield token
                seq.append(token)
            else:
                token = choice(len(draft))

    def forget(self) -> None:
        """Drop the KV state and the saved prefixes: the next request starts from an empty context."""
        with self._model.lock:
            self.llm.reset()
            self._model.prefixes.clear()

    # ---------------------------------------------------------------- the library's own loop, for the benchmark
    def raw_generate(self, messages: list[dict[str, str]], max_new: int) -> Stats:
        """llama-cpp-python's own ``Llama.generate`` on the same prompt from an empty context,
        greedy, until an end-of-generation token or ``max_new``: the reference this backend is
        measured against (no template-prefix reuse, no text decoding, no cancellation checks)."""
        import llama_cpp

        tokens = self.tokens(messages)
        llm = self.llm
        with self._model.lock:
            llm.reset()
            stats = Stats(prompt_tokens=len(tokens), started=time.perf_counter())
            for token in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
                if not stats.first_token:
                    stats.first_token = time.perf_counter()
                if token in self._model.stop_ids or llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                    break
                stats.completion_tokens += 1
                if stats.completion_tokens >= max_new:
                    break
            stats.finished = time.perf_counter()
        return stats
