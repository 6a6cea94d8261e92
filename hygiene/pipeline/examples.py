"""A few removed documents per reason, for the report: what was removed, why, and what was kept instead.

Chosen in pass 2 from the decision arrays (no text needed: evenly spread over the corpus, at most
`per_reason` per reason); their text, and the text of the document each duplicate lost to, is picked up
in pass 3 while the rows stream past anyway (`TextCapture`, a set lookup per row). Each routed shard's
captured excerpts are saved beside its completion marker, so a resumed run still has them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hygiene.io import columns as C
from hygiene.io.atomic import atomic_path

from .decide import Decisions

__all__ = ["EXAMPLES_PER_REASON", "EXCERPT_CHARS", "ExamplePicks", "TextCapture", "pick_examples", "excerpt"]

EXAMPLES_PER_REASON = 3
EXCERPT_CHARS = 400


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of `text`, cut at a word boundary when long, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + " …"


@dataclass
class TextCapture:
    """Excerpts of the wanted rows of one shard, collected while the shard is routed."""

    wanted: frozenset[str]
    texts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def offer(self, ids: list[str], texts: list[str]) -> None:
        if len(self.texts) == len(self.wanted) or self.wanted.isdisjoint(ids):  # the usual batch: one C-level pass
            return
        for doc_id, text in zip(ids, texts):
            if doc_id in self.wanted and doc_id not in self.texts:
                self.texts[doc_id] = {"excerpt": excerpt(text), "chars": len(text)}

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.texts, ensure_ascii=False))

    @staticmethod
    def load(path: Path) -> dict[str, dict[str, Any]]:
        return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class ExamplePicks:
    rows: dict[str, list[int]]  # reason -> global row indices
    ids: np.ndarray
    decisions: Decisions
    scores: np.ndarray | None

    def capture(self) -> TextCapture:
        wanted = set()
        for picked in self.rows.values():
            for i in picked:
                wanted.add(self.ids[i])
                other = self._kept_instead(i)
                if other is not None:
                    wanted.add(self.ids[other])
        return TextCapture(frozenset(wanted))

    def _kept_instead(self, i: int) -> int | None:
        """The document kept in this row's place: its exact original, else its cluster's kept row."""
        d = self.decisions
        if d.duplicate_of[i] >= 0:
            return int(d.duplicate_of[i])
        return int(d.cluster[i]) if d.cluster[i] != i else None

    def examples(self, texts: dict[str, dict[str, Any]], shards: Sequence[tuple[str, int]]
                 ) -> dict[str, list[dict[str, Any]]]:
        """The report's examples, reason -> [{id, shard, excerpt, chars, score, similarity, kept_*}];
        `shards` are (name, scored rows) in corpus order, to name each row's shard."""
        ends = np.cumsum([n for _, n in shards])
        shard_of = lambda i: shards[int(np.searchsorted(ends, i, side="right"))][0]  # noqa: E731
        out: dict[str, list[dict[str, Any]]] = {}
        for reason, picked in self.rows.items():
            out[reason] = []
            for i in picked:
                doc_id = self.ids[i]
                entry: dict[str, Any] = {
                    "id": doc_id, "shard": shard_of(i), **texts.get(doc_id, {"excerpt": None, "chars": None}),
                    "score": _finite(self.scores[i]) if self.scores is not None else None,
                    "similarity": _finite(self.decisions.similarity[i]),
                    "kept_id": None, "kept_excerpt": None,
                }
                other = self._kept_instead(i)
                if other is not None:
                    entry["kept_id"] = self.ids[other]
                    entry["kept_excerpt"] = texts.get(self.ids[other], {}).get("excerpt")
                out[reason].append(entry)
        return out


def _finite(value: Any) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def pick_examples(decisions: Decisions, ids: np.ndarray, scores: np.ndarray | None,
                  per_reason: int = EXAMPLES_PER_REASON) -> ExamplePicks:
    """Up to `per_reason` rows per removal reason, evenly spread over the corpus's order."""
    rows = {}
    for reason in C.REASONS:
        where = np.flatnonzero(decisions.reason == reason)
        if len(where):
            take = np.unique(np.linspace(0, len(where) - 1, min(per_reason, len(where))).round().astype(int))
            rows[reason] = [int(i) for i in where[take]]
    return ExamplePicks(rows, ids, decisions, scores)
