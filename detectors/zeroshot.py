"""Zero-shot machine-text detection from one causal LM's token statistics.

Every statistic comes from the same forward pass: for each scored token x_t with predictive distribution
p_t = softmax(logits_t) over the vocabulary,

- ``likelihood``: mean_t log p_t(x_t). Higher = machine (LM text sits in the model's high-probability region).
- ``log_rank``: -mean_t log rank_t(x_t), rank 1 = the model's top token. Higher = machine.
- ``entropy``: mean_t H(p_t) = -mean_t sum_v p_v log p_v, in nats, as the raw value (>= 0). *Lower* entropy =
  machine, so ``score`` with ``statistic="entropy"`` returns the negated entropy.
- ``fast_detectgpt``: analytic Fast-DetectGPT with the scorer as its own sampler,
  (sum_t log p_t(x_t) - sum_t mu_t) / sqrt(sum_t s2_t), mu_t = sum_v p_v log p_v,
  s2_t = sum_v p_v (log p_v)^2 - mu_t^2. Higher = machine.

Conventions, all deliberate:

- Context start: texts are tokenised without special tokens; when the tokenizer defines a BOS token it is
  prepended, so every text token is scored (SmolLM2-Instruct declares ``<|im_start|>`` as BOS and does not
  add it itself). Without a BOS the first token has no context and is not scored; a one-token text then
  has nothing to score and gets NaN statistics with ``n_tokens == 0``.
- Window: at most ``max_tokens`` text tokens are scored (plus the BOS); longer texts set ``truncated``.
  Texts are cut to ``max_chars`` characters (default ``32 * max_tokens``) before tokenising, so a huge
  document costs no more than a long one; a cut also sets ``truncated``.
- Empty or whitespace-only texts raise ``ValueError`` naming their indices: the pipeline quarantines them
  before scoring, so one reaching a detector is a bug upstream.
- Batching: texts are sorted by token length and batched (right padding, attention mask), then restored to
  input order. Padded positions are never scored; a text's statistics do not depend on its batch-mates
  (up to float rounding, ~1e-5).
- Memory: the vocabulary-wide log-softmax is computed over chunks of scored positions, never as one
  B x T x V tensor, and the LM head runs on real (unpadded) positions only.
- A call mutates nothing shared (the tokenizer is called without truncation or padding settings), so one
  detector can serve several threads.
"""

from __future__ import annotations

import numpy as np
import torch

from .lm import LoadedLM, load_causal_lm

__all__ = ["SCORE_SIGN", "STATISTICS", "ZeroShotDetector"]

STATISTICS = ("likelihood", "log_rank", "entropy", "fast_detectgpt")
SCORE_SIGN = {"likelihood": 1.0, "log_rank": 1.0, "entropy": -1.0, "fast_detectgpt": 1.0}
"""Multiply a raw statistic by its sign to get a score where higher = more likely machine."""
# Logits per chunk of scored positions: small enough on CPU for the passes over a chunk to stay in cache
# (measured: 2**23 beats 2**24 and 2**21 on a 2-core EPYC), large on GPUs to keep kernels few.
_CHUNK_ELEMENTS = {"cpu": 1 << 23, "cuda": 1 << 26}
_SUMS = ("lp", "log_rank", "mu", "var")  # per-text sums over scored tokens


