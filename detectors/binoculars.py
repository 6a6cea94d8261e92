"""Binoculars (Hans et al. 2024): perplexity under a performer model divided by observer/performer cross-perplexity.

For a text with scored tokens x_t, observer distribution q_t and performer distribution p_t (two causal LMs
sharing one tokenizer):

- ``log_ppl`` = -mean_t log p_t(x_t), the performer's log-perplexity of the text (as the released code does);
- ``x_ppl`` = mean_t [-sum_v q_t(v) log p_t(v)], the cross-perplexity: how surprised the performer is, on
  average, by what the observer expects next;
- ``binoculars`` = log_ppl / x_ppl. *Lower* = machine, so :meth:`BinocularsDetector.score` returns the
  negated ratio (higher = machine, like every detector here).

The paper's pair is Falcon-7B (observer) and Falcon-7B-instruct (performer); any two hub models with the
same vocabulary work. Offline only one model exists here (SmolLM2-135M-Instruct): with ``observer is
performer`` the pair runs one pass per batch and the cross-perplexity reduces to the model's own
predictive entropy, so the score becomes -log_ppl / entropy, a one-model ratio, not the paper's detector.

Tokenisation, windows, length-sorted batches and NaN-with-reason handling are
:class:`detectors.zeroshot.TokenWindow`'s; one forward pass per model per batch, the two heads evaluated
chunk by chunk on the scored positions only.
"""

from __future__ import annotations

import numpy as np
import torch

from .lm import LoadedLM, load_causal_lm
from .zeroshot import TokenWindow, check_plain_head, chunk_bounds, scored_states

__all__ = ["BinocularsDetector"]


class BinocularsDetector:
    """Observer/performer pair sharing a tokenizer. Higher score = more likely machine."""

    def __init__(
        self,
        observer: LoadedLM | str | None = None,
        performer: LoadedLM | str | None = None,
        *,
        max_tokens: int = 512,
        batch_size: int = 16,
        batch_tokens: int | None = None,
        max_chars: int | None = None,
        min_tokens: int = 1,
        normalize: str = "none",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if batch_tokens is not None and batch_tokens < 1:
            raise ValueError(f"batch_tokens must be >= 1 or None, got {batch_tokens}")
        self.observer = observer if isinstance(observer, LoadedLM) else load_causal_lm(observer)
        if performer is None or performer is observer:
            self.performer = self.observer
        else:
            self.performer = performer if isinstance(performer, LoadedLM) else load_causal_lm(performer)
        if self.performer is not self.observer:
            if self.observer.tokenizer.get_vocab() != self.performer.tokenizer.get_vocab():
                raise ValueError(
                    f"observer {self.observer.name} and performer {self.performer.name} do not share a tokenizer"
                )
            if self.observer.device != self.performer.device:
                raise ValueError("observer and performer must be on the same device")
        self.window = TokenWindow(self.observer, max_tokens, max_chars, min_tokens, normalize)
        TokenWindow(self.performer, max_tokens, max_chars, min_tokens)  # checks the performer's window too
        self.max_tokens, self.batch_size, self.batch_tokens = max_tokens, batch_size, batch_tokens
        self.name = "binoculars"
        self._plain = {
            id(lm): check_plain_head(lm, self.window.prefix) for lm in (self.observer, self.performer)
        }

    def score(self, texts: list[str]) -> np.ndarray:
        """-log_ppl / x_ppl: higher = more likely machine-written (float64, NaN for unscorable texts)."""
        return -self.statistics(texts)["binoculars"]

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Keys ``binoculars``, ``log_ppl``, ``x_ppl`` (float64, raw), ``n_tokens``, ``truncated``, ``reason``."""
        encoded = self.window.encode(texts)
        sums = {key: np.zeros(encoded.size) for key in ("nll", "xent")}
        with torch.inference_mode():
            for batch in encoded.batches(self.batch_size, self.batch_tokens):
                for key, values in self._score_batch([encoded.ids[i] for i in batch]).items():
                    sums[key][batch] = values
        with np.errstate(invalid="ignore", divide="ignore"):
            n = np.where(encoded.ok, encoded.n_tokens, np.nan)
            log_ppl, x_ppl = sums["nll"] / n, sums["xent"] / n
            ratio = log_ppl / x_ppl
        return {
            "binoculars": ratio,
            "log_ppl": log_ppl,
            "x_ppl": x_ppl,
            "n_tokens": encoded.n_tokens,
            "truncated": encoded.truncated,
            "reason": encoded.reason,
        }

    def _score_batch(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        performer = scored_states(self.performer, rows, self._plain[id(self.performer)])
        same = self.performer is self.observer
        observer = performer if same else scored_states(self.observer, rows, self._plain[id(self.observer)])
        device = self.performer.device
        out = {key: torch.zeros(len(rows), dtype=torch.float64, device=device) for key in ("nll", "xent")}
        for lo, hi in chunk_bounds(len(performer.targets), performer.vocab, device):
            logp = torch.log_softmax(performer.logits(lo, hi), dim=-1)
            q = logp.exp() if same else torch.softmax(observer.logits(lo, hi), dim=-1)
            owner = performer.owner[lo:hi]
            out["nll"].index_add_(0, owner, -logp.gather(1, performer.targets[lo:hi, None])[:, 0].double())
            out["xent"].index_add_(0, owner, -(q * logp).sum(1).double())
        return {key: value.cpu().numpy() for key, value in out.items()}
