"""A labelled reference prepared once for the mixture: projection, bins, and one component per source.

Human text of one domain and machine text of one generator each have their own score distribution, and a
corpus mixes them in its own proportions, not the reference's. With a reference tagged by source
(:class:`SourceLabels`), every human domain and every (domain, generator) pair of machine text is a
component of its own with a free weight, and the machine share is the sum of the machine components'
weights: a corpus of news only is then compared with news-like human text, not with the reference's
blend of news and stories. An untagged reference has one component per class (the classic two-class
mixture). Sources with fewer than ``MIN_COMPONENT`` documents join an "other" component of their class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mixture import Bins, Projection, as_matrix, fit_weights, smoothed

__all__ = ["MIN_COMPONENT", "ReferenceFit", "SourceLabels", "fit_reference"]

MIN_COMPONENT = 20
"""Reference documents a source needs to be a mixture component of its own."""


@dataclass(frozen=True)
class SourceLabels:
    """Which source each reference document comes from (aligned with the reference's rows; None = unknown)."""

    human_domain: np.ndarray | None = None
    machine_domain: np.ndarray | None = None
    machine_generator: np.ndarray | None = None

    def subset(self, keep_human: np.ndarray, keep_machine: np.ndarray) -> SourceLabels:
        pick = lambda values, keep: None if values is None else np.asarray(values)[keep]
        return SourceLabels(pick(self.human_domain, keep_human), pick(self.machine_domain, keep_machine),
                            pick(self.machine_generator, keep_machine))

    def human_groups(self, n: int) -> np.ndarray:
        return np.full(n, "human") if self.human_domain is None else np.asarray(self.human_domain, dtype=str)

    def machine_groups(self, n: int) -> np.ndarray:
        parts = [np.asarray(v, dtype=str) for v in (self.machine_domain, self.machine_generator) if v is not None]
        if not parts:
            return np.full(n, "machine")
        return parts[0] if len(parts) == 1 else np.char.add(np.char.add(parts[0], "/"), parts[1])


def _components(groups: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """Row indices per source; small sources pooled into "other" (or into the largest source if still small)."""
    names, counts = np.unique(groups, return_counts=True)
    big = [str(g) for g, c in zip(names, counts) if c >= MIN_COMPONENT]
    rows = {g: np.flatnonzero(groups == g) for g in big}
    small = np.flatnonzero(~np.isin(groups, big))
    if len(small) >= MIN_COMPONENT or (len(small) and not big):
        rows["other"] = small
    elif len(small):
        largest = max(rows, key=lambda g: len(rows[g]))
        rows[largest] = np.sort(np.concatenate([rows[largest], small]))
    return list(rows), list(rows.values())


@dataclass(frozen=True)
class ReferenceFit:
    """The reference as the mixture sees it: projected scores, shared bins, components per class."""

    project: Projection
    bins: Bins
    human: np.ndarray  # projected reference scores
    machine: np.ndarray
    human_names: list[str]
    machine_names: list[str]
    human_rows: list[np.ndarray]  # indices into ``human`` per component
    machine_rows: list[np.ndarray]

    def components(self) -> np.ndarray:
        """(C, K) smoothed bin probabilities, human components first."""
        return np.stack([self.bins.density(self.human[r]) for r in self.human_rows]
                        + [self.bins.density(self.machine[r]) for r in self.machine_rows])

    def component_counts(self) -> list[np.ndarray]:
        return [self.bins.counts(self.human[r]) for r in self.human_rows] + \
               [self.bins.counts(self.machine[r]) for r in self.machine_rows]

    def resampled_components(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """(draws, C, K) component densities of bootstrap resamples (each component resampled on its own)."""
        parts = []
        for values, rows in [(self.human, r) for r in self.human_rows] + [(self.machine, r) for r in self.machine_rows]:
            sample = values[rows][rng.integers(0, len(rows), size=(draws, len(rows)))]
            parts.append(smoothed(self.bins.counts(sample)))
        return np.stack(parts, axis=1)

    def counts(self, corpus: np.ndarray) -> np.ndarray:
        """Bin counts of a corpus's scores (a vector or a feature matrix, as the reference was given)."""
        return self.bins.counts(self.project(corpus))

    def weights(self, counts: np.ndarray, components: np.ndarray | None = None) -> np.ndarray:
        return fit_weights(counts, self.components() if components is None else components, len(self.human_rows))

    def share(self, counts: np.ndarray, components: np.ndarray | None = None) -> np.ndarray:
        """Machine share for bin counts (K,) or (B, K)."""
        return self.weights(counts, components)[:, len(self.human_rows):].sum(axis=1)


def fit_reference(human: np.ndarray, machine: np.ndarray, sources: SourceLabels | None = None, *,
                  bins: int = 20, components: bool = False) -> ReferenceFit:
    """Prepare finite reference rows (vectors or feature matrices) for the mixture; with ``components``, one
    mixture component per tagged source, else one per class."""
    human, machine = as_matrix(human), as_matrix(machine)
    project = Projection.fit(human, machine)
    h, m = project(human), project(machine)
    labels = (sources or SourceLabels()) if components else SourceLabels()
    h_names, h_rows = _components(labels.human_groups(len(h)))
    m_names, m_rows = _components(labels.machine_groups(len(m)))
    return ReferenceFit(project, Bins.fit(h, m, bins), h, m, h_names, m_names, h_rows, m_rows)
