"""`assistant bench`: the figures users choose tools by, measured the same way each time.

Index cold build and reopen, retrieval p50/p95 (warm), extractive answers p50/p95,
pipeline overhead over a bare ``model.generate`` with a tiny model, time to first
token, serving RSS without an LLM, and the prompt size an LLM would receive.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .settings import PROJECT_ROOT, Settings


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _p50_p95(fn: Any, questions: list[str]) -> tuple[float, float]:
    """Median and 95th-percentile latency in ms of ``fn(q)`` over the questions."""
    lat = []
    for q in questions:
        t0 = time.perf_counter()
        fn(q)
        lat.append((time.perf_counter() - t0) * 1000)
    return round(_pct(lat, 50), 1), round(_pct(lat, 95), 1)


def _questions(path: str | None) -> list[str]:
    p = Path(path) if path else PROJECT_ROOT / "tests" / "gold" / "questions.jsonl"
    return [json.loads(line)["question"] for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_tiny_model(folder: Path, vocab_size: int = 2000, hidden_size: int = 64,
                     stop_at_eos: bool = False) -> Path:
    """A 2-layer Qwen2 with random weights and a byte-level BPE tokenizer trained on the seeds,
    with a ChatML template. Used by the benchmark and the tests; never downloaded."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    seeds = sorted((PROJECT_ROOT / "seeds").glob("*.txt"))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([s.read_text(encoding="utf-8") for s in seeds], trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    # the benchmark never stops at EOS so that every run generates the same number of tokens
    eos = fast.eos_token_id if stop_at_eos else 10**6
    Qwen2ForCausalLM(Qwen2Config(vocab_size=len(fast), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                                 num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                 max_position_embeddings=8192, eos_token_id=eos,
                                 pad_token_id=fast.pad_token_id)).save_pretrained(folder)
    return folder


def measure(settings: Settings, questions: list[str], tokenizer: str | None = None) -> dict[str, Any]:
    from .embed import make_embedder
    from .ingest import ingest
    from .pipeline import Assistant
    from .store import Index

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        s = settings.with_overrides(index_dir=Path(tmp) / "index", chroma="embedded", model="extractive")
        embedder = make_embedder(s.embedder)
        t0 = time.perf_counter()
        ingest(Index(s, embedder))
        out["index_build_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        index = Index(s, make_embedder(s.embedder))
        assistant = Assistant(s, index=index)
        assistant.retriever  # noqa: B018  (reopen: read chunks, build BM25; no embedding)
        out["index_reopen_s"] = round(time.perf_counter() - t0, 2)
        r = assistant.retriever
        for q in questions[:3]:
            r.search(q)  # warm-up
        out["retrieval_p50_ms"], out["retrieval_p95_ms"] = _p50_p95(r.search, questions)
        out["answer_p50_ms"], out["answer_p95_ms"] = _p50_p95(assistant.ask, questions)
        out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

        out.update(_llm_figures(settings.model, s, index, r, questions, Path(tmp), tokenizer))
    return out


def load_tokenizer(spec: str) -> Any:
    """A tokenizer from a model folder or a .gguf file (read offline)."""
    from transformers import AutoTokenizer

    from .generate import _resolve_local

    where, gguf = _resolve_local(spec)
    return AutoTokenizer.from_pretrained(where, local_files_only=True, **({"gguf_file": gguf} if gguf else {}))


def _llm_figures(model: str, s: Settings, index: Any, retriever: Any, questions: list[str],
                 tmp: Path, tokenizer: str | None = None) -> dict[str, Any]:
    """Prompt size, pipeline overhead and time to first token, with the configured transformers
    model (``--model FOLDER|FILE.gguf``) or, by default, a tiny random Qwen2 built here."""
    import torch

    from .generate import TransformersGenerator
    from .pipeline import Assistant

    real = model not in ("auto", "extractive", "") and not model.startswith("openai:")
    new_tokens = 16 if real else 32
    spec = model if real else str(build_tiny_model(tmp / "tiny"))
    gen = TransformersGenerator(spec, s.with_overrides(max_new_tokens=new_tokens))
    llm = Assistant(s.with_overrides(model=spec, max_new_tokens=new_tokens), generator=gen, index=index)
    llm._retriever = retriever
    out: dict[str, Any] = {"llm": gen.name}

    # prompt size at the default k, in the model's own tokens, or those of the tokenizer given
    count = gen.tokenizer
    out["prompt_tokenizer"] = gen.name if real else "tiny test tokenizer (2,000 tokens, trained on the seed)"
    if tokenizer:
        count = load_tokenizer(tokenizer)
        out["prompt_tokenizer"] = Path(tokenizer).name
    sizes = []
    for q in questions:
        ret = retriever.search(q)
        if ret.answerable:
            messages = llm.request(q, ret).messages
            sizes.append(len(count(count.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
                                   add_special_tokens=False)["input_ids"]))
    out["prompt_tokens"] = int(statistics.median(sizes))
    out["prompt_tokens_max"] = max(sizes)

    # the whole pipeline (retrieval, prompt, streamed generation, citations, grounding) against a
    # bare greedy model.generate on the same prompt: same prompt, greedy, so the same tokens
    q = questions[0]
    inputs = gen.prompt_ids(llm.request(q, retriever.search(q)).messages)
    pad = gen.tokenizer.pad_token_id or gen.tokenizer.eos_token_id
    with torch.no_grad():  # warm-up: the first generate pays one-off allocation costs
        gen.model.generate(**inputs, max_new_tokens=2, do_sample=False, pad_token_id=pad)
    bare, pipe, ttft = [], [], []
    for _ in range(3 if real else 5):
        t0 = time.perf_counter()
        with torch.no_grad():
            gen.model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        answer = llm.ask(q)
        pipe.append(time.perf_counter() - t0)
        ttft.append(answer.timings.first_token_ms)
    out["bare_generate_ms"] = round(statistics.median(bare) * 1000, 1)
    out["pipeline_ms"] = round(statistics.median(pipe) * 1000, 1)
    out["generate_overhead_ms"] = round(out["pipeline_ms"] - out["bare_generate_ms"], 1)
    out["generate_overhead_ratio"] = round(statistics.median(pipe) / statistics.median(bare), 3)
    out["ttft_ms"] = round(statistics.median(ttft), 1)
    return out


TARGETS = {"retrieval_p50_ms": ("<", 100), "answer_p50_ms": ("<", 500), "index_reopen_s": ("<", 3),
           "generate_overhead_ratio": ("<", 1.05), "prompt_tokens": ("<=", 1200)}


def run(settings: Settings, json_out: bool = False, questions: str | None = None,
        tokenizer: str | None = None) -> int:
    qs = _questions(questions)
    figures = measure(settings, qs, tokenizer)
    figures["questions"] = len(qs)
    if json_out:
        print(json.dumps(figures, ensure_ascii=False))
        return 0
    print(f"{'measure':<26}{'value':>12}  target")
    for key, value in figures.items():
        target = TARGETS.get(key)
        mark = ""
        if target:
            op, limit = target
            ok = value < limit if op == "<" else value <= limit
            mark = f"{op} {limit}  {'ok' if ok else 'MISSED'}"
        print(f"{key:<26}{value:>12}  {mark}")
    return 0
