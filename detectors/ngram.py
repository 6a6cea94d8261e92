"""A token n-gram model of human text: the weak "reference" model of Ghostbuster-style features.

Counts unigrams, bigrams and trigrams of the scorer's token ids over human-written documents (each
document on its own: no n-gram crosses a document boundary) and scores tokens with interpolated absolute
discounting (discount 0.75) down to an add-one unigram over the whole vocabulary, so every token gets a
finite log-probability. The LM's log p minus this model's cancels how predictable a domain's words are
in general, which is what a likelihood threshold confuses with machine authorship.

Stored as one ``.npz`` of sorted packed keys and counts (``save`` / ``load``); lookups are
``np.searchsorted`` over whole token arrays, never a Python loop per token.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["NgramModel"]

_DISCOUNT = 0.75


class NgramModel:
    """Interpolated absolute-discounting trigram model over token ids in ``[0, vocab)``."""

    def __init__(self, vocab: int, unigram: np.ndarray, bigram_keys: np.ndarray, bigram_counts: np.ndarray,
                 trigram_keys: np.ndarray, trigram_counts: np.ndarray, meta: dict | None = None,
                 general: np.ndarray | None = None) -> None:
        self.vocab = int(vocab)
        self.unigram = unigram.astype(np.int64)
        self.bigram_keys, self.bigram_counts = bigram_keys.astype(np.int64), bigram_counts.astype(np.int64)
        self.trigram_keys, self.trigram_counts = trigram_keys.astype(np.int64), trigram_counts.astype(np.int64)
        self.meta = dict(meta or {})
        # Optional log p per token id under general text (detectors.wordfreq_ref), beside the counted model.
        self.general = None if general is None else np.asarray(general, dtype=np.float32)
        if self.general is not None and self.general.shape != (self.vocab,):
            raise ValueError(f"general log-probabilities must have one entry per token id ({self.vocab})")
        # Context statistics: how often a context was followed by anything, and by how many distinct tokens.
        self._ctx1_keys, self._ctx1_total, self._ctx1_types = _context_stats(self.bigram_keys, self.bigram_counts,
                                                                             self.vocab)
        self._ctx2_keys, self._ctx2_total, self._ctx2_types = _context_stats(self.trigram_keys,
                                                                             self.trigram_counts, self.vocab)

    @property
    def n_tokens(self) -> int:
        return int(self.unigram.sum())

    @classmethod
    def fit(cls, documents: list[list[int]] | list[np.ndarray], vocab: int, meta: dict | None = None) -> NgramModel:
        """Count the n-grams of token-id documents (each a list/array of ids)."""
        if vocab < 2 or vocab ** 3 >= 2 ** 62:
            raise ValueError(f"vocab must be in [2, 2**20], got {vocab}")
        docs = [np.asarray(d, dtype=np.int64) for d in documents if len(d)]
        if not docs:
            raise ValueError("the reference model needs at least one non-empty human document")
        flat = np.concatenate(docs)
        if flat.min() < 0 or flat.max() >= vocab:
            raise ValueError(f"token ids must be in [0, {vocab})")
        unigram = np.bincount(flat, minlength=vocab)
        lengths = np.array([len(d) for d in docs])
        position = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        b = position >= 1
        bi = flat[np.flatnonzero(b) - 1] * vocab + flat[b]
        t = position >= 2
        idx = np.flatnonzero(t)
        tri = (flat[idx - 2] * vocab + flat[idx - 1]) * vocab + flat[idx]
        bigram_keys, bigram_counts = np.unique(bi, return_counts=True)
        trigram_keys, trigram_counts = np.unique(tri, return_counts=True)
        return cls(vocab, unigram, bigram_keys, bigram_counts, trigram_keys, trigram_counts,
                   {**(meta or {}), "documents": str(len(docs)), "tokens": str(len(flat))})

    def token_logprobs(self, ids: np.ndarray, offsets: np.ndarray, order: int = 3) -> np.ndarray:
        """Natural-log probability of every token given up to ``order - 1`` previous tokens of its own text
        (texts are ``ids[offsets[i]:offsets[i + 1]]``; the first tokens of a text get shorter contexts)."""
        if order not in (1, 2, 3):
            raise ValueError(f"order must be 1, 2 or 3, got {order}")
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab):
            raise ValueError(f"token ids must be in [0, {self.vocab})")
        offsets = np.asarray(offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        position = np.arange(len(ids)) - np.repeat(offsets[:-1], lengths)
        p = (self.unigram[ids] + 1.0) / (self.n_tokens + self.vocab)
        if order == 1:
            return np.log(p)
        prev1 = np.where(position >= 1, np.roll(ids, 1), -1)
        p = np.where(prev1 >= 0, self._interpolate(prev1, ids, p, 1), p)
        if order == 3:
            prev2 = np.where(position >= 2, np.roll(ids, 2), -1)
            p_bi_next = p
            p = np.where(prev2 >= 0, self._interpolate(prev2 * self.vocab + prev1, ids, p_bi_next, 2), p)
        return np.log(p)

    def unigram_only(self) -> NgramModel:
        """This model less its bigram and trigram counts (token frequencies only: what the ``general``,
        ``rarity`` and ``memo`` families read, and nothing of the text's word order)."""
        empty = np.zeros(0, dtype=np.int64)
        return NgramModel(self.vocab, self.unigram, empty, empty, empty, empty,
                          {**self.meta, "orders": "unigram only"}, self.general)

    def with_general(self, general: np.ndarray) -> NgramModel:
        """This model with a general-text unigram attached (log p per token id)."""
        return NgramModel(self.vocab, self.unigram, self.bigram_keys, self.bigram_counts, self.trigram_keys,
                          self.trigram_counts, self.meta, general)

    def general_logprobs(self, ids: np.ndarray) -> np.ndarray:
        if self.general is None:
            raise ValueError("this reference model has no general-text unigram (see detectors.wordfreq_ref)")
        return self.general[np.asarray(ids, dtype=np.int64)].astype(np.float64)

    def _interpolate(self, context: np.ndarray, token: np.ndarray, lower: np.ndarray, n: int) -> np.ndarray:
        keys, counts = (self.bigram_keys, self.bigram_counts) if n == 1 else (self.trigram_keys, self.trigram_counts)
        ctx_keys, ctx_total, ctx_types = ((self._ctx1_keys, self._ctx1_total, self._ctx1_types) if n == 1 else
                                          (self._ctx2_keys, self._ctx2_total, self._ctx2_types))
        context = np.maximum(context, 0)
        count = _lookup(keys, counts, context * self.vocab + token)
        total = _lookup(ctx_keys, ctx_total, context)
        types = _lookup(ctx_keys, ctx_types, context)
        seen = total > 0
        safe = np.maximum(total, 1)
        mixed = np.maximum(count - _DISCOUNT, 0) / safe + _DISCOUNT * types / safe * lower
        return np.where(seen, mixed, lower)

    def save(self, path: str | Path) -> None:
        general = {} if self.general is None else {"general": self.general}
        np.savez_compressed(path, vocab=self.vocab, unigram=self.unigram, bigram_keys=self.bigram_keys,
                            bigram_counts=self.bigram_counts, trigram_keys=self.trigram_keys,
                            trigram_counts=self.trigram_counts,
                            meta=np.array(list(self.meta.items()), dtype=str).reshape(-1, 2), **general)

    @classmethod
    def load(cls, path: str | Path) -> NgramModel:
        with np.load(path) as d:
            return cls(int(d["vocab"]), d["unigram"], d["bigram_keys"], d["bigram_counts"], d["trigram_keys"],
                       d["trigram_counts"], {str(k): str(v) for k, v in d["meta"]},
                       d["general"] if "general" in d.files else None)


def _context_stats(keys: np.ndarray, counts: np.ndarray, vocab: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    context = keys // vocab
    ctx_keys, start = np.unique(context, return_index=True)  # keys are sorted, so contexts are contiguous
    total = np.add.reduceat(counts, start) if len(start) else np.zeros(0, dtype=np.int64)
    types = np.diff(np.append(start, len(keys)))
    return ctx_keys, total, types


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[keys == query] for each query, 0 where absent (keys sorted)."""
    if not len(keys):
        return np.zeros(query.shape, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[at] == query, values[at], 0)
