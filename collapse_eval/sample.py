"""Batched sampling from a generation's model, prompted by held-out human prefixes."""

from __future__ import annotations

import numpy as np
import torch
from transformers import GPT2LMHeadModel

from .train import autocast

__all__ = ["sample_rows", "sequence_logprob"]


@torch.inference_mode()
def sample_rows(model: GPT2LMHeadModel, prompts: np.ndarray, new_tokens: int, *, temperature: float,
                top_k: int = 0, top_p: float = 1.0, batch_size: int = 256, seed: int,
                device: torch.device) -> np.ndarray:
    """(n, prompt + new_tokens) int32 rows: each prompt followed by its sampled continuation.

    A plain KV-cached loop (no `generate` overhead); top-k then top-p truncation, as in HF's order.
    """
    model.to(device).eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    for start in range(0, len(prompts), batch_size):
        ids = torch.from_numpy(prompts[start:start + batch_size].astype(np.int64)).to(device)
        past, step_in, pieces = None, ids, [ids]
        for _ in range(new_tokens):
            with autocast(device):
                res = model(input_ids=step_in, past_key_values=past, use_cache=True)
            past = res.past_key_values
            logits = res.logits[:, -1].float() / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if top_p < 1.0:
                sorted_logits, idx = torch.sort(logits, descending=True)
                cum = sorted_logits.softmax(-1).cumsum(-1)
                drop = cum - sorted_logits.softmax(-1) > top_p  # keep the token that crosses top_p
                logits = logits.scatter(1, idx, sorted_logits.masked_fill(drop, float("-inf")))
            step_in = torch.multinomial(logits.softmax(-1), 1, generator=gen)
            pieces.append(step_in)
        out.append(torch.cat(pieces, dim=1).cpu().numpy().astype(np.int32))
    return np.concatenate(out) if out else np.zeros((0, prompts.shape[1] + new_tokens), dtype=np.int32)


@torch.inference_mode()
def sequence_logprob(model: GPT2LMHeadModel, rows: np.ndarray, start: int, *, device: torch.device,
                     batch_size: int = 128) -> np.ndarray:
    """Mean log-probability per token of rows[:, start:] under the model (white-box detector statistic)."""
    model.to(device).eval()
    out = []
    for s in range(0, len(rows), batch_size):
        batch = torch.from_numpy(rows[s:s + batch_size].astype(np.int64)).to(device)
        with autocast(device):
            logits = model(input_ids=batch).logits.float()
        lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch[:, 1:, None])[..., 0]
        out.append(lp[:, start - 1:].mean(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
