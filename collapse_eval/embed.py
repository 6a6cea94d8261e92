"""Sentence embeddings for the diversity metrics: the project's one MiniLM encoder (detectors.embed), cached."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["embed"]

EMBED_TOKENS = 128  # the window every collapse_eval run was measured with


@lru_cache(maxsize=2)
def _encoder(device: str):
    from detectors.embed import SentenceEncoder

    return SentenceEncoder(device=device, max_tokens=EMBED_TOKENS, batch_size=64)


def embed(texts: list[str], *, device: str = "cpu") -> np.ndarray:
    """L2-normalised mean-pooled all-MiniLM-L6-v2 embeddings, shape (n, 384), float32."""
    return _encoder(device).encode(list(texts))
