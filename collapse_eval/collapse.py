"""Collapse point, delay and their uncertainty over seeds.

Definition (documented, configurable): a chain *collapses* at the first generation whose held-out
perplexity is at least (1 + `collapse.ppl_rise`) x its generation-0 perplexity. The crossing is
interpolated linearly between the last generation below and the first at/above the line, so the collapse
generation is a real number (e.g. 1.6). A chain that never crosses is *censored*: it counts as
`generations + 1` ("later than the run shows"), and the summary says how many chains were censored, so
delays that involve censored chains are lower bounds.

Per condition: collapse generation (mean over seeds, percentile bootstrap CI over seeds) and perplexity
rise at the last generation. Per (mode, human share, temperature): delay ratio filtered / unfiltered and
oracle / unfiltered (paired bootstrap over seeds), the detector's delay as a fraction of the oracle's
((filtered - unfiltered) / (oracle - unfiltered) collapse generations), and the same fraction for the
perplexity rise at the last generation (less sensitive to censoring).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from .config import CollapseConfig

__all__ = ["collapse_generation", "bootstrap_ci", "summarize"]


def collapse_generation(ratios: list[float], rise: float) -> float:
    """Interpolated first generation with ratio >= 1 + rise (ratios[0] = generation 0); NaN if never."""
    line = 1.0 + rise
    for g in range(1, len(ratios)):
        if ratios[g] >= line:
            below = ratios[g - 1]
            return g - 1 + (line - below) / (ratios[g] - below) if ratios[g] != below else float(g)
    return float("nan")


def bootstrap_ci(values: np.ndarray, stat: Callable[[np.ndarray], float], *, n_boot: int, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): `stat` on the seeds (rows of `values`) and its percentile bootstrap CI."""
    values = np.asarray(values, dtype=float)
    est = float(stat(values))
    if len(values) < 2:
        return est, est, est
    rng = np.random.default_rng(seed)
    boots = np.array([stat(values[rng.integers(0, len(values), len(values))]) for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    if not len(boots):
        return est, float("nan"), float("nan")
    lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return est, float(lo), float(hi)


def _ci(est_lo_hi: tuple[float, float, float]) -> dict[str, float]:
    est, lo, hi = est_lo_hi
    return {"mean": est, "low": lo, "high": hi}


def _by_chain(rows: list[dict[str, Any]]) -> dict[str, dict[int, list[float]]]:
    """condition -> seed -> perplexity ratio per generation (only chains with every generation so far)."""
    chains: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        chains[r["condition"]][r["seed"]][r["generation"]] = r["perplexity_ratio"]
    return {c: {s: [g[i] for i in sorted(g)] for s, g in seeds.items()} for c, seeds in chains.items()}


def summarize(rows: list[dict[str, Any]], config: CollapseConfig) -> dict[str, Any]:
    rise, n_boot = config.collapse.ppl_rise, config.collapse.bootstrap
    meta = {r["condition"]: {k: r[k] for k in ("arm", "mode", "human_share", "temperature")} for r in rows}
    chains = _by_chain(rows)
    per_condition: dict[str, Any] = {}
    per_seed: dict[str, dict[int, tuple[float, float]]] = {}
    for cond, seeds in sorted(chains.items()):
        last = min(len(v) for v in seeds.values()) - 1
        cg, rises = {}, {}
        for s, ratios in seeds.items():
            g = collapse_generation(ratios[:last + 1], rise)
            cg[s] = g if math.isfinite(g) else last + 1.0
            rises[s] = ratios[last] - 1.0
        per_seed[cond] = {s: (cg[s], rises[s]) for s in seeds}
        seeds_sorted = sorted(seeds)
        per_condition[cond] = {
            **meta[cond], "seeds": seeds_sorted, "last_generation": last,
            "collapse_generation": _ci(bootstrap_ci(np.array([cg[s] for s in seeds_sorted]), np.mean, n_boot=n_boot)),
            "censored": int(sum(not math.isfinite(collapse_generation(seeds[s][:last + 1], rise)) for s in seeds)),
            "ppl_rise_last": _ci(bootstrap_ci(np.array([rises[s] for s in seeds_sorted]), np.mean, n_boot=n_boot)),
        }
    comparisons = []
    groups: dict[tuple, dict[str, str]] = defaultdict(dict)
    for cond, m in meta.items():
        if m["arm"] != "human_only":
            groups[(m["mode"], m["human_share"], m["temperature"])][m["arm"]] = cond
    for (mode, share, temp), arms in sorted(groups.items()):
        if "unfiltered" not in arms:
            continue
        base = per_seed[arms["unfiltered"]]
        entry: dict[str, Any] = {"mode": mode, "human_share": share, "temperature": temp}
        for arm in ("filtered", "oracle"):
            if arm in arms:
                other = per_seed[arms[arm]]
                common = sorted(set(base) & set(other))
                pair = np.array([[other[s][0], base[s][0]] for s in common])
                entry[f"delay_ratio_{arm}"] = _ci(bootstrap_ci(pair, lambda v: v[:, 0].mean() / v[:, 1].mean(),
                                                               n_boot=n_boot))
        if "filtered" in arms and "oracle" in arms:
            f, o = per_seed[arms["filtered"]], per_seed[arms["oracle"]]
            common = sorted(set(base) & set(f) & set(o))
            trip = np.array([[f[s][0], o[s][0], base[s][0], f[s][1], o[s][1], base[s][1]] for s in common])

            def frac(v: np.ndarray, a: int, b: int, c: int) -> float:
                gap = v[:, b].mean() - v[:, c].mean()
                return float((v[:, a].mean() - v[:, c].mean()) / gap) if abs(gap) > 1e-12 else float("nan")

            entry["detector_delay_fraction_of_oracle"] = _ci(bootstrap_ci(trip, lambda v: frac(v, 0, 1, 2),
                                                                          n_boot=n_boot))
            entry["detector_rise_reduction_fraction_of_oracle"] = _ci(
                bootstrap_ci(trip, lambda v: frac(v, 3, 4, 5), n_boot=n_boot))
        comparisons.append(entry)
    return {"definition": f"collapse = first generation (interpolated) with held-out perplexity >= "
                          f"{1 + rise:.2f} x generation 0; censored chains count as last generation + 1",
            "ppl_rise": rise, "conditions": per_condition, "comparisons": comparisons}
