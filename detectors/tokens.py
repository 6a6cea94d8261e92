"""Per-token statistics of texts under one causal LM, in one or two contexts, from one forward pass each.

The zero-shot detectors (:mod:`detectors.zeroshot`) keep per-text sums; richer detectors need the token
sequence itself (quantiles, rank histograms, per-sentence variance, windowed curvature, ratios against a
human-text reference model). :class:`TokenScorer` returns, for every scored token x_t of every text, with
``p_t`` the model's next-token distribution and ``lp = log p``:

- ``{c}_lp``: log p_t(x_t); ``{c}_rank``: rank of x_t (1 = top token; ties share the better rank);
  ``{c}_ent``: entropy -sum_v p_v lp_v; ``{c}_m2``: sum_v p_v lp_v^2 (with ``ent``, the variance that
  analytic Fast-DetectGPT needs); ``{c}_lpmax``: log-prob of the top token;

for each context ``c``:

- ``raw``: the text after the tokenizer's BOS (exactly what :class:`~detectors.zeroshot.ZeroShotDetector`
  scores, so ``raw_lp`` averages to its ``likelihood``);
- ``chat``: the text as the assistant's reply inside the model's chat template, after a fixed user prompt
  (chat-model text is more probable there than as raw text; human text gains less).

With both contexts, cross terms between the two distributions of the same position (Binoculars /
Fast-DetectGPT with the chat-conditioned model as sampler and the raw one as scorer, and the reverse):
``x_mu`` = sum_v p^chat_v lp^raw_v, ``x_m2`` = sum_v p^chat_v (lp^raw_v)^2, ``y_mu`` = sum_v p^raw_v
lp^chat_v, ``y_m2`` = sum_v p^raw_v (lp^chat_v)^2.

Both contexts score the same tokens (the text's first ``max_tokens`` tokens, minus the first when the
tokenizer has no BOS), so their arrays align position by position. Windows, truncation, normalisation and
NaN-with-reason rules are :class:`~detectors.zeroshot.TokenWindow`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .lm import LoadedLM
from .zeroshot import TokenWindow, check_plain_head, chunk_bounds

__all__ = ["CONTEXTS", "CROSS_FIELDS", "DEFAULT_CHAT_PROMPT", "PER_CONTEXT", "TokenArrays", "TokenScorer",
           "chat_prefix"]

CONTEXTS = ("raw", "chat")
PER_CONTEXT = ("lp", "rank", "ent", "m2", "lpmax")
CROSS_FIELDS = ("x_mu", "x_m2", "y_mu", "y_m2")
DEFAULT_CHAT_PROMPT = "Write a text."


def chat_prefix(tokenizer, prompt: str = DEFAULT_CHAT_PROMPT) -> list[int]:
    """Token ids of the chat template up to where the assistant's reply starts."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the scorer's tokenizer has no chat template; use contexts=('raw',)")
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class TokenArrays:
    """Per-token float32 arrays of many texts, flattened; text i owns ``offsets[i]:offsets[i + 1]``."""

    ids: np.ndarray  # int32 token ids of the scored tokens
    offsets: np.ndarray  # int64, len = n_texts + 1
    fields: dict[str, np.ndarray]  # name -> float32 array, one value per scored token
    reason: np.ndarray  # str per text, "" when scored
    truncated: np.ndarray  # bool per text
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.offsets) - 1

    @property
    def ok(self) -> np.ndarray:
        return self.reason == ""

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def owner(self) -> np.ndarray:
        """The text index of every token."""
        return np.repeat(np.arange(self.size), self.lengths)

    def take(self, index: np.ndarray | list[int]) -> TokenArrays:
        index = np.asarray(index, dtype=np.int64)
        spans = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in index]
        flat = np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.lengths[index])]).astype(np.int64)
        return TokenArrays(self.ids[flat], offsets, {k: v[flat] for k, v in self.fields.items()},
                           self.reason[index], self.truncated[index], dict(self.meta))

    def head(self, max_tokens: int) -> TokenArrays:
        """The first ``max_tokens`` scored tokens of every text (a causal LM's shorter window, exactly)."""
        keep = (np.arange(len(self.ids)) - np.repeat(self.offsets[:-1], self.lengths)) < max_tokens
        offsets = np.concatenate([[0], np.cumsum(np.minimum(self.lengths, max_tokens))]).astype(np.int64)
        return TokenArrays(self.ids[keep], offsets, {k: v[keep] for k, v in self.fields.items()}, self.reason,
                           self.truncated | (self.lengths > max_tokens), dict(self.meta))

    @staticmethod
    def concat(parts: list[TokenArrays]) -> TokenArrays:
        lengths = np.concatenate([p.lengths for p in parts])
        return TokenArrays(
            np.concatenate([p.ids for p in parts]), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            {k: np.concatenate([p.fields[k] for p in parts]) for k in parts[0].fields},
            np.concatenate([p.reason for p in parts]), np.concatenate([p.truncated for p in parts]),
            dict(parts[0].meta))

    def save(self, path: Path) -> None:
        np.savez(path, ids=self.ids, offsets=self.offsets, reason=self.reason, truncated=self.truncated,
                 meta=np.array(list(self.meta.items()), dtype=str).reshape(-1, 2),
                 **{f"f_{k}": v for k, v in self.fields.items()})

    @classmethod
    def load(cls, path: Path) -> TokenArrays:
        with np.load(path) as data:
            fields = {k[2:]: data[k] for k in data.files if k.startswith("f_")}
            meta = {str(k): str(v) for k, v in data["meta"]}
            return cls(data["ids"], data["offsets"], fields, data["reason"], data["truncated"], meta)


