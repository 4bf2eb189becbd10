#!/usr/bin/env python3
"""Reference fixtures from Hugging Face transformers for tiny random-weight models.

Runs where transformers is installed (the GPU machine's image; no download: every model is built from a
config written here). For each family it writes <out>/<name>/ with
  config.json, model.safetensors    what save_pretrained writes (transformers' own config keys and layout)
  reference.json                    inputs and transformers' outputs:
    logits      float32 logits [B, T, V] of a full forward over `input_ids` (no padding)
    padded      a left-padded batch: input_ids, attention_mask, position_ids, logits at the real positions
    greedy      prompt ids and the ids of a greedy generate() of `new_tokens` tokens (no EOS stop)
    hidden      per layer, the last-position hidden state of row 0 (output_hidden_states)
Weights are redrawn after init (normal 0.2, norms 1 ± 0.2, every bias non-zero), so that biases, norms and
tied heads all matter and logits are far from uniform. Everything runs in float32 on the CPU with eager
attention, so the numbers do not depend on GPU kernels.

Usage: python3 scripts/gpu/hf_reference.py OUT_DIR
"""

import json
import os
import sys
import traceback

import torch
import transformers
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, OPTConfig,
                          OPTForCausalLM, Qwen2Config, Qwen2ForCausalLM)

try:  # newer families: a transformers without them still writes the others
    from transformers import Gemma2Config, Gemma2ForCausalLM, Phi3Config, Phi3ForCausalLM
except ImportError:
    Gemma2Config = Gemma2ForCausalLM = Phi3Config = Phi3ForCausalLM = None

VOCAB = 96
T = 9
NEW_TOKENS = 16


def families():
    """(name, config, model class): the layouts the engine's loader must read."""
    common = dict(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    yield "llama", lambda: LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                               rope_theta=500000.0, tie_word_embeddings=False, **common), LlamaForCausalLM
    yield "llama-tied", lambda: LlamaConfig(hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
                                    num_key_value_heads=1, max_position_embeddings=64, rms_norm_eps=1e-6,
                                    tie_word_embeddings=True, **common), LlamaForCausalLM
    yield "qwen2", lambda: Qwen2Config(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, max_position_embeddings=64, rope_theta=1000000.0,
                               rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                               **common), Qwen2ForCausalLM
    yield "opt", lambda: OPTConfig(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                           max_position_embeddings=32, do_layer_norm_before=True, word_embed_proj_dim=32,
                           activation_function="relu", enable_bias=True, **common), OPTForCausalLM
    # opt-350m's shape: post-LN and a projection between a narrower embedding and the hidden width
    yield "opt-350m-style", lambda: OPTConfig(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                                      max_position_embeddings=32, do_layer_norm_before=False,
                                      word_embed_proj_dim=16, activation_function="relu", **common), OPTForCausalLM
    yield "gpt2", lambda: GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=32, activation_function="gelu_new",
                             layer_norm_epsilon=1e-5, vocab_size=VOCAB, bos_token_id=1, eos_token_id=2), GPT2LMHeadModel
    if Phi3Config is not None:
        # fused qkv_proj / gate_up_proj, half the head rotated, a window shorter than the T = 9 tokens
        yield "phi3", lambda: Phi3Config(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, max_position_embeddings=64, original_max_position_embeddings=64,
                                 partial_rotary_factor=0.5, sliding_window=4, rms_norm_eps=1e-5,
                                 tie_word_embeddings=False, **common), Phi3ForCausalLM
    if Gemma2Config is not None:
        # soft caps small enough that tanh bends, windows of 4 on even layers, head_dim ≠ hidden / heads
        yield "gemma2", lambda: Gemma2Config(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                                     num_key_value_heads=2, head_dim=12, query_pre_attn_scalar=20, sliding_window=4,
                                     attn_logit_softcapping=2.0, final_logit_softcapping=5.0,
                                     max_position_embeddings=64, tie_word_embeddings=True, **common), Gemma2ForCausalLM


def redraw(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = ("norm" in name or ".ln_" in name or "layer_norm" in name or name.endswith("ln_f.weight"))
            if is_norm and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def rows(x):
    return x.detach().to(torch.float32).cpu().tolist()


def build(name, cfg, cls, out):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    try:
        model = cls._from_config(cfg, attn_implementation="eager")
    except (TypeError, ValueError):
        cfg._attn_implementation = "eager"
        model = cls(cfg)
    model = model.to(torch.float32).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    redraw(model, gen)
    model.tie_weights()
    folder = os.path.join(out, name)
    model.save_pretrained(folder, safe_serialization=True)

    ids = torch.randint(3, VOCAB, (2, T), generator=gen)
    ids[:, 0] = 1  # BOS first, as the tokenizers of these families put it
    with torch.no_grad():
        full = model(input_ids=ids, output_hidden_states=True)
        # left padding: row 0 has 3 pads; positions restart at the first real token
        mask = torch.ones_like(ids)
        mask[0, :3] = 0
        pids = (mask.cumsum(-1) - 1).clamp(min=0)
        padded_ids = ids.clone()
        padded_ids[0, :3] = 0
        kw = dict(input_ids=padded_ids, attention_mask=mask)
        if not isinstance(model, OPTForCausalLM):  # OPT derives its positions from the mask itself
            kw["position_ids"] = pids
        padded = model(**kw)
        prompt = ids[1:, :5]
        gen_ids = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS,
                                 min_new_tokens=0, do_sample=False, eos_token_id=None, pad_token_id=0)
    ref = {
        "family": name,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "input_ids": ids.tolist(),
        "logits": rows(full.logits),
        "hidden": [rows(h[0, -1]) for h in full.hidden_states],
        "padded": {
            "input_ids": padded_ids.tolist(),
            "attention_mask": mask.tolist(),
            "position_ids": pids.tolist(),
            "logits": [[rows(padded.logits[b, t]) if mask[b, t] else None for t in range(T)] for b in range(2)],
        },
        "greedy": {"prompt": prompt[0].tolist(), "ids": gen_ids[0, prompt.shape[1]:].tolist()},
    }
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, files {sorted(os.listdir(folder))}")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(4)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    failed = 0
    for name, make_cfg, cls in families():
        try:
            build(name, make_cfg(), cls, out)
        except Exception:  # one family's API drift must not cost the others
            failed += 1
            traceback.print_exc()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
