"""nanoGPT's CPU configuration, re-implemented faithfully as the language benchmark's peer (nanoGPT is not a package).

The model is nanoGPT's ``model.py`` GPT (pre-norm blocks, causal self-attention through
``scaled_dot_product_attention``, 4x GELU MLP, no biases, learned positions, tied input and output embeddings,
normal(0.02) init with residual projections scaled by 1/sqrt(2 * n_layer)). The recipe is the README's CPU run of
``config/train_shakespeare_char.py``: 4 layers, 4 heads, 128 wide, context 64, batch 12, dropout 0, AdamW lr 1e-3
(betas 0.9/0.99, weight decay 0.1 on matrices only), 100 warm-up iterations then cosine decay to 1e-4, gradient
clipping at 1.0, random contiguous blocks of the training text. The one change: the cosine runs over the wall-clock
budget instead of 2,000 iterations, as labdeck's schedule does, so that both use the same time in full.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False


class LayerNorm(nn.Module):
    def __init__(self, ndim: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.resid_dropout = nn.Dropout(c.dropout)
        self.n_head, self.n_embd, self.dropout = c.n_head, c.n_embd, c.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class MLP(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.ln_1, self.attn = LayerNorm(c.n_embd, c.bias), CausalSelfAttention(c)
        self.ln_2, self.mlp = LayerNorm(c.n_embd, c.bias), MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.config = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd), wpe=nn.Embedding(c.block_size, c.n_embd),
            drop=nn.Dropout(c.dropout), h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]),
            ln_f=LayerNorm(c.n_embd, c.bias)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))

    def optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float]) -> torch.optim.AdamW:
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas)


def lr_at(it: int, progress: float, lr: float = 1e-3, min_lr: float = 1e-4, warmup: int = 100) -> float:
    """nanoGPT's get_lr, with the cosine's position taken from the time budget."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))) * (lr - min_lr)


@torch.no_grad()
def evaluate(model: GPT, ids: torch.Tensor, stride: int = 32) -> float:
    """Mean nats per character over all of ``ids``: windows of the context length moved ``stride`` at a time, each
    character scored once, with at least ``block - stride`` characters of context after the first window."""
    model.eval()
    block = model.config.block_size
    total, count = 0.0, 0
    for start in range(0, max(len(ids) - 1, 1), stride):
        begin = max(0, start + stride - block)
        x = ids[begin: start + stride][None]
        y = ids[begin + 1: start + stride + 1][None]
        x = x[:, : y.size(1)]
        if y.size(1) == 0:
            break
        logits = model(x)
        keep = slice(start - begin, None)  # only the characters this window adds
        loss = F.cross_entropy(logits[0, keep], y[0, keep], reduction="sum")
        total += loss.item()
        count += y[0, keep].numel()
    model.train()
    return total / max(count, 1)


def train(text: str, budget: float, split: float = 0.9, seed: int = 1337) -> dict:
    torch.manual_seed(seed)
    cut = int(len(text) * split)
    vocab = sorted(set(text[:cut]))
    stoi = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([stoi.get(c, 0) for c in text], dtype=torch.long)
    train_ids, val_ids = ids[:cut], ids[cut:]
    config = GPTConfig(vocab_size=len(vocab))
    model = GPT(config)
    opt = model.optimizer(0.1, 1e-3, (0.9, 0.99))
    batch, block = 12, config.block_size
    spent, it = 0.0, 0
    while spent < budget:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(it, spent / budget)
        starts = torch.randint(len(train_ids) - block, (batch,))
        x = torch.stack([train_ids[i: i + block] for i in starts])
        y = torch.stack([train_ids[i + 1: i + 1 + block] for i in starts])
        loss = F.cross_entropy(model(x).view(-1, config.vocab_size), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        it += 1
        spent += time.perf_counter() - t0
    return {"val_loss": evaluate(model, val_ids), "train_seconds": spent, "iterations": it,
            "chars_per_s": it * batch * block / spent,
            "params": sum(p.numel() for p in model.parameters())}