class TokenScorer:
    """One forward pass per context per batch; per-token statistics of every text (see the module docstring)."""

    def __init__(self, lm: LoadedLM, *, contexts: tuple[str, ...] = ("raw",), max_tokens: int = 512,
                 batch_size: int = 16, max_chars: int | None = None, min_tokens: int = 1,
                 normalize: str = "none", chat_prompt: str = DEFAULT_CHAT_PROMPT) -> None:
        if not contexts or any(c not in CONTEXTS for c in contexts) or len(set(contexts)) != len(contexts):
            raise ValueError(f"contexts must be distinct names from {CONTEXTS}, got {contexts!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lm, self.contexts, self.batch_size = lm, tuple(contexts), batch_size
        self.window = TokenWindow(lm, max_tokens, max_chars, min_tokens, normalize)
        self.max_tokens, self.chat_prompt = max_tokens, chat_prompt
        self.prefixes = {"raw": self.window.prefix}
        if "chat" in self.contexts:
            self.prefixes["chat"] = chat_prefix(lm.tokenizer, chat_prompt)
        self._plain_head = check_plain_head(lm, self.window.prefix)

    @property
    def fields(self) -> tuple[str, ...]:
        names = tuple(f"{c}_{f}" for c in self.contexts for f in PER_CONTEXT)
        return names + (CROSS_FIELDS if len(self.contexts) == 2 else ())

    def arrays(self, texts: list[str]) -> TokenArrays:
        encoded = self.window.encode(texts)
        n = np.where(encoded.ok, encoded.n_tokens, 0)
        offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        ids = np.zeros(offsets[-1], dtype=np.int32)
        out = {name: np.full(offsets[-1], np.nan, dtype=np.float32) for name in self.fields}
        raw_len = len(self.window.prefix)
        with torch.inference_mode():
            for batch in encoded.batches(self.batch_size):
                texts_ids = [encoded.ids[i][raw_len:] for i in batch]
                scored = [int(n[i]) for i in batch]
                values = self._score_batch(texts_ids, scored)
                where = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in batch])
                ids[where] = np.concatenate([t[len(t) - k:] for t, k in zip(texts_ids, scored)])
                for name, value in values.items():
                    out[name][where] = value
        meta = {"model": self.lm.name, "contexts": ",".join(self.contexts), "max_tokens": str(self.max_tokens),
                "normalize": self.window.normalize, "chat_prompt": self.chat_prompt if "chat" in self.contexts else ""}
        return TokenArrays(ids, offsets, out, encoded.reason, encoded.truncated, meta)

    def _score_batch(self, texts_ids: list[list[int]], scored: list[int]) -> dict[str, np.ndarray]:
        states = {c: _text_states(self.lm, [self.prefixes[c] + t for t in texts_ids], scored, self._plain_head)
                  for c in self.contexts}
        first = states[self.contexts[0]]
        total = first[1].shape[0]
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in self.fields}
        for lo, hi in chunk_bounds(total, _vocab(self.lm), self.lm.device):
            logp = {}
            for c in self.contexts:
                hidden, targets = states[c]
                logits = _logits(self.lm, hidden[lo:hi], self._plain_head)
                target = targets[lo:hi, None]
                rank = (logits > logits.gather(1, target)).sum(1, dtype=torch.int32) + 1
                lp = torch.log_softmax(logits, dim=-1)
                del logits
                p = lp.exp()
                plp = p * lp
                parts[f"{c}_lp"].append(lp.gather(1, target)[:, 0])
                parts[f"{c}_rank"].append(rank.float())
                parts[f"{c}_ent"].append(-plp.sum(1))
                parts[f"{c}_m2"].append((plp * lp).sum(1))
                parts[f"{c}_lpmax"].append(lp.max(1).values)
                logp[c] = (lp, p)
            if len(self.contexts) == 2:
                (lp_raw, p_raw), (lp_chat, p_chat) = logp["raw"], logp["chat"]
                cross = p_chat * lp_raw
                parts["x_mu"].append(cross.sum(1))
                parts["x_m2"].append((cross * lp_raw).sum(1))
                cross = p_raw * lp_chat
                parts["y_mu"].append(cross.sum(1))
                parts["y_m2"].append((cross * lp_chat).sum(1))
        return {name: torch.cat(values).float().cpu().numpy() for name, values in parts.items()}


def _vocab(lm: LoadedLM) -> int:
    head = lm.model.get_output_embeddings()
    return head.weight.shape[0] if head is not None else lm.model.config.vocab_size


def _text_states(lm: LoadedLM, rows: list[list[int]], scored: list[int], plain_head: bool):
    """(hidden states or logits, targets) at the positions predicting each row's last ``scored[i]`` tokens,
    flattened in (row, position) order, from one forward pass over the right-padded batch."""
    device = lm.device
    width = max(len(row) for row in rows)
    pad = lm.tokenizer.pad_token_id
    ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=device)
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
    position = torch.arange(width - 1, device=device)[None, :]
    lengths = torch.tensor([len(row) for row in rows], device=device)[:, None]
    counts = torch.tensor(scored, device=device)[:, None]
    use = (position >= lengths - 1 - counts) & (position <= lengths - 2)  # position t predicts token t + 1
    targets = ids[:, 1:][use]
    if plain_head:
        states = lm.model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    else:
        states = lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    return states[:, :-1][use], targets


def _logits(lm: LoadedLM, states: torch.Tensor, plain_head: bool) -> torch.Tensor:
    return (lm.model.get_output_embeddings()(states) if plain_head else states).float()
