#!/usr/bin/env python3
"""PyTorch peer for bench/train.ts: the same training step IDP Lab runs, in eager PyTorch on the CPU.

Loads a Hugging Face Llama folder (config.json + model.safetensors, read here with numpy: no
transformers or safetensors package needed), the initial trainable tensors IDP Lab wrote
(soft_prompt, or lora_A.<module> / lora_B.<module>) and the exact rows of every step, then runs
forward + cross-entropy + backward + gradient clipping + torch.optim.AdamW for the given steps and
prints one JSON line: tokens/s over the steps after the warmup, peak RSS, and the loss of every step
(bench/train.ts compares them with IDP Lab's, so both are known to do the same arithmetic).

The model is written out here from the Llama definition: RMSNorm, rotary embeddings in the
rotate-half layout, grouped-query attention with an explicit causal softmax, SwiGLU MLP, tied or
separate output head. Frozen weights do not require gradients; only the trainable tensors do.
"""

import argparse
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def rss_mb():
    """Peak RSS in MiB: VmHWM (getrusage's maxrss can carry the forking parent's high-water mark)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_safetensors(path):
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32, "I64": np.int64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] == "BF16":
            raw = np.frombuffer(blob, dtype=np.uint16, count=int(np.prod(info["shape"])), offset=info["data_offsets"][0])
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            dt = np.dtype(dtypes[info["dtype"]])
            start, end = info["data_offsets"]
            arr = np.frombuffer(blob[start:end], dtype=dt)
        out[name] = torch.from_numpy(np.array(arr, dtype=np.float32 if arr.dtype.kind == "f" else arr.dtype).reshape(info["shape"]))
    return out


class Llama:
    def __init__(self, folder):
        with open(f"{folder}/config.json") as f:
            c = json.load(f)
        self.d = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim", self.d // self.heads)
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta", 10000.0)
        self.w = read_safetensors(f"{folder}/model.safetensors")
        for t in self.w.values():
            t.requires_grad_(False)
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])
        self.lora = {}
        self.lora_scale = 0.0

    def rotary(self, positions):
        half = self.head_dim // 2
        inv = 1.0 / (self.theta ** (torch.arange(half, dtype=torch.float64) * 2.0 / self.head_dim))
        ang = positions.to(torch.float64)[:, None] * inv[None, :]
        return ang.cos().to(torch.float32), ang.sin().to(torch.float32)   # [T, half]

    def rope(self, x, cos, sin):                                           # x [B, H, T, D]
        half = self.head_dim // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def linear(self, x, name):
        y = x @ self.w[f"{name}.weight"].t()
        ab = self.lora.get(name)
        if ab is not None:
            y = y + ((x @ ab[0].t()) @ ab[1].t()) * self.lora_scale
        return y

    def forward(self, x):                                                  # x [B, T, d] embeddings
        B, T, _ = x.shape
        cos, sin = self.rotary(torch.arange(T))
        mask = torch.full((T, T), float("-inf")).triu(1)
        G = self.heads // self.kv_heads
        for i in range(self.layers):
            p = f"model.layers.{i}"
            h = self.norm(x, self.w[f"{p}.input_layernorm.weight"])
            q = self.linear(h, f"{p}.self_attn.q_proj").view(B, T, self.heads, self.head_dim).transpose(1, 2)
            k = self.linear(h, f"{p}.self_attn.k_proj").view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
            v = self.linear(h, f"{p}.self_attn.v_proj").view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            k = k.repeat_interleave(G, dim=1)
            v = v.repeat_interleave(G, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
            o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.heads * self.head_dim)
            x = x + self.linear(o, f"{p}.self_attn.o_proj")
            h = self.norm(x, self.w[f"{p}.post_attention_layernorm.weight"])
            g = F.silu(self.linear(h, f"{p}.mlp.gate_proj")) * self.linear(h, f"{p}.mlp.up_proj")
            x = x + self.linear(g, f"{p}.mlp.down_proj")
        return self.norm(x, self.w["model.norm.weight"]) @ self.head.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--method", choices=["prompt", "lora"], required=True)
    ap.add_argument("--init", required=True, help="safetensors with the initial trainable tensors")
    ap.add_argument("--rows", required=True, help="JSON: the token rows of every step, in order")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--wd", type=float, required=True)
    ap.add_argument("--clip", type=float, required=True)
    ap.add_argument("--lora-scale", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    base_rss = rss_mb()
    m = Llama(a.model)
    init = read_safetensors(a.init)
    with open(a.rows) as f:
        rows = torch.tensor(json.load(f), dtype=torch.long)                 # [steps · batch, T]
    embed = m.w["model.embed_tokens.weight"]

    if a.method == "prompt":
        prompt = init["soft_prompt"].clone().requires_grad_(True)
        params = [prompt]
    else:
        m.lora_scale = a.lora_scale
        params = []
        for name, t in init.items():
            if name.startswith("lora_A."):
                mod = name[len("lora_A."):]
                A = t.clone().requires_grad_(True)
                Bm = init[f"lora_B.{mod}"].clone().requires_grad_(True)
                m.lora[mod] = (A, Bm)
                params += [A, Bm]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.wd)

    losses = []
    marks = []
    for step in range(a.steps):
        ids = rows[step * a.batch:(step + 1) * a.batch]                     # [B, T]
        B, T = ids.shape
        x = embed[ids]
        labels = torch.cat([ids[:, 1:], torch.full((B, 1), -100, dtype=torch.long)], dim=1)
        if a.method == "prompt":
            n = prompt.shape[0]
            x = torch.cat([prompt.unsqueeze(0).expand(B, n, prompt.shape[1]), x], dim=1)
            labels = torch.cat([torch.full((B, n), -100, dtype=torch.long), labels], dim=1)
        logits = m.forward(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        losses.append(loss.item())
        marks.append(time.perf_counter())
    measured = a.steps - a.warmup
    secs = marks[-1] - marks[a.warmup - 1]
    print(json.dumps({
        "tokens_per_s": measured * a.batch * rows.shape[1] / secs,
        "peak_rss_mb": rss_mb(), "base_rss_mb": base_rss, "losses": losses,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    sys.exit(main())
