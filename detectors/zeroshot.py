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
- ``lrr``: log-likelihood / log-rank ratio (DetectLLM), -mean_t log p_t(x_t) / mean_t log rank_t(x_t).
  Higher = machine. A text whose every token is the model's top choice has log-rank 0; the denominator is
  floored at 1e-6 so it gets a large finite score rather than inf.

Binoculars needs a second model and lives in :mod:`detectors.binoculars`; it shares this module's
tokenisation, batching and chunked head (:class:`TokenWindow`, :func:`scored_states`, :func:`head_chunks`).

Conventions, all deliberate:

- Context start: texts are tokenised without special tokens; when the tokenizer defines a BOS token it is
  prepended, so every text token is scored (SmolLM2-Instruct declares ``<|im_start|>`` as BOS and does not
  add it itself). Without a BOS the first token has no context and is not scored; a one-token text then
  has nothing to score and gets NaN statistics with ``n_tokens == 0``.
- Normalisation: ``normalize`` names a preprocessor from :data:`detectors.normalize.NORMALIZERS`
  (``"nfkc"``: NFKC, homoglyph folding, invisible characters removed, whitespace collapsed) applied to
  every text before anything else; ``"none"`` scores the text as given.
- Window: at most ``max_tokens`` text tokens are scored (plus the BOS); longer texts set ``truncated``.
  Texts are cut to ``max_chars`` characters (default ``32 * max_tokens``) before tokenising, so a huge
  document costs no more than a long one; a cut also sets ``truncated``.
- Texts that cannot be scored get NaN statistics and a non-empty ``reason`` (never an exception, never a
  silent 0): empty or whitespace-only texts (``"empty"``; they never reach the model) and texts with fewer
  than ``min_tokens`` scored tokens (``"too short: N tokens < min_tokens M"``). ``n_tokens`` still says how
  many tokens there were.
- Batching: texts are sorted by token length and batched (right padding, attention mask), then restored to
  input order. Padded positions are never scored; a text's statistics do not depend on its batch-mates
  (up to float rounding, ~1e-5). A batch holds at most ``batch_size`` texts and, with ``batch_tokens`` set,
  at most ``batch_tokens`` padded positions (texts x longest window), so the memory of one forward pass is
  bounded by tokens, not by a document count alone; a single longer window still goes alone.
- Memory: the vocabulary-wide log-softmax is computed over chunks of scored positions, never as one
  B x T x V tensor, and the LM head runs on real (unpadded) positions only.
- A call mutates nothing shared (the tokenizer is called without truncation or padding settings), so one
  detector can serve several threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .lm import LoadedLM, load_causal_lm
from .normalize import NORMALIZERS
from .statistics import SCORE_SIGN, STATISTICS

