"""Labelled reference scores: what a detector gives human and machine text, kept to correct its counts.

A corpus's share of flagged documents is not its machine fraction; the detector's score distributions
on known human and known machine text are what turn one into the other (``hygiene.risk.prevalence``). This
file format keeps those scores with the detector settings they belong to, as :class:`Calibration` does for
a threshold. The shipped default holds the default detector's scores of ../shared/data/detect (news and
stories; see ``source``); a corpus of another domain deserves a reference of its own
(``hygiene risk --detector-reference``).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import write_text_atomic

__all__ = ["DEFAULT_REFERENCE", "ReferenceScores", "default_reference"]

DEFAULT_REFERENCE = "smollm2-135m-likelihood-reference.json"


@dataclass(frozen=True)
class ReferenceScores:
    detector: str
    statistic: str
    model: str
    max_tokens: int
    human: tuple[float, ...]  # oriented scores (higher = more machine-like)
    machine: tuple[float, ...]
    source: str
    created: str
    # Where each score comes from, aligned with ``human`` / ``machine`` (empty = not tagged): the domain of every
    # document and the generator of every machine document. Tags let `hygiene risk` measure how far its
    # estimate moves for a generator the reference does not hold (hygiene.risk.sources).
    human_domains: tuple[str, ...] = ()
    machine_domains: tuple[str, ...] = ()
    machine_generators: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, tags, scores in (("human_domains", self.human_domains, self.human),
                                   ("machine_domains", self.machine_domains, self.machine),
                                   ("machine_generators", self.machine_generators, self.machine)):
            if tags and len(tags) != len(scores):
                raise ValueError(f"{name} has {len(tags)} tags for {len(scores)} scores")

    @property
    def human_scores(self) -> np.ndarray:
        return np.asarray(self.human, dtype=np.float64)

    @property
    def machine_scores(self) -> np.ndarray:
        return np.asarray(self.machine, dtype=np.float64)

    def probability(self):
        """P(machine) from a score: a Platt fit to these labelled scores (the reference's class balance)."""
        from .probability import ProbabilityCalibration

        scores = np.concatenate([self.human_scores, self.machine_scores])
        labels = np.r_[np.zeros(len(self.human)), np.ones(len(self.machine))]
        return ProbabilityCalibration.fit(scores, labels, method="platt")

    def to_json(self, path: str | Path) -> None:
        data = dataclasses.asdict(self)
        data["human"], data["machine"] = [round(v, 6) for v in self.human], [round(v, 6) for v in self.machine]
        write_text_atomic(path, json.dumps(data) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> ReferenceScores:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        if not isinstance(data, dict) or not required <= data.keys() <= fields:
            raise ValueError(f"{path}: not a reference-scores file (expected keys {sorted(fields)})")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def default_reference() -> ReferenceScores:
    """The default detector's scores of the labelled detect sets (shipped with the package)."""
    resource = importlib.resources.files("detectors").joinpath("calibrations", DEFAULT_REFERENCE)
    with importlib.resources.as_file(resource) as path:
        return ReferenceScores.from_json(path)
