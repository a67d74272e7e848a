"""`assistant bench`: the figures users choose tools by, measured the same way each time.

Index cold build and reopen, retrieval p50/p95 (warm), extractive answers p50/p95, serving RSS
without an LLM, and the prompt size an LLM would receive. Then an LLM: by default a tiny random
Qwen2 through transformers (pipeline overhead over a bare ``model.generate``); with
``--model FILE.gguf`` the llama.cpp backend on the real model: load time, time to first token for
first questions and for follow-ups in a chat, decode speed beside llama-cpp-python's own
``generate`` on the same prompt, and peak RSS. ``--sweep`` measures prompt size, gold evidence
kept in the prompt and time to first token for several passage budgets (k × prompt_chars).
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


def _records(path: str | Path | None) -> list[dict[str, Any]]:
    from .parse import InputError

    p = Path(path) if path else PROJECT_ROOT / "tests" / "gold" / "questions.jsonl"
    if not p.is_file():
        raise InputError(f"{p}: no such questions file; give a JSONL file of questions with --questions")
    try:
        return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not a JSONL file of questions ({e}); one JSON object per line") from None


def _questions(path: str | None) -> list[str]:
    return [r["question"] for r in _records(path)]


def _followups(records: list[dict[str, Any]]) -> list[tuple[list[str], str]]:
    """(earlier questions, follow-up) pairs: from the questions given, else the calibration set's."""
    pairs = [(r["history"], r["question"]) for r in records if r.get("history")]
    if not pairs:
        calibration = PROJECT_ROOT / "tests" / "gold" / "calibration.jsonl"
        if calibration.is_file():
            pairs = [(r["history"], r["question"]) for r in _records(calibration) if r.get("history")]
    return pairs


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


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(settings: Settings, records: list[dict[str, Any]], tokenizer: str | None = None,
            llm_questions: int | None = None, sweep: bool = False) -> dict[str, Any]:
    from .embed import make_embedder
    from .ingest import ingest
    from .pipeline import Assistant
    from .store import Index

    questions = [r["question"] for r in records]
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
        out["rss_no_llm_mb"] = _rss_mb()

        model = settings.model.strip()
        if _backend(model) == "llamacpp":
            out.update(_llamacpp_figures(model, s, index, r, records, llm_questions, sweep))
        else:
            out.update(_llm_figures(model, s, index, r, questions, Path(tmp), tokenizer))
        out["rss_mb"] = _rss_mb()  # peak: with the LLM loaded and answering
    return out


def _backend(model: str) -> str:
    from .generate import resolve

    if model in ("", "auto", "extractive") or model.startswith("openai:"):
        return ""
    try:
        return resolve(model)[0].name
    except ValueError:
        return ""


def load_tokenizer(spec: str) -> Any:
    """A tokenizer from a model folder or a .gguf file (read offline)."""
    from transformers import AutoTokenizer

    from .generate import _resolve_local, offline_hub

    offline_hub()
    where, gguf = _resolve_local(spec)
    return AutoTokenizer.from_pretrained(where, local_files_only=True, **({"gguf_file": gguf} if gguf else {}))


def _llm_figures(model: str, s: Settings, index: Any, retriever: Any, questions: list[str],
                 tmp: Path, tokenizer: str | None = None) -> dict[str, Any]:
    """Prompt size, pipeline overhead and time to first token, with the configured transformers
    model (``--model FOLDER|transformers:FILE.gguf``) or, by default, a tiny random Qwen2 built here."""
    import torch

    from .generate import TransformersGenerator
    from .pipeline import Assistant

    real = _backend(model) == "transformers"
    new_tokens = 16 if real else 32
    spec = model.removeprefix("transformers:") if real else str(build_tiny_model(tmp / "tiny"))
    t0 = time.perf_counter()
    gen = TransformersGenerator(spec, s.with_overrides(max_new_tokens=new_tokens))
    out: dict[str, Any] = {"llm": gen.name, "backend": "transformers", "load_s": round(time.perf_counter() - t0, 2)}
    llm = Assistant(s.with_overrides(model=spec, max_new_tokens=new_tokens), generator=gen, index=index)
    llm._retriever = retriever

    # prompt size at the default k, in the model's own tokens, or those of the tokenizer given
    count = gen.tokenizer
    out["prompt_tokenizer"] = gen.name if real else "tiny test tokenizer (2,000 tokens, trained on the seed)"
    if tokenizer:
        count = load_tokenizer(tokenizer)
        out["prompt_tokenizer"] = Path(tokenizer).name
    sizes = []
    for q in questions:
        ret = retriever.search(q)
        if llm.decide(ret).outcome != "refuse":
            messages = llm.request(q, ret).messages
            sizes.append(len(count(count.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
                                   add_special_tokens=False)["input_ids"]))
    out["prompt_tokens"] = int(statistics.median(sizes))
    out["prompt_tokens_max"] = max(sizes)

    # the whole pipeline (retrieval, prompt, streamed generation, citations, grounding) against a
    # bare greedy model.generate on the same prompt: same prompt, same generation config, so the same tokens
    q = next((q for q in questions if llm.decide(retriever.search(q)).outcome != "refuse"), questions[0])
    inputs = gen.prompt_ids(llm.request(q, retriever.search(q)).messages)
    config = gen.generation_config(new_tokens)
    with torch.no_grad():  # warm-up: the first generate pays one-off allocation costs
        gen.model.generate(**inputs, generation_config=gen.generation_config(2))
    bare, pipe, ttft = [], [], []
    for _ in range(3 if real else 5):
        t0 = time.perf_counter()
        with torch.no_grad():
            gen.model.generate(**inputs, generation_config=config)
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
    out["ttft_p50_ms"] = out["ttft_ms"]
    return out


