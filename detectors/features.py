"""Per-text detector features derived from per-token arrays (:class:`detectors.tokens.TokenArrays`).

Everything here is numpy over the flat token arrays (no model call, no Python loop per token), so any
feature set costs one forward pass per context, however many features it reads. Families, by the
contexts and models they need (higher = more machine-like is *not* implied; a learned head orients them):

- ``zeroshot`` (raw): the six summary statistics of the first detector suite (likelihood, log-rank,
  entropy, analytic Fast-DetectGPT, LRR, likelihood / entropy);
- ``dist`` (raw): the shape of the token distribution: quantiles and spread of log p; GLTR's rank buckets
  (rank 1, 2-10, 11-100, 101-1000, > 1000); entropy spread; the per-token Fast-DetectGPT z-score
  ((lp + H) / sqrt(var)) mean, spread and quantiles; analytic curvature per 32-token window (max, min,
  spread); burstiness: the spread of per-sentence mean log p;
- ``chat`` (chat): the zeroshot statistics with the text as the assistant's reply in the chat template,
  and the *conditioning gain* (chat minus raw) of likelihood and log-rank;
- ``cross`` (raw + chat): two-context Binoculars (performer raw, observer chat, and the reverse) and
  Fast-DetectGPT with one context as sampler and the other as scorer;
- ``ref`` (raw + a :class:`~detectors.ngram.NgramModel` of human text): Ghostbuster-style weak-model
  features: the LM's log p minus the human n-gram's (trigram and unigram) per token: mean, spread,
  quantiles; and the n-gram log p itself;
- ``general`` (raw + a reference model carrying a general-English unigram, :mod:`detectors.wordfreq_ref`):
  the LM's log p minus that unigram's per token (mean, spread, quantiles) and the unigram's log p: the
  same ratio against English in general rather than against the user's human text;
- ``rarity`` (raw + the same general unigram): how well the LM predicts *rare* tokens (general log p below
  ``log 1e-5``) against common ones, and the per-text correlation of the LM's and the unigram's log p.
  Text a model wrote is predictable mostly on common tokens; human text the LM has memorised (widely
  copied documentation, syndicated news) is predictable on its rare names and terms as well;
- ``memo`` (raw + the same general unigram): signs of recall rather than generation: the share of rare tokens
  that are the LM's first choice, their mean log-rank, and the longest run of first-choice tokens (share of
  the text).

:func:`compute_features` returns the named columns of the requested families.
"""

from __future__ import annotations

import numpy as np

from .tokens import TokenArrays

__all__ = ["FAMILIES", "GENERAL_FAMILIES", "compute_features", "feature_names", "families_contexts"]

_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_GLTR = ((1, 1), (2, 10), (11, 100), (101, 1000), (1001, None))
_WINDOW = 32

FAMILIES: dict[str, tuple[str, ...]] = {
    "zeroshot": ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr", "likelihood_over_entropy"),
    "dist": (*(f"lp_q{int(q * 100)}" for q in _QUANTILES), "lp_std",
             *(f"rank_{lo}_{hi or 'inf'}" for lo, hi in _GLTR), "ent_std",
             "z_mean", "z_std", "z_q10", "z_q90", "win_fdg_max", "win_fdg_min", "win_fdg_std",
             "burst_std", "burst_range"),
    "chat": ("chat_likelihood", "chat_log_rank", "chat_entropy", "chat_fast_detectgpt", "chat_gain",
             "chat_rank_gain"),
    "cross": ("binoculars_raw_chat", "binoculars_chat_raw", "fdg_chat_sampler", "fdg_raw_sampler"),
    "ref": ("ref_tri", "ref_uni", "ratio_tri", "ratio_uni", "ratio_tri_std", "ratio_tri_q10", "ratio_tri_q50",
            "ratio_tri_q90", "ratio_uni_std", "ratio_tri_over_uni"),
    "general": ("general_uni", "ratio_general", "ratio_general_std", "ratio_general_q10", "ratio_general_q50",
                "ratio_general_q90"),
    "rarity": ("rare_share", "rare_lp", "common_lp", "rare_minus_common", "lp_general_corr"),
    "memo": ("rare_top1", "rare_log_rank", "top1_run"),
}
_NEEDS = {"zeroshot": ("raw",), "dist": ("raw",), "chat": ("raw", "chat"), "cross": ("raw", "chat"),
          "ref": ("raw",), "general": ("raw",), "rarity": ("raw",), "memo": ("raw",)}