class ZeroShotDetector:
    """Score texts by how typical their tokens are under one causal LM. Higher score = more likely machine."""

    def __init__(
        self,
        lm: LoadedLM | None = None,
        *,
        model: str | None = None,
        statistic: str = "likelihood",
        max_tokens: int = 512,
        batch_size: int = 16,
        max_chars: int | None = None,
    ) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_chars is not None and max_chars < 1:
            raise ValueError(f"max_chars must be >= 1 or None, got {max_chars}")
        if lm is not None and model is not None:
            raise ValueError("pass either a loaded lm or a model name, not both")
        self.lm = lm if lm is not None else load_causal_lm(model)
        self.statistic = statistic
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.max_chars = max_chars if max_chars is not None else 32 * max_tokens
        self.name = f"zeroshot-{statistic}"
        self._prefix: list[int] = [] if self.lm.tokenizer.bos_token_id is None else [self.lm.tokenizer.bos_token_id]
        limit = getattr(self.lm.model.config, "max_position_embeddings", None)
        if limit is not None and max_tokens + len(self._prefix) > limit:
            raise ValueError(f"max_tokens={max_tokens} exceeds the model's {limit}-position window")
        self._plain_head = self._check_plain_head()

    def score(self, texts: list[str]) -> np.ndarray:
        """The chosen statistic, oriented so that higher = more likely machine-written (float64)."""
        return SCORE_SIGN[self.statistic] * self.statistics(texts)[self.statistic]

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """All per-text statistics (raw values, see the module docstring for directions), in input order.

        Keys: ``likelihood``, ``log_rank``, ``entropy``, ``fast_detectgpt`` (float64), ``n_tokens`` (int64,
        tokens scored) and ``truncated`` (bool).
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string")
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:
            raise ValueError(f"empty or whitespace-only texts at indices {empty[:20]}; quarantine them first")
        if not texts:
            stats = {key: np.zeros(0) for key in STATISTICS}
            return {**stats, "n_tokens": np.zeros(0, dtype=np.int64), "truncated": np.zeros(0, dtype=bool)}
        ids, truncated = self._tokenize(texts)
        sums = {key: np.zeros(len(texts)) for key in _SUMS}
        n_tokens = np.array([max(len(row) - 1, 0) for row in ids], dtype=np.int64)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                for key, values in self._score_batch([ids[i] for i in batch]).items():
                    sums[key][batch] = values
        with np.errstate(invalid="ignore", divide="ignore"):
            n = np.where(n_tokens > 0, n_tokens, np.nan)
            return {
                "likelihood": sums["lp"] / n,
                "log_rank": -sums["log_rank"] / n,
                "entropy": -sums["mu"] / n,
                "fast_detectgpt": (sums["lp"] - sums["mu"]) / np.sqrt(sums["var"]),
                "n_tokens": n_tokens,
                "truncated": truncated,
            }

    def _tokenize(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        clipped = [text[: self.max_chars] for text in texts]
        encoded = self.lm.tokenizer(clipped, add_special_tokens=False)["input_ids"]
        truncated = np.array(
            [len(text) > self.max_chars or len(row) > self.max_tokens for text, row in zip(texts, encoded)],
            dtype=bool,
        )
        return [self._prefix + row[: self.max_tokens] for row in encoded], truncated

    def _score_batch(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """Per-text sums over scored positions for one batch (input: token ids incl. prefix)."""
        device = self.lm.device
        width = max(len(row) for row in rows)
        pad = self.lm.tokenizer.pad_token_id
        ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=device)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
        out = {key: torch.zeros(len(rows), dtype=torch.float64, device=device) for key in _SUMS}
        if width < 2:
            return {key: value.cpu().numpy() for key, value in out.items()}
        scored = mask[:, 1:].bool()  # position t predicts token t + 1
        targets = ids[:, 1:][scored]
        owner = torch.arange(len(rows), device=device)[:, None].expand_as(scored)[scored]
        if self._plain_head:
            states = self.lm.model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            states, head = states[:, :-1][scored], self.lm.model.get_output_embeddings()
        else:
            states = self.lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1][scored]
            head = None
        vocab = head.weight.shape[0] if head is not None else states.shape[-1]
        step = max(1, _CHUNK_ELEMENTS.get(device.type, _CHUNK_ELEMENTS["cpu"]) // vocab)
        for lo in range(0, len(targets), step):
            chunk = states[lo : lo + step]
            logits = (head(chunk) if head is not None else chunk).float()
            target = targets[lo : lo + step, None]
            observed = logits.gather(1, target)
            rank = (logits > observed).sum(1, dtype=torch.int32) + 1  # ties share the better rank
            logp = torch.log_softmax(logits, dim=-1)
            del logits
            plogp = logp.exp().mul_(logp)
            mu = plogp.sum(1)
            second = plogp.mul_(logp).sum(1)
            values = {
                "lp": logp.gather(1, target)[:, 0],
                "log_rank": rank.float().log(),
                "mu": mu,
                "var": (second - mu.square()).clamp_min(0.0),
            }
            for key, value in values.items():
                out[key].index_add_(0, owner[lo : lo + step], value.double())
        return {key: value.cpu().numpy() for key, value in out.items()}

    def _check_plain_head(self) -> bool:
        """True when logits == output_embeddings(base_model hidden states), i.e. no softcap or scaling.

        Then the head runs on scored positions only, chunk by chunk; otherwise full logits are taken from
        the model's own forward and only the statistics are chunked.
        """
        model = self.lm.model
        head = model.get_output_embeddings()
        if head is None or model.base_model is model:
            return False
        ids = torch.tensor(
            [[*self._prefix, *self.lm.tokenizer("Checking the head.", add_special_tokens=False)["input_ids"]]]
        )
        ids = ids.to(self.lm.device)
        with torch.inference_mode():
            full = model(input_ids=ids, use_cache=False).logits.float()
            split = head(model.base_model(input_ids=ids, use_cache=False).last_hidden_state).float()
        tolerance = 1e-3 if self.lm.dtype == torch.float32 else 5e-2
        return bool(torch.allclose(full, split, rtol=tolerance, atol=tolerance * float(full.abs().max())))
