"""Diversity profile of a corpus sample, beside a human reference corpus when one is given.

distinct-n and vocabulary grow with sample size, so both sides are measured at equal size: the same
number of documents, each cut to its first ``words_per_doc`` words. The measures themselves are
hygiene.risk.measures (one implementation for the report and for collapse_eval's experiments).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["diversity_profile"]

WORDS_PER_DOC = 100
EMBED_TOKENS = 128  # MiniLM window, as collapse_eval measures Vendi scores


@lru_cache(maxsize=1)
def _encoder():
    from detectors.embed import SentenceEncoder

    return SentenceEncoder(device="cpu", max_tokens=EMBED_TOKENS, batch_size=64)


def _measure(texts: Sequence[str], embeddings: bool) -> dict[str, float]:
    from .measures import distinct_n, zipf_exponent

    tokens = [t.split()[:WORDS_PER_DOC] for t in texts]
    counts = Counter(w for doc in tokens for w in doc)
    result = {
        "distinct_1": distinct_n(tokens, 1),
        "distinct_2": distinct_n(tokens, 2),
        "distinct_3": distinct_n(tokens, 3),
        "zipf_exponent": zipf_exponent(list(counts.values())),
        "vocabulary": float(len(counts)),
    }
    if embeddings:
        from .measures import vendi_score

        result["vendi"] = vendi_score(_encoder().encode(list(texts)))
    return result


def diversity_profile(texts: Sequence[str], reference: Sequence[str] = (), *, embeddings: bool = True,
                      seed: int = 0) -> dict[str, Any]:
    """Measures of ``texts`` and, with a reference, of the reference and their ratios (corpus / reference)."""
    texts = [t for t in texts if t.strip()]
    reference = [t for t in reference if t.strip()]
    n = min(len(texts), len(reference)) if reference else len(texts)
    rng = np.random.default_rng(seed)

    def subsample(items: list[str]) -> list[str]:
        return [items[i] for i in sorted(rng.choice(len(items), n, replace=False))] if len(items) > n else items

    corpus = _measure(subsample(texts), embeddings)
    profile: dict[str, Any] = {"documents": n, "words_per_doc": WORDS_PER_DOC, "corpus": corpus}
    if reference:
        ref = _measure(subsample(reference), embeddings)
        profile["reference"] = ref
        profile["ratio"] = {k: corpus[k] / ref[k] if ref[k] else float("nan") for k in corpus}
    return profile
