"""The run report: a summary dict for the manifest and a self-contained HTML page (template `clean.html`).

The page is drawn from the manifest alone (counts, summary, examples, steps), so a finished run's
report can be redrawn from its `manifest.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hygiene.io import columns as C
from hygiene.reporting import charts, write_page

from .decide import Decisions

__all__ = ["summarize", "write_report"]

_BINS = 40
_REASON_WORDS = {
    C.EXACT_DUPLICATE: "exact duplicate",
    C.NEAR_DUPLICATE: "near-duplicate",
    C.MACHINE_GENERATED: "machine-generated",
}


def summarize(scores: np.ndarray | None, decisions: Decisions, threshold: float | None) -> dict[str, Any]:
    """Score histogram and duplicate-cluster sizes: the numbers the report draws (no scores: no detector)."""
    n = len(decisions.cluster)
    finite = scores[np.isfinite(scores)] if scores is not None else np.zeros(0)
    if len(finite):
        lo, hi = float(min(finite.min(), threshold)), float(max(finite.max(), threshold))
        counts, edges = np.histogram(finite, bins=_BINS, range=(lo, hi if hi > lo else lo + 1))
    else:
        counts, edges = np.zeros(0, int), np.zeros(0)
    sizes = np.bincount(decisions.cluster, minlength=len(decisions.cluster))
    sizes = sizes[sizes > 1]
    size_hist = {str(k): int(v) for k, v in zip(*np.unique(sizes, return_counts=True))}
    return {
        "documents": n,
        "documents_scored": int(len(scores)) if scores is not None else 0,
        "flagged_machine": int(decisions.machine.sum()),
        "score_quantiles": {
            q: float(np.quantile(finite, float(q))) for q in ("0.05", "0.25", "0.5", "0.75", "0.95")
        } if len(finite) else {},
        "score_histogram": {"edges": [round(float(e), 5) for e in edges], "counts": counts.tolist()},
        "duplicate_clusters": int(len(sizes)),
        "cluster_sizes": size_hist,
    }


def _charts(manifest: dict[str, Any], removed: dict[str, int], verb: str) -> dict[str, str]:
    counts, summary, thr = manifest["counts"], manifest["summary"], manifest.get("threshold")
    not_kept = {**{_REASON_WORDS[r].replace(" ", "\n").replace("-", "-\n"): n for r, n in removed.items()},
                "quarantined\n(unreadable)": counts["quarantined"]}
    drawn = {
        "outcomes": charts.bars(list(not_kept), list(not_kept.values()), title=f"Rows {verb} or quarantined",
                                xlabel="", ylabel="rows", colors=[*("#c0392b" for _ in removed), "#7f8c8d"]),
        "scores": "",
        "clusters": "",
    }
    hist = summary["score_histogram"]
    if thr is not None and hist["counts"]:
        drawn["scores"] = charts.histogram(
            hist["edges"], hist["counts"], title="Detector scores", xlabel="score (higher = more machine-like)",
            threshold=charts.Marker(thr["value"], f"threshold {thr['value']:.3f}"))
    drawn["clusters"] = charts.cluster_sizes(summary["cluster_sizes"], title="Duplicate clusters by size")
    return drawn


def write_report(path: Path, manifest: dict[str, Any]) -> None:
    """Draw the run's report from its manifest into `path` (atomically)."""
    counts = manifest["counts"]
    removed = counts.get("would_remove_by_reason") or counts["removed_by_reason"]
    if manifest.get("threshold") is None:  # no detector ran: "machine-generated" is no outcome of this run
        removed = {r: n for r, n in removed.items() if r != C.MACHINE_GENERATED}
    verb = "would be removed" if manifest["command"] == "score" else "removed"
    examples = manifest["summary"].get("removed_examples", {})
    write_page(
        path, "clean.html",
        m=manifest, counts=counts, summary=manifest["summary"], threshold=manifest.get("threshold"),
        detector=manifest.get("detector") or manifest["config"]["detector"], removed=removed, verb=verb,
        removed_total=sum(removed.values()), reasons=_REASON_WORDS, examples=examples,
        charts=_charts(manifest, removed, verb),
        manifest_name=C.MANIFEST,
    )
