"""Constants and small helpers the tests share."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "jishujingji-2024-new-quality-productive-forces-symposium.txt"
GOLD = Path(__file__).resolve().parent / "gold" / "questions.jsonl"
DATA = Path(__file__).resolve().parent / "data"
SPEAKERS = ["编者按", "吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]


def write_gguf(model_dir: Path, out: Path, arch: str = "qwen2", weights: dict | None = None) -> Path:
    """Write a Hugging Face Qwen2 folder (as built by ``build_tiny_model``) as an F32 .gguf file
    with ``gguf``: hyper-parameters, the byte-level BPE tokenizer, the chat template and the weights
    under llama.cpp's tensor names. ``arch`` may name another architecture to make a file that
    transformers cannot load; ``weights`` replaces tensors by their Hugging Face name."""
    import json

    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    w = gguf.GGUFWriter(str(out), arch)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    rope = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    w.add_rope_freq_base(float(rope))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    added = {a["content"]: a["id"] for a in tok["added_tokens"]}
    ids = {**tok["model"]["vocab"], **added}
    tokens = [""] * (max(ids.values()) + 1)
    for t, i in ids.items():
        tokens[i] = t
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in added else 1 for t in tokens])  # 3 = control
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    w.add_eos_token_id(added["<|im_end|>"])
    w.add_pad_token_id(added["<|endoftext|>"])
    w.add_chat_template(template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, cfg["num_hidden_layers"])
    for f in sorted(model_dir.glob("*.safetensors")):
        for hf_name, array in {**load_file(str(f)), **(weights or {})}.items():
            base, suffix = hf_name.rsplit(".", 1)
            w.add_tensor(f"{names.get_name(base)}.{suffix}", array.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def scripted_weights(model_dir: Path, script: str, end: str | None = "<|im_end|>") -> dict:
    """Weights (by Hugging Face name) that turn the tiny Qwen2 of ``build_tiny_model`` into a model
    whose greedy reply to any chat prompt is ``script`` then ``end`` (a special token, or None:
    then one filler token forever). Every layer's output projection is zero, so the model is a
    bigram table: the last token's embedding alone picks the next token. Token i of the chain
    has embedding e0 + e(i+1) and the output row of token i+1 is 10·e(i+1); every other token's
    embedding is e0, which picks the filler. The prompt's last token is the newline after
    ``<|im_start|>assistant``."""
    import json

    import numpy as np
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    hidden, vocab = cfg["hidden_size"], cfg["vocab_size"]
    newline = tok.encode("\n").ids[-1]
    chain = [newline, *tok.encode(script).ids] + ([tok.token_to_id(end)] if end else [])
    assert len(set(chain)) == len(chain), "the script must not repeat a token (the model is a bigram table)"
    assert len(chain) < hidden, f"a {hidden}-wide model scripts at most {hidden - 2} tokens"
    filler = next(t for t in range(3, vocab) if t not in chain)
    embed = np.zeros((vocab, hidden), np.float32)
    embed[:, 0] = 1.0
    output = np.zeros((vocab, hidden), np.float32)
    output[filler, 0] = 1.0
    for i, token in enumerate(chain):
        embed[token, i + 1] = 1.0
        if i:
            output[token, i] = 10.0
    weights = {"model.embed_tokens.weight": embed, "lm_head.weight": output,
               "model.norm.weight": np.ones(hidden, np.float32)}
    for name, array in load_file(str(model_dir / "model.safetensors")).items():
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            weights[name] = np.zeros_like(array)
    return weights


def write_scripted_gguf(model_dir: Path, out: Path, script: str, end: str | None = "<|im_end|>") -> Path:
    """The scripted model of ``scripted_weights`` as a GGUF file."""
    return write_gguf(model_dir, out, weights=scripted_weights(model_dir, script, end))


def write_scripted_folder(model_dir: Path, out: Path, script: str, end: str | None = "<|im_end|>") -> Path:
    """The scripted model of ``scripted_weights`` as a Hugging Face folder."""
    import shutil

    from safetensors.numpy import load_file, save_file

    shutil.copytree(model_dir, out)
    weights = {**load_file(str(model_dir / "model.safetensors")), **scripted_weights(model_dir, script, end)}
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def made_up_index(tmp_path: Path, record: str):  # type: ignore[no-untyped-def]
    """The real store (embedded Chroma) over ``record``, a made-up symposium in the project's markdown form
    (``## speaker | affiliation | title``), with the hash embedder and the extractive engine: for tests that
    must not lean on the seed. Returns the index; its ``settings`` build a Retriever or an Assistant."""
    from assistant.embed import HashEmbeddings
    from assistant.ingest import ingest
    from assistant.settings import Settings
    from assistant.store import Index

    doc = tmp_path / "talk.md"
    doc.write_text(record, encoding="utf-8")
    index = Index(Settings(index_dir=tmp_path / "index", embedder="hash", model="extractive"), HashEmbeddings())
    ingest(index, [doc])
    return index
