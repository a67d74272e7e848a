"""Constants and small helpers the tests share."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "jishujingji-2024-new-quality-productive-forces-symposium.txt"
GOLD = Path(__file__).resolve().parent / "gold" / "questions.jsonl"
DATA = Path(__file__).resolve().parent / "data"
SPEAKERS = ["编者按", "吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]


def write_gguf(model_dir: Path, out: Path, arch: str = "qwen2") -> Path:
    """Write a Hugging Face Qwen2 folder (as built by ``build_tiny_model``) as an F32 .gguf file
    with ``gguf``: hyper-parameters, the byte-level BPE tokenizer, the chat template and the weights
    under llama.cpp's tensor names. ``arch`` may name another architecture to make a file that
    transformers cannot load."""
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
        for hf_name, array in load_file(str(f)).items():
            base, suffix = hf_name.rsplit(".", 1)
            w.add_tensor(f"{names.get_name(base)}.{suffix}", array.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
