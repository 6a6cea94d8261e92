"""The run report: a summary dict for the manifest and a self-contained HTML page (inline SVG, no JS)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from hygiene.io import columns as C
from hygiene.io.atomic import atomic_path

from .decide import Decisions

__all__ = ["summarize", "write_report"]

_BINS = 40


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


def _histogram_svg(edges: list[float], counts: list[int], threshold: float, width=640, height=220) -> str:
    if not counts:
        return "<p>No scored documents.</p>"
    pad, top = 40, max(counts) or 1
    x = lambda v: pad + (v - edges[0]) / (edges[-1] - edges[0]) * (width - 2 * pad)  # noqa: E731
    y = lambda c: height - pad - c / top * (height - 2 * pad)  # noqa: E731
    bars = "".join(
        f'<rect x="{x(edges[i]):.1f}" y="{y(c):.1f}" width="{max(x(edges[i + 1]) - x(edges[i]) - 1, 1):.1f}" '
        f'height="{height - pad - y(c):.1f}" fill="{"#c0392b" if edges[i] >= threshold else "#2e86c1"}">'
        f"<title>{edges[i]:.3f} to {edges[i + 1]:.3f}: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    tx = x(threshold)
    return (
        f'<svg role="img" aria-label="score histogram" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{bars}'
        f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{pad / 2}" y2="{height - pad}" stroke="#000" stroke-dasharray="4"/>'
        f'<text x="{tx + 4:.1f}" y="{pad / 2 + 10}" font-size="12">threshold {threshold:.3f}</text>'
        f'<text x="{pad}" y="{height - 10}" font-size="12">{edges[0]:.2f}</text>'
        f'<text x="{width - pad}" y="{height - 10}" font-size="12" text-anchor="end">{edges[-1]:.2f}</text>'
        f'<text x="{width / 2}" y="{height - 10}" font-size="12" text-anchor="middle">score '
        "(higher = more machine-like)</text></svg>"
    )


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(path: Path, manifest: dict[str, Any]) -> None:
    counts, summary, thr = manifest["counts"], manifest["summary"], manifest["threshold"]
    removed = counts.get("would_remove_by_reason") or counts["removed_by_reason"]
    verb = "would be removed" if manifest["command"] == "score" else "removed"
    overview = _table(
        [("input rows", counts["rows"]), ("kept", counts["kept"]), (verb, sum(removed.values())),
         *((f"  {reason}", n) for reason, n in removed.items()), ("quarantined", counts["quarantined"])],
        ("", "rows"),
    )
    shards = _table(
        [(e["name"], e["format"], e["rows"], e.get("kept", e.get("scored", 0)), e.get("removed", 0),
          e["quarantined"], e["sha256"][:12]) for e in manifest["inputs"]],
        ("shard", "format", "rows", "kept" if manifest["command"] == "clean" else "scored", "removed",
         "quarantined", "sha256"),
    )
    clusters = _table(sorted(summary["cluster_sizes"].items(), key=lambda kv: int(kv[0])), ("cluster size", "clusters"))
    steps = _table([(s["step"], s["rows_in"], s["rows_out"], f"{s['seconds']:.3f}") for s in manifest.get("steps", [])],
                   ("step", "rows in", "rows out", "seconds"))
    hist = summary["score_histogram"]
    if thr is None:
        detector = "<p>No detector (<code>detector.kind = none</code>): deduplication only.</p>"
        scores_section = ""
    else:
        d = manifest.get("detector") or manifest["config"]["detector"]
        name = d.get("name") or d.get("kind", "zeroshot")
        detector = (f"<p>Detector <code>{html.escape(str(name))}</code>, threshold <code>{thr['value']:.4f}</code> "
                    f"({html.escape(thr['source'])}).</p>")
        scores_section = (f"<h2>Detector scores</h2>{_histogram_svg(hist['edges'], hist['counts'], thr['value'])}"
                          f"<p>{summary['flagged_machine']} of {summary['documents_scored']} scored documents are at "
                          "or above the threshold.</p>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>corpus-hygiene report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}
td,th{{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}}code{{background:#f4f4f4}}</style></head><body>
<h1>corpus-hygiene: {html.escape(manifest["command"])} report</h1>
<p>{html.escape(manifest["tool"])}, finished {html.escape(manifest["finished"])}.</p>
{detector}
<h2>Rows</h2>{overview}
<h2>Steps</h2>{steps}
{scores_section}
<h2>Near-duplicate clusters</h2><p>{summary["duplicate_clusters"]} clusters with more than one document.</p>{clusters}
<h2>Shards</h2>{shards}
<p>Machine-readable: <code>{C.MANIFEST}</code> beside this page.</p>
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page)