def _llamacpp_figures(model: str, s: Settings, index: Any, retriever: Any, records: list[dict[str, Any]],
                      n_questions: int | None, sweep: bool) -> dict[str, Any]:
    """The llama.cpp backend on a real model, over the answerable questions (``--llm-questions``,
    default 10) and the follow-ups: each question in a fresh chat, each follow-up after its
    earlier question(s) in the same chat."""
    from .generate import make_generator
    from .pipeline import Assistant

    new_tokens = 96
    ls = s.with_overrides(model=model, max_new_tokens=new_tokens)
    t0 = time.perf_counter()
    gen: Any = make_generator(ls, model)
    out: dict[str, Any] = {"llm": gen.name, "backend": "llamacpp", "load_s": round(time.perf_counter() - t0, 2),
                           "prompt_tokenizer": gen.name}
    llm = Assistant(ls, generator=gen, index=index)
    llm._retriever = retriever

    answerable = []
    sizes = []
    for rec in records:
        if rec.get("history") or rec.get("expect") == "refuse":
            continue
        ret = retriever.search(rec["question"])
        if llm.decide(ret).outcome != "refuse":
            answerable.append(rec["question"])
            sizes.append(len(gen.tokens(llm.request(rec["question"], ret).messages)))
    out["prompt_tokens"] = int(statistics.median(sizes))
    out["prompt_tokens_max"] = max(sizes)
    picked = answerable[: n_questions or 10]

    # one question first: it evaluates the fixed system prompt once, as a started server does
    cold = llm.ask(picked[0])
    out["ttft_cold_ms"] = round(cold.timings.first_token_ms, 1)
    ttft, total, decode, fresh_tokens = [], [], [], []
    for q in picked:
        a = llm.ask(q)
        if a.abstained:
            continue
        ttft.append(a.timings.first_token_ms)
        total.append(a.timings.total_ms)
        fresh_tokens.append(gen.last.prompt_tokens - gen.last.reused_tokens)
        if gen.last.completion_tokens >= 16:
            decode.append(gen.last.decode_tok_s)
    out["ttft_p50_ms"] = round(statistics.median(ttft), 1)
    out["ttft_ms"] = out["ttft_p50_ms"]
    out["answer_total_p50_ms"] = round(statistics.median(total), 1)
    out["prompt_tokens_evaluated_p50"] = int(statistics.median(fresh_tokens))
    out["decode_tok_s"] = round(statistics.median(decode), 2) if decode else 0.0

    follow_ttft, condense, follow_fresh = [], [], []
    for history, q in _followups(records)[: n_questions or 10]:
        turns: list[tuple[str, Any]] = []
        for h in history:
            turns.append((h, llm.ask(h, turns)))
        a = llm.ask(q, turns)
        if a.abstained:
            continue  # refused before the model was asked: no first token to time
        follow_ttft.append(a.timings.first_token_ms)
        condense.append(a.timings.condense_ms)
        follow_fresh.append(gen.last.prompt_tokens - gen.last.reused_tokens)
    if follow_ttft:
        out["ttft_followup_p50_ms"] = round(statistics.median(follow_ttft), 1)
        out["condense_p50_ms"] = round(statistics.median(condense), 1)
        out["prompt_tokens_evaluated_followup_p50"] = int(statistics.median(follow_fresh))
        out["followups"] = len(follow_ttft)

    # llama-cpp-python's own generate on the same prompts against the whole pipeline, both from an
    # empty context (no saved prefix): the same prompt, greedy, so the same tokens
    raw, bare, pipe = [], [], []
    for q in picked[:3]:
        request = llm.request(q, retriever.search(q))
        stats = gen.raw_generate(request.messages, new_tokens)
        raw.append(stats.decode_tok_s)
        bare.append(stats.finished - stats.started)
        gen.forget()
        t0 = time.perf_counter()
        llm.ask(q)
        pipe.append(time.perf_counter() - t0)
    out["raw_decode_tok_s"] = round(statistics.median(raw), 2)
    out["decode_ratio"] = round(out["decode_tok_s"] / out["raw_decode_tok_s"], 3) if out["raw_decode_tok_s"] else 0.0
    out["bare_generate_ms"] = round(statistics.median(bare) * 1000, 1)
    out["pipeline_ms"] = round(statistics.median(pipe) * 1000, 1)
    out["generate_overhead_ms"] = round(out["pipeline_ms"] - out["bare_generate_ms"], 1)
    out["generate_overhead_ratio"] = round(statistics.median(pipe) / statistics.median(bare), 3)
    out["questions_llm"] = len(picked)
    if sweep:
        out["budgets"] = passage_budgets(llm, gen, records)
    return out


