"""The GPT-2 of one generation: build it, train it on a fixed number of rows and steps, score held-out text.

Read like nanoGPT: one plain loop. The budget is the caller's job (every arm gets the same rows count and
so the same steps); this file only turns rows into a model.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from .config import ModelSettings, TrainSettings

__all__ = ["pick_device", "autocast", "build_model", "train_steps", "train", "perplexity"]


def pick_device(name: str | None = None) -> torch.device:
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision on CPU (bf16 matmuls are slower there)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def build_model(settings: ModelSettings, vocab_size: int, eos_id: int, seed: int) -> GPT2LMHeadModel:
    """Pretrained weights when `settings.pretrained` is set; else a fresh GPT-2 initialised from `seed`."""
    if settings.pretrained:
        return GPT2LMHeadModel.from_pretrained(settings.pretrained)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=settings.context, n_embd=settings.n_embd,
                        n_layer=settings.n_layer, n_head=settings.n_head, bos_token_id=eos_id, eos_token_id=eos_id,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config)


def train_steps(n_rows: int, settings: TrainSettings) -> int:
    return max(1, math.ceil(settings.epochs * n_rows / settings.batch_size))


def train(model: GPT2LMHeadModel, rows: np.ndarray, settings: TrainSettings, *, seed: int,
          device: torch.device) -> dict[str, float]:
    """AdamW with linear warm-up and cosine decay for `train_steps(len(rows))` steps over shuffled epochs."""
    if len(rows) == 0:
        raise ValueError("no training rows")
    steps = train_steps(len(rows), settings)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                            betas=(0.9, 0.95))
    warmup = max(1, int(settings.warmup_frac * steps))

    def lr_factor(s: int) -> float:
        return (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    rng = np.random.default_rng(seed)
    data = torch.from_numpy(rows.astype(np.int64))
    passes = math.ceil(steps * settings.batch_size / len(rows)) + 1
    order = np.concatenate([rng.permutation(len(rows)) for _ in range(passes)])
    loss_sum, last = 0.0, float("nan")
    for step in range(steps):
        batch = data[order[step * settings.batch_size:(step + 1) * settings.batch_size]].to(device)
        with autocast(device):
            loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        last = loss.item()
        loss_sum += last
    model.eval()
    return {"steps": steps, "train_loss_mean": loss_sum / steps, "train_loss_last": last}


@torch.inference_mode()
def perplexity(model: GPT2LMHeadModel, rows: np.ndarray, *, device: torch.device, batch_size: int = 64) -> float:
    """exp(mean next-token NLL) over all predicted tokens of the held-out rows."""
    model.to(device).eval()
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = torch.from_numpy(rows[start:start + batch_size].astype(np.int64)).to(device)
        with autocast(device):
            logits = model(input_ids=batch).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                batch[:, 1:].reshape(-1), reduction="sum")
        total += nll.item()
        count += batch[:, 1:].numel()
    return math.exp(total / count)
