"""Reference uncertainty: how far the machine-share estimate moves when the corpus's machine text comes from
a generator the reference does not hold, measured inside the reference by holding out one generator at a time.

A reference whose machine documents are tagged by generator is split, for every generator family in turn,
into that family and the rest. The estimator fitted on the rest (all human text, the other generators) is
applied to the expected bin counts of corpora of the reference's human text and the held-out family's text
at every true share ``p`` on a grid; ``f(p)`` is what it reports, and ``f(p) / p`` the family's *factor*: 1 for a
family the others describe perfectly, below 1 for text the others see as too human-like (a less detectable
generator), above 1 for the reverse. Detectability acts on the share multiplicatively (a family half as
detectable halves the estimate), so factors are compared on a log scale.

A corpus's machine text may come from a generator that is in no reference, so its ``f`` is unknown: it is
modelled as another draw from the held-out factors (at each ``p``, the Student-t predictive interval of a new
draw from the held-out log-factors, ``families - 1`` degrees of freedom). The reported interval holds
every true share whose plausible estimate range meets the sampling interval of the estimate. It widens when
families disagree, and with few families; with fewer than two (an untagged reference, e.g. labelled text of
the corpus's own sources) there is nothing to hold out and the interval is the sampling interval.

Human text of a domain the reference lacks is not modelled here: with two domains, holding one out leaves a
one-domain reference, and its errors (benchmarks/RESULTS.md, leave-one-domain-out) are too large for an
interval to be useful. That case is what the fit check (``hygiene.risk.fit_check``) is for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reference_fit import MIN_COMPONENT, SourceLabels, fit_reference

__all__ = ["HeldOut", "SourceModel", "source_model"]

GRID = np.linspace(0.0, 1.0, 101)
FACTOR_FLOOR = 0.05
"""A held-out family the rest of the reference cannot see at all has f(p) / p near 0; its log would make every
interval [0, 1]. Floored here: such a family still widens the interval twenty-fold."""
_EXPECTED_DOCUMENTS = 10_000  # expected counts of a large corpus: the curve is the estimator's bias, not noise


@dataclass(frozen=True)
class HeldOut:
    source: str  # the generator family held out
    human: int  # reference documents that formed the held-out corpora
    machine: int
    estimate: np.ndarray  # f(p) on GRID

    def factors(self) -> np.ndarray:
        """f(p) / p on GRID (at p = 0 the first step's), floored at FACTOR_FLOOR."""
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = self.estimate / GRID
        factor[0] = factor[1]
        return np.maximum(factor, FACTOR_FLOOR)


@dataclass(frozen=True)
class SourceModel:
    held_out: list[HeldOut]

    def band(self, confidence: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(lowest, highest) estimate an unseen generator plausibly gives at each true share on GRID, and the
        multiplier of the held-out log-factors' standard deviation used."""
        from scipy.special import stdtrit  # Student-t quantile; scipy.stats takes seconds to import

        k = len(self.held_out)
        spread = float(stdtrit(k - 1, 1 - (1 - confidence) / 2) * np.sqrt(1 + 1 / k))
        logs = np.log(np.array([h.factors() for h in self.held_out]))
        centre, sd = logs.mean(axis=0), logs.std(axis=0, ddof=1)
        return (np.clip(GRID * np.exp(centre - spread * sd), 0, 1), np.clip(GRID * np.exp(centre + spread * sd), 0, 1),
                spread)

    def interval(self, low: float, high: float, confidence: float) -> tuple[float, float]:
        """True shares whose plausible estimate range meets [low, high] (the sampling interval), widened to
        contain it."""
        lowest, highest, _ = self.band(confidence)
        meets = (highest >= low) & (lowest <= high)
        if not meets.any():
            return low, high
        return min(low, float(GRID[meets].min())), max(high, float(GRID[meets].max()))

    def summary(self, confidence: float) -> dict:
        """JSON-ready: every held-out source's estimates at a few true shares, and the band's multiplier."""
        at = {f"{p:.1f}": int(np.argmin(np.abs(GRID - p))) for p in (0.0, 0.1, 0.4, 0.7)}
        _, _, spread = self.band(confidence)
        return {
            "model": "every generator family held out in turn; an unseen generator's factor (estimate / truth) "
                     "is another draw (Student-t predictive interval over the held-out log-factors)",
            "spread_multiplier": round(spread, 3),
            "held_out": [{"source": h.source, "human": h.human, "machine": h.machine,
                          "estimate_at_true_share": {p: round(float(h.estimate[i]), 3) for p, i in at.items()}}
                         for h in self.held_out],
        }


def _held_out_generators(labels: SourceLabels) -> list[str]:
    if labels.machine_generator is None:
        return []
    generators = np.asarray(labels.machine_generator, dtype=str)
    names = [str(g) for g in np.unique(generators) if np.sum(generators == g) >= MIN_COMPONENT]
    return names if len(names) >= 2 else []


def source_model(human: np.ndarray, machine: np.ndarray, labels: SourceLabels | None, *,
                 bins: int = 20, components: bool = False) -> SourceModel | None:
    """Hold out every generator family in turn; None when the reference names fewer than two."""
    if labels is None:
        return None
    held: list[HeldOut] = []
    every_human = np.ones(len(human), bool)
    for name in _held_out_generators(labels):
        out = np.asarray(labels.machine_generator, dtype=str) == name
        if np.sum(~out) < MIN_COMPONENT:
            continue
        rest = fit_reference(human, machine[~out], labels.subset(every_human, ~out), bins=bins,
                             components=components)
        e_h = rest.counts(human) / len(human)
        e_m = rest.counts(machine[out]) / out.sum()
        expected = _EXPECTED_DOCUMENTS * ((1 - GRID)[:, None] * e_h + GRID[:, None] * e_m)
        held.append(HeldOut(name, len(human), int(out.sum()), rest.share(expected)))
    return SourceModel(held) if len(held) >= 2 else None