def feature_names(families: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown feature families {unknown}; choose from {sorted(FAMILIES)}")
    return tuple(name for family in families for name in FAMILIES[family])


def families_contexts(families: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The scorer contexts a set of families needs, in TokenScorer order."""
    needed = {c for f in families for c in _NEEDS[f]}
    return tuple(c for c in ("raw", "chat") if c in needed)


def compute_features(arrays: TokenArrays, families: tuple[str, ...] | list[str], *, reference=None,
                     boundary: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Columns ``feature_names(families)`` (float64, NaN for unscorable texts).

    ``reference``: an :class:`~detectors.ngram.NgramModel` (needed by ``ref``); ``boundary``: bool per
    vocabulary id, True for tokens that end a sentence (needed by ``dist``; see :func:`sentence_ends`).
    """
    names = feature_names(families)
    t = _Tokens(arrays)
    out: dict[str, np.ndarray] = {}
    for family in families:
        if family == "zeroshot":
            out.update(_summary(t, "raw", ""))
        elif family == "dist":
            if boundary is None:
                raise ValueError("the dist family needs the sentence-boundary table (sentence_ends(tokenizer))")
            out.update(_distribution(t, boundary))
        elif family == "chat":
            chat = _summary(t, "chat", "chat_")
            out.update({k: chat[k] for k in ("chat_likelihood", "chat_log_rank", "chat_entropy",
                                               "chat_fast_detectgpt")})
            raw = _summary(t, "raw", "")
            out["chat_gain"] = chat["chat_likelihood"] - raw["likelihood"]
            out["chat_rank_gain"] = chat["chat_log_rank"] - raw["log_rank"]
        elif family == "cross":
            out.update(_cross(t))
        elif family == "ref":
            if reference is None:
                raise ValueError("the ref family needs a human-text reference model (NgramModel)")
            out.update(_reference(t, reference))
        elif family in _OVER_GENERAL:
            if reference is None or reference.general is None:
                raise ValueError(f"the {family} family needs a reference model with a general-text unigram "
                                 "(detectors.wordfreq_ref)")
            out.update(_OVER_GENERAL[family](t, reference))
    bad = ~arrays.ok | (arrays.lengths == 0)
    result = {}
    for name in names:
        column = np.asarray(out[name], dtype=np.float64).copy()
        column[bad] = np.nan
        result[name] = column
    return result


class _Tokens:
    """Grouping helpers over the flat token arrays of one TokenArrays."""

    def __init__(self, arrays: TokenArrays) -> None:
        self.a = arrays
        self.owner = arrays.owner()
        self.n = arrays.lengths.astype(np.float64)
        self.size = arrays.size
        self.position = np.arange(len(arrays.ids)) - np.repeat(arrays.offsets[:-1], arrays.lengths)

    def f(self, name: str) -> np.ndarray:
        return self.a.fields[name].astype(np.float64)

    def sum(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.owner, values, minlength=self.size)

    def mean(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum(values) / self.n

    def std(self, values: np.ndarray) -> np.ndarray:
        mean = self.mean(values)
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.maximum(self.mean(values ** 2) - mean ** 2, 0.0))

    def quantiles(self, values: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
        """Per-text quantiles (linear interpolation between order statistics)."""
        order = np.lexsort((values, self.owner))
        ordered = values[order]
        starts = self.a.offsets[:-1]
        last = np.maximum(self.a.lengths - 1, 0)
        out = []
        for q in qs:
            pos = q * last
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, last)
            frac = pos - lo
            if len(ordered):
                lo_v = ordered[np.minimum(starts + lo, len(ordered) - 1)]
                hi_v = ordered[np.minimum(starts + hi, len(ordered) - 1)]
                out.append(lo_v + frac * (hi_v - lo_v))
            else:
                out.append(np.full(self.size, np.nan))
        return out


def _summary(t: _Tokens, context: str, prefix: str) -> dict[str, np.ndarray]:
    lp, rank, ent, m2 = (t.f(f"{context}_{k}") for k in ("lp", "rank", "ent", "m2"))
    log_rank = np.log(rank)
    likelihood, entropy = t.mean(lp), t.mean(ent)
    with np.errstate(invalid="ignore", divide="ignore"):
        fdg = (t.sum(lp) + t.sum(ent)) / np.sqrt(t.sum(np.maximum(m2 - ent ** 2, 0.0)))
        return {
            f"{prefix}likelihood": likelihood, f"{prefix}log_rank": -t.mean(log_rank),
            f"{prefix}entropy": entropy, f"{prefix}fast_detectgpt": fdg,
            f"{prefix}lrr": t.sum(lp) / -np.maximum(t.sum(log_rank), 1e-6),
            f"{prefix}likelihood_over_entropy": likelihood / entropy,
        }


def _distribution(t: _Tokens, boundary: np.ndarray) -> dict[str, np.ndarray]:
    lp, rank, ent, m2 = (t.f(f"raw_{k}") for k in ("lp", "rank", "ent", "m2"))
    out = dict(zip((f"lp_q{int(q * 100)}" for q in _QUANTILES), t.quantiles(lp, _QUANTILES)))
    out["lp_std"] = t.std(lp)
    for lo, hi in _GLTR:
        inside = (rank >= lo) & (rank <= (hi if hi is not None else np.inf))
        out[f"rank_{lo}_{hi or 'inf'}"] = t.mean(inside.astype(np.float64))
    out["ent_std"] = t.std(ent)
    var = np.maximum(m2 - ent ** 2, 1e-6)
    z = (lp + ent) / np.sqrt(var)
    out["z_mean"], out["z_std"] = t.mean(z), t.std(z)
    out["z_q10"], out["z_q90"] = t.quantiles(z, (0.1, 0.9))
    out.update(_windows(t, lp + ent, var))
    out.update(_burstiness(t, lp, boundary[t.a.ids]))
    return out


def _group_stats(group: np.ndarray, owner_of_group: np.ndarray, values: np.ndarray, size: int,
                 valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text: max, min and std of the per-group ``values`` (groups with ``valid`` only)."""
    owners, vals = owner_of_group[valid], values[valid]
    count = np.bincount(owners, minlength=size).astype(np.float64)
    hi = np.full(size, -np.inf)
    lo = np.full(size, np.inf)
    np.maximum.at(hi, owners, vals)
    np.minimum.at(lo, owners, vals)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owners, vals, minlength=size) / count
        std = np.sqrt(np.maximum(np.bincount(owners, vals ** 2, minlength=size) / count - mean ** 2, 0.0))
    none = count == 0
    hi[none], lo[none], std[none] = np.nan, np.nan, np.nan
    return hi, lo, std


def _windows(t: _Tokens, gap: np.ndarray, var: np.ndarray) -> dict[str, np.ndarray]:
    """Analytic Fast-DetectGPT per window of 32 tokens (windows of >= 8 tokens)."""
    window = t.owner * (1 + int(t.position.max(initial=0)) // _WINDOW) + t.position // _WINDOW
    _, group = np.unique(window, return_inverse=True)
    n_groups = int(group.max(initial=-1)) + 1
    num = np.bincount(group, gap, minlength=n_groups)
    den = np.sqrt(np.bincount(group, var, minlength=n_groups))
    count = np.bincount(group, minlength=n_groups)
    owner = np.zeros(n_groups, dtype=np.int64)
    owner[group] = t.owner
    hi, lo, std = _group_stats(group, owner, num / np.maximum(den, 1e-9), t.size, count >= 8)
    return {"win_fdg_max": hi, "win_fdg_min": lo, "win_fdg_std": std}


def _burstiness(t: _Tokens, lp: np.ndarray, ends: np.ndarray) -> dict[str, np.ndarray]:
    """Spread of per-sentence mean log p (sentences of >= 3 tokens; one sentence -> spread 0)."""
    starts_new = np.zeros(len(lp), dtype=bool)
    if len(lp):
        starts_new[1:] = ends[:-1]
        starts_new[t.a.offsets[:-1][t.a.lengths > 0]] = True
    group = np.cumsum(starts_new) - 1
    n_groups = int(group.max(initial=-1)) + 1
    count = np.bincount(group, minlength=n_groups)
    mean = np.bincount(group, lp, minlength=n_groups) / np.maximum(count, 1)
    owner = np.zeros(n_groups, dtype=np.int64)
    owner[group] = t.owner
    hi, lo, std = _group_stats(group, owner, mean, t.size, count >= 3)
    return {"burst_std": np.nan_to_num(std, nan=0.0), "burst_range": np.nan_to_num(hi - lo, nan=0.0)}


def _cross(t: _Tokens) -> dict[str, np.ndarray]:
    lp_raw, lp_chat = t.f("raw_lp"), t.f("chat_lp")
    x_mu, x_m2, y_mu, y_m2 = (t.f(k) for k in ("x_mu", "x_m2", "y_mu", "y_m2"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            # Binoculars: -log-ppl(performer) / cross-entropy(observer -> performer); higher = machine
            "binoculars_raw_chat": t.sum(lp_raw) / -t.sum(x_mu),
            "binoculars_chat_raw": t.sum(lp_chat) / -t.sum(y_mu),
            # Fast-DetectGPT: scorer's log p against its expectation under the other context's samples
            "fdg_chat_sampler": (t.sum(lp_raw) - t.sum(x_mu)) / np.sqrt(t.sum(np.maximum(x_m2 - x_mu ** 2, 0))),
            "fdg_raw_sampler": (t.sum(lp_chat) - t.sum(y_mu)) / np.sqrt(t.sum(np.maximum(y_m2 - y_mu ** 2, 0))),
        }


def _reference(t: _Tokens, reference) -> dict[str, np.ndarray]:
    lp = t.f("raw_lp")
    tri = reference.token_logprobs(t.a.ids, t.a.offsets, order=3)
    uni = reference.token_logprobs(t.a.ids, t.a.offsets, order=1)
    ratio_tri, ratio_uni = lp - tri, lp - uni
    q10, q50, q90 = t.quantiles(ratio_tri, (0.1, 0.5, 0.9))
    with np.errstate(invalid="ignore", divide="ignore"):
        over = t.sum(ratio_tri) / np.abs(t.sum(ratio_uni))
    return {"ref_tri": t.mean(tri), "ref_uni": t.mean(uni), "ratio_tri": t.mean(ratio_tri),
            "ratio_uni": t.mean(ratio_uni), "ratio_tri_std": t.std(ratio_tri), "ratio_tri_q10": q10,
            "ratio_tri_q50": q50, "ratio_tri_q90": q90, "ratio_uni_std": t.std(ratio_uni),
            "ratio_tri_over_uni": over}


def _general(t: _Tokens, reference) -> dict[str, np.ndarray]:
    general = reference.general_logprobs(t.a.ids)
    ratio = t.f("raw_lp") - general
    q10, q50, q90 = t.quantiles(ratio, (0.1, 0.5, 0.9))
    return {"general_uni": t.mean(general), "ratio_general": t.mean(ratio), "ratio_general_std": t.std(ratio),
            "ratio_general_q10": q10, "ratio_general_q50": q50, "ratio_general_q90": q90}


_RARE = np.log(1e-5)


def _rarity(t: _Tokens, reference) -> dict[str, np.ndarray]:
    general = reference.general_logprobs(t.a.ids)
    lp = t.f("raw_lp")
    rare = (general < _RARE).astype(np.float64)
    n_rare, n_common = t.sum(rare), t.sum(1.0 - rare)
    mean = t.mean(lp)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A text with no rare (or no common) token takes its overall mean there: defined, and uninformative.
        rare_lp = np.where(n_rare > 0, t.sum(lp * rare) / n_rare, mean)
        common_lp = np.where(n_common > 0, t.sum(lp * (1.0 - rare)) / n_common, mean)
        cov = t.mean(lp * general) - mean * t.mean(general)
        corr = cov / (t.std(lp) * t.std(general))
        share = n_rare / t.n
    return {"rare_share": share, "rare_lp": rare_lp, "common_lp": common_lp,
            "rare_minus_common": rare_lp - common_lp, "lp_general_corr": np.nan_to_num(corr)}


def _memo(t: _Tokens, reference) -> dict[str, np.ndarray]:
    rare = (reference.general_logprobs(t.a.ids) < _RARE).astype(np.float64)
    rank = t.f("raw_rank")
    top1 = (rank <= 1).astype(np.float64)
    n_rare = t.sum(rare)
    # Runs of first choices: a new run starts at each text's start and at each token that is not a first choice
    # (which adds nothing to it).
    start = (t.position == 0) | (top1 == 0)
    run = np.cumsum(start) - 1
    run_length = np.bincount(run, top1)
    longest = np.zeros(t.size)
    np.maximum.at(longest, t.owner[start], run_length)
    with np.errstate(invalid="ignore", divide="ignore"):
        rare_top1 = np.where(n_rare > 0, t.sum(top1 * rare) / n_rare, t.mean(top1))
        rare_log_rank = np.where(n_rare > 0, t.sum(np.log(rank) * rare) / n_rare, t.mean(np.log(rank)))
        return {"rare_top1": rare_top1, "rare_log_rank": rare_log_rank, "top1_run": longest / t.n}


_OVER_GENERAL = {"general": _general, "rarity": _rarity, "memo": _memo}  # families over the general unigram
GENERAL_FAMILIES = tuple(_OVER_GENERAL)


def sentence_ends(tokenizer) -> np.ndarray:
    """Bool per vocabulary id: the token ends a sentence (its text ends in . ! ? or holds a newline)."""
    vocab = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(vocab)))
    out = np.zeros(vocab, dtype=bool)
    for i, piece in enumerate(pieces):
        text = tokenizer.convert_tokens_to_string([piece]) if piece is not None else ""
        stripped = text.rstrip()
        out[i] = "\n" in text or stripped.endswith((".", "!", "?", '."', '?"', '!"'))
    return out
