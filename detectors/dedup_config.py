"""Settings of MinHash signatures and near-duplicate detection: plain values, checked on construction.

Kept apart from the numba kernels (``detectors.minhash``, ``detectors.dedup``) so that code which only
needs the settings (configs, the command line's parser) does not pay for compiling or importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from detectors.lsh import DEFAULT_MAX_BUCKET, optimal_bands

__all__ = ["MinHashConfig", "DedupConfig"]

_MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class MinHashConfig:
    """How texts become MinHash signatures.

    Defaults (char 5-grams) were chosen by measurement on 1-5 %-edited copies of wikitext
    paragraphs; see benchmarks/RESULTS.md, "Near-duplicate quality".
    """

    num_perm: int = 128
    seed: int = 1
    shingle: Literal["word", "char"] = "char"
    ngram: int = 5

    def __post_init__(self) -> None:
        for name in ("num_perm", "seed", "ngram"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if not 1 <= self.num_perm <= 1 << 16:
            raise ValueError(f"num_perm must be in [1, 65536], got {self.num_perm}")
        # np.random.RandomState, which draws the permutations, only accepts 32-bit seeds.
        if not 0 <= self.seed <= _MAX_U32:
            raise ValueError(f"seed must be in [0, 2**32 - 1], got {self.seed}")
        if self.shingle not in ("word", "char"):
            raise ValueError(f"shingle must be 'word' or 'char', got {self.shingle!r}")
        if not 1 <= self.ngram <= 64:
            raise ValueError(f"ngram must be in [1, 64], got {self.ngram}")



@dataclass(frozen=True)
class DedupConfig:
    """Near-duplicate detection settings.

    Defaults (char 5-grams, verified Jaccard >= 0.55, bands from fp/fn weights 0.3/0.7, i.e.
    25 bands x 5 rows at 128 permutations) were chosen by measurement on 1-5 %-edited copies of
    wikitext paragraphs, where they give precision >= 0.99 and recall >= 0.95 with margin on both
    sides; see benchmarks/RESULTS.md, "Near-duplicate quality". ``bands``/``rows`` default to
    ``optimal_bands(threshold, num_perm, fp_weight, fn_weight)``: LSH false positives cost only
    verification time, so misses are weighted higher, but not so much that rows drop to 4 (which
    multiplies chance collisions between unrelated documents by ~10).
    """

    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    threshold: float = 0.55
    bands: int | None = None
    rows: int | None = None
    fp_weight: float = 0.3
    fn_weight: float = 0.7
    verify: Literal["estimated", "exact"] = "estimated"
    max_bucket: int = DEFAULT_MAX_BUCKET

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows must be given together (or neither, to derive them)")
        if self.bands is not None and self.rows is not None:
            if self.bands < 1 or self.rows < 1:
                raise ValueError(f"bands and rows must be >= 1, got {self.bands}, {self.rows}")
            if self.bands * self.rows > self.minhash.num_perm:
                raise ValueError(
                    f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.minhash.num_perm}"
                )
        if self.verify not in ("estimated", "exact"):
            raise ValueError(f"verify must be 'estimated' or 'exact', got {self.verify!r}")
        if self.fp_weight < 0 or self.fn_weight < 0 or self.fp_weight + self.fn_weight <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {self.fp_weight}, {self.fn_weight}")
        if self.max_bucket < 1:
            raise ValueError(f"max_bucket must be >= 1, got {self.max_bucket}")

    def banding(self) -> tuple[int, int]:
        """(bands, rows) in effect."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.minhash.num_perm, self.fp_weight, self.fn_weight)