__all__ = [
    "SCORE_SIGN", "STATISTICS", "TokenWindow", "ZeroShotDetector", "head_chunks", "scored_states", "max_text_tokens",
]

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
        batch_tokens: int | None = None,
        max_chars: int | None = None,
        min_tokens: int = 1,
        normalize: str = "none",
    ) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if batch_tokens is not None and batch_tokens < 1:
            raise ValueError(f"batch_tokens must be >= 1 or None, got {batch_tokens}")
        if lm is not None and model is not None:
            raise ValueError("pass either a loaded lm or a model name, not both")
        self.lm = lm if lm is not None else load_causal_lm(model)
        self.window = TokenWindow(self.lm, max_tokens, max_chars, min_tokens, normalize)
        self.statistic = statistic
        self.max_tokens = max_tokens
        self.batch_size, self.batch_tokens = batch_size, batch_tokens
        self.max_chars = self.window.max_chars
        self.min_tokens = min_tokens
        self.name = f"zeroshot-{statistic}"
        self._plain_head = check_plain_head(self.lm, self.window.prefix)

    def score(self, texts: list[str]) -> np.ndarray:
        """The chosen statistic, oriented so that higher = more likely machine-written (float64)."""
        return SCORE_SIGN[self.statistic] * self.statistics(texts)[self.statistic]

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """All per-text statistics (raw values, see the module docstring for directions), in input order.

        Keys: ``likelihood``, ``log_rank``, ``entropy``, ``fast_detectgpt``, ``lrr`` (float64), ``n_tokens``
        (int64, tokens scored), ``truncated`` (bool) and ``reason`` (str, ``""`` when scored, else why the
        statistics are NaN).
        """
        batches = self.window.encode(texts)
        sums = {key: np.zeros(batches.size) for key in _SUMS}
        with torch.inference_mode():
            for batch in batches.batches(self.batch_size, self.batch_tokens):
                for key, values in self._score_batch([batches.ids[i] for i in batch]).items():
                    sums[key][batch] = values
        with np.errstate(invalid="ignore", divide="ignore"):
            n = np.where(batches.ok, batches.n_tokens, np.nan)
            stats = {
                "likelihood": sums["lp"] / n,
                "log_rank": -sums["log_rank"] / n,
                "entropy": -sums["mu"] / n,
                "fast_detectgpt": (sums["lp"] - sums["mu"]) / np.sqrt(sums["var"]),
                "lrr": sums["lp"] / -np.maximum(sums["log_rank"], 1e-6),
            }
        for values in stats.values():
            values[~batches.ok] = np.nan
        return {**stats, "n_tokens": batches.n_tokens, "truncated": batches.truncated, "reason": batches.reason}

    def _score_batch(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """Per-text sums over scored positions for one batch (input: token ids incl. prefix)."""
        device = self.lm.device
        out = {key: torch.zeros(len(rows), dtype=torch.float64, device=device) for key in _SUMS}
        for logits, target, owner in head_chunks(self.lm, rows, self._plain_head):
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
                out[key].index_add_(0, owner, value.double())
        return {key: value.cpu().numpy() for key, value in out.items()}



@dataclass(frozen=True)
class Encoded:
    """Token windows of a list of texts, and which of them can be scored."""

    ids: list[list[int]]  # prefix + at most max_tokens text tokens; [] for texts that are not scored
    n_tokens: np.ndarray  # int64, tokens that would be scored
    truncated: np.ndarray  # bool
    reason: np.ndarray  # str, "" when scored
    ok: np.ndarray  # bool, reason == ""

    @property
    def size(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int, batch_tokens: int | None = None) -> list[list[int]]:
        """Indices of the scorable texts, longest first (less padding), at most ``batch_size`` per batch and,
        with ``batch_tokens``, at most that many padded positions (texts x the batch's longest window)."""
        order = sorted(np.flatnonzero(self.ok).tolist(), key=lambda i: len(self.ids[i]), reverse=True)
        out: list[list[int]] = []
        for i in order:
            batch = out[-1] if out else None
            if (batch is None or len(batch) == batch_size
                    or (batch_tokens is not None and (len(batch) + 1) * len(self.ids[batch[0]]) > batch_tokens)):
                out.append([i])
            else:
                batch.append(i)
        return out


class TokenWindow:
    """How a detector turns texts into the token windows it scores (see the module docstring)."""

    def __init__(
        self, lm: LoadedLM, max_tokens: int, max_chars: int | None = None, min_tokens: int = 1,
        normalize: str = "none",
    ) -> None:
        if normalize not in NORMALIZERS:
            raise ValueError(f"normalize must be one of {sorted(NORMALIZERS)}, got {normalize!r}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if max_chars is not None and max_chars < 1:
            raise ValueError(f"max_chars must be >= 1 or None, got {max_chars}")
        if not 1 <= min_tokens <= max_tokens:
            raise ValueError(f"min_tokens must be in [1, max_tokens={max_tokens}], got {min_tokens}")
        self.tokenizer = lm.tokenizer
        self.normalize, self._preprocess = normalize, NORMALIZERS[normalize]
        self.max_tokens, self.min_tokens = max_tokens, min_tokens
        self.max_chars = max_chars if max_chars is not None else 32 * max_tokens
        self.prefix: list[int] = _prefix(lm)
        limit = max_text_tokens(lm)
        if limit is not None and max_tokens > limit:
            raise ValueError(f"max_tokens={max_tokens} exceeds the {limit} text tokens the model's window holds "
                             f"({limit + len(self.prefix)} positions, the BOS included)")

    def encode(self, texts: list[str]) -> Encoded:
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string")
        if self._preprocess is not None:
            texts = [self._preprocess(text) for text in texts]
        blank = [not text.strip() for text in texts]
        clipped = [text[: self.max_chars] for text, empty in zip(texts, blank) if not empty]
        encoded = iter(self.tokenizer(clipped, add_special_tokens=False)["input_ids"] if clipped else [])
        ids, n_tokens, truncated, reason = [], [], [], []
        for text, empty in zip(texts, blank):
            row = [] if empty else next(encoded)
            window = self.prefix + row[: self.max_tokens]
            n = max(len(window) - 1, 0) if row else 0
            ids.append(window if row else [])
            n_tokens.append(n)
            truncated.append(len(text) > self.max_chars or len(row) > self.max_tokens)
            if empty:
                reason.append("empty")
            elif n < self.min_tokens:
                reason.append(f"too short: {n} tokens < min_tokens {self.min_tokens}")
            else:
                reason.append("")
        reason_array = np.array(reason, dtype=str) if reason else np.zeros(0, dtype="<U1")
        return Encoded(
            ids=ids,
            n_tokens=np.array(n_tokens, dtype=np.int64),
            truncated=np.array(truncated, dtype=bool),
            reason=reason_array,
            ok=reason_array == "",
        )


def _prefix(lm: LoadedLM) -> list[int]:
    return [] if lm.tokenizer.bos_token_id is None else [lm.tokenizer.bos_token_id]


def max_text_tokens(lm: LoadedLM) -> int | None:
    """The most text tokens one window of ``lm`` scores: its positions less the BOS; None when unbounded."""
    limit = getattr(lm.model.config, "max_position_embeddings", None)
    return None if limit is None else limit - len(_prefix(lm))


def check_plain_head(lm: LoadedLM, prefix: list[int]) -> bool:
    """True when logits == output_embeddings(base_model hidden states), i.e. no softcap or scaling.

    Then the head runs on scored positions only, chunk by chunk; otherwise full logits are taken from
    the model's own forward and only the statistics are chunked.
    """
    model = lm.model
    head = model.get_output_embeddings()
    if head is None or model.base_model is model:
        return False
    ids = torch.tensor([[*prefix, *lm.tokenizer("Checking the head.", add_special_tokens=False)["input_ids"]]])
    ids = ids.to(lm.device)
    with torch.inference_mode():
        full = model(input_ids=ids, use_cache=False).logits.float()
        split = head(model.base_model(input_ids=ids, use_cache=False).last_hidden_state).float()
    tolerance = 1e-3 if lm.dtype == torch.float32 else 5e-2
    return bool(torch.allclose(full, split, rtol=tolerance, atol=tolerance * float(full.abs().max())))


@dataclass(frozen=True)
class ScoredStates:
    """One model's output at the scored positions of a right-padded batch, flattened over (text, position)."""

    states: torch.Tensor  # hidden states (head is not None) or logits (head is None), one row per position
    head: Any  # the output embedding module, or None
    targets: torch.Tensor  # the token each position predicts
    owner: torch.Tensor  # the batch row (text) each position belongs to

    @property
    def vocab(self) -> int:
        return self.head.weight.shape[0] if self.head is not None else self.states.shape[-1]

    def logits(self, lo: int, hi: int) -> torch.Tensor:
        chunk = self.states[lo:hi]
        return (self.head(chunk) if self.head is not None else chunk).float()


def scored_states(lm: LoadedLM, rows: list[list[int]], plain_head: bool) -> ScoredStates:
    """One forward pass (no KV cache) over ``rows`` (token ids incl. prefix, each >= 2 long)."""
    device = lm.device
    width = max(len(row) for row in rows)
    pad = lm.tokenizer.pad_token_id
    ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=device)
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
    scored = mask[:, 1:].bool()  # position t predicts token t + 1
    targets = ids[:, 1:][scored]
    owner = torch.arange(len(rows), device=device)[:, None].expand_as(scored)[scored]
    if plain_head:
        states = lm.model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        return ScoredStates(states[:, :-1][scored], lm.model.get_output_embeddings(), targets, owner)
    logits = lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1][scored]
    return ScoredStates(logits, None, targets, owner)


def chunk_bounds(n_positions: int, vocab: int, device: torch.device) -> list[tuple[int, int]]:
    """Ranges of scored positions whose logits fit the per-device chunk budget."""
    step = max(1, _CHUNK_ELEMENTS.get(device.type, _CHUNK_ELEMENTS["cpu"]) // vocab)
    return [(lo, min(lo + step, n_positions)) for lo in range(0, n_positions, step)]


def head_chunks(lm: LoadedLM, rows: list[list[int]], plain_head: bool):
    """Yield (float32 logits, targets[:, None], owner) for chunks of the scored positions of ``rows``."""
    out = scored_states(lm, rows, plain_head)
    for lo, hi in chunk_bounds(len(out.targets), out.vocab, lm.device):
        yield out.logits(lo, hi), out.targets[lo:hi, None], out.owner[lo:hi]
