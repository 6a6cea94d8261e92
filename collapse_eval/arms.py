"""Arms and modes: which rows the next generation trains on, always exactly the same budget of rows.

- unfiltered: a draw from the pool as it is (human share of the pool + the model's samples);
- filtered:   the pool after the per-generation detector and dedup (`filters.apply_filter`);
- oracle:     the pool without its synthetic rows (perfect filter: the upper bound);
- human_only: fresh human rows only (the control: what training noise alone does).
Modes: `replace` (pool = human rows + this generation's samples) and `accumulate` (pool = human rows +
every generation's samples so far). Every arm trains on `budget_rows` rows; when fewer rows survive,
they are repeated in shuffled passes, so the step count never changes (the issue's pitfall 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CollapseConfig

__all__ = ["Condition", "conditions", "pool_sizes", "draw_budget"]


@dataclass(frozen=True)
class Condition:
    """One chain of generations: an arm in a mode, at a pool human share and a sampling temperature."""

    arm: str
    mode: str
    human_share: float
    temperature: float

    @property
    def key(self) -> str:
        return f"{self.arm}-{self.mode}-h{self.human_share:.2f}-t{self.temperature:g}"

    @property
    def samples_feed_training(self) -> bool:
        return self.arm != "human_only"


def conditions(config: CollapseConfig) -> list[Condition]:
    """All chains of a run. Filtered/oracle need human rows in the pool; human_only has one chain per T."""
    out: list[Condition] = []
    for t in config.sample.temperatures:
        for arm in config.arms:
            if arm == "human_only":
                out.append(Condition(arm, "replace", 1.0, t))
                continue
            for mode in config.modes:
                for share in config.pool.human_shares:
                    if arm in ("filtered", "oracle") and share == 0.0:
                        continue  # nothing human to keep: the arm equals unfiltered or is empty
                    out.append(Condition(arm, mode, share, t))
    return out


def pool_sizes(config: CollapseConfig, human_share: float) -> tuple[int, int]:
    """(human rows, synthetic rows per generation) of the pool."""
    total = config.pool.pool_tokens // config.model.context
    human = int(round(human_share * total))
    return human, total - human


def draw_budget(weight: np.ndarray, budget_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `budget_rows` pool rows.

    0/1 weights: the kept rows in shuffled passes (each used once per pass, repeated only when too few);
    other weights: a draw with replacement proportional to the weight (importance resampling).
    """
    if not np.any(weight > 0):
        raise ValueError("the filter removed every row of the pool; nothing to train on")
    kept = np.flatnonzero(weight > 0)
    if np.all((weight == 0) | (weight == 1)):
        passes = -(-budget_rows // len(kept))
        return np.concatenate([rng.permutation(kept) for _ in range(passes)])[:budget_rows]
    return rng.choice(len(weight), size=budget_rows, replace=True, p=weight / weight.sum())