def _evidence_kept(shown: str, evidence: list[str]) -> tuple[int, int]:
    """How many of the evidence strings the text holds (compared without whitespace)."""
    squeeze = "".join(shown.split())
    return sum("".join(e.split()) in squeeze for e in evidence), len(evidence)


def passage_budgets(llm: Any, gen: Any, records: list[dict[str, Any]],
                    budgets: tuple[tuple[int, int], ...] = ((5, 0), (5, 1000), (5, 900), (5, 850), (5, 800), (5, 750),
                                                            (5, 700), (4, 800), (3, 800))) -> list[dict[str, Any]]:
    """For each (k, prompt_chars): prompt tokens (p50/max), the share of the gold evidence strings
    the prompt still holds, and time to first token measured on the model (a one-token generation
    of each of up to 6 prompts, the fixed prefix already evaluated)."""
    from .generate import Request

    retriever = llm.retriever
    gold = [r for r in records if r.get("expect", "answer") == "answer" and r.get("evidence") and not r.get("history")]
    rows = []
    for k, chars in budgets:
        budget = llm.__class__(llm.settings.with_overrides(k=k, prompt_chars=chars), generator=gen,
                               index=retriever.index)
        budget._retriever = retriever
        sizes: list[int] = []
        timed: list[float] = []
        kept = total = 0
        for rec in gold:
            messages = budget.request(rec["question"], retriever.search(rec["question"], k=k)).messages
            # the whole prompt: a speaker's affiliation and title are in the system message
            got, of = _evidence_kept("\n".join(m["content"] for m in messages), rec["evidence"])
            kept, total = kept + got, total + of
            sizes.append(len(gen.tokens(messages)))
            if len(timed) < 6:
                list(gen.stream(Request(rec["question"], messages, (), max_new_tokens=1)))
                timed.append((gen.last.first_token - gen.last.started) * 1000)
        rows.append({"k": k, "prompt_chars": chars, "prompt_tokens_p50": int(statistics.median(sizes)),
                     "prompt_tokens_max": max(sizes), "evidence_kept": round(kept / max(1, total), 3),
                     "ttft_p50_ms": round(statistics.median(timed), 1)})
    return rows


TARGETS = {"retrieval_p50_ms": ("<", 100), "answer_p50_ms": ("<", 500), "index_reopen_s": ("<", 3),
           "generate_overhead_ratio": ("<", 1.05), "prompt_tokens": ("<=", 1200), "load_s": ("<=", 5),
           "ttft_p50_ms": ("<=", 6000), "ttft_followup_p50_ms": ("<=", 4000), "decode_tok_s": (">=", 15),
           "decode_ratio": (">=", 0.9), "rss_mb": ("<=", 3072)}


def run(settings: Settings, json_out: bool = False, questions: str | None = None,
        tokenizer: str | None = None, llm_questions: int | None = None, sweep: bool = False) -> int:
    records = _records(questions)
    figures = measure(settings, records, tokenizer, llm_questions, sweep)
    figures["questions"] = len(records)
    if json_out:
        print(json.dumps(figures, ensure_ascii=False))
        return 0
    print(f"{'measure':<28}{'value':>12}  target")
    for key, value in figures.items():
        if key == "budgets":
            continue
        target = TARGETS.get(key)
        mark = ""
        if target:
            op, limit = target
            ok = {"<": value < limit, "<=": value <= limit, ">=": value >= limit}[op]
            mark = f"{op} {limit}  {'ok' if ok else 'MISSED'}"
        print(f"{key:<28}{value!s:>12}  {mark}")
    for row in figures.get("budgets", []):
        print(f"k={row['k']} prompt_chars={row['prompt_chars']}: prompt {row['prompt_tokens_p50']} tokens "
              f"(max {row['prompt_tokens_max']}), evidence kept {row['evidence_kept']:.3f}, "
              f"first token {row['ttft_p50_ms']:.0f} ms")
    return 0
