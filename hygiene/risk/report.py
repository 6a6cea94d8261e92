"""The collapse-risk report: a self-contained HTML page (inline SVG charts) and the same numbers as JSON."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from hygiene.io.atomic import atomic_path, write_json
from hygiene.svg import Series, chart

__all__ = ["write_risk_report", "RISK_JSON", "RISK_HTML"]

RISK_JSON, RISK_HTML = "risk.json", "risk.html"
_CURVE_GENERATIONS = 15


def _pct(v: float) -> str:
    return f"{v:.1%}" if math.isfinite(v) else "n/a"


def _gens(v: float) -> str:
    return "no collapse predicted" if math.isinf(v) else f"{v:.1f}"


def _grade_text(score: dict[str, Any]) -> str:
    return "withheld" if score["grade"] is None else score["grade"]


def _fit_text(machine: dict[str, Any]) -> str:
    fit = machine.get("fit")
    if not fit:
        return "not run"
    verdict = "fails" if fit["fires"] else "passes"
    return (f"{verdict}: p = {fit['p_value']:.3g} (fires below {fit['alpha']}; G = {fit['statistic']:.1f} over "
            f"{fit['bins']} bins, {fit['replicates']} simulated corpora)")


def _held_out_table(machine: dict[str, Any]) -> str:
    """What the estimator reports, without each generator family of the reference, at known true shares."""
    sources = machine.get("sources")
    if not sources:
        return ("<p>The reference is not tagged by generator, so the interval covers sampling error only: right "
                "when the reference is labelled text of this corpus's own sources.</p>")
    shares = list(sources["held_out"][0]["estimate_at_true_share"])
    head = "".join(f"<th>true {float(p):.0%}</th>" for p in shares)
    body = "".join(
        f"<tr><th>{html.escape(h['source'])} ({h['machine']} documents)</th>"
        + "".join(f"<td>{_pct(v)}</td>" for v in h["estimate_at_true_share"].values()) + "</tr>"
        for h in sources["held_out"])
    return (f"<p>How far the estimate moves when the machine text comes from a generator the reference does "
            f"not hold: each family held out of the reference in turn, the estimate at known true shares. The "
            f"interval above assumes an unseen generator behaves like another draw from these (multiplier "
            f"{sources['spread_multiplier']:.2f} on their spread).</p><table><tr><th>held out</th>{head}</tr>"
            f"{body}</table>")


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)


def _charts(result: dict[str, Any]) -> list[str]:
    dist, machine = result["score_distribution"], result["machine_fraction"]
    edges = dist["edges"]
    width = edges[1] - edges[0]
    centres = [e + width / 2 for e in edges[:-1]]
    scores = chart(
        "Detector scores: this corpus (sample) against the labelled reference",
        [Series("corpus", edges[:-1], dist["corpus"], kind="bars", bar_width=width),
         Series("human reference", centres, dist["human_reference"], color="#27ae60"),
         Series("machine reference", centres, dist["machine_reference"], color="#c0392b")],
        xlabel="score (higher = more machine-like)", ylabel="share of documents",
        vline=(machine["threshold"], "threshold"),
    )
    roc = dist["reference_roc"]
    calibration = chart(
        "Detector error rates on the reference (what corrects the flagged share)",
        [Series("reference ROC", roc["fpr"], roc["tpr"]),
         Series("chance", [0, 1], [0, 1], color="#999", dashed=True)],
        xlabel="false-positive rate", ylabel="true-positive rate", y_from_zero=True,
    )
    sizes = sorted(result["duplicates"]["cluster_sizes"].items(), key=lambda kv: int(kv[0]))
    duplicates = chart(
        "Near-duplicate clusters by size",
        [Series("clusters", [int(k) for k, _ in sizes], [v for _, v in sizes], kind="bars")],
        xlabel="documents in the cluster", ylabel="clusters",
    ) if sizes else "<p>No near-duplicate clusters.</p>"
    horizon = result["horizon"]
    model = horizon["model"]
    gens = list(range(_CURVE_GENERATIONS + 1))

    def curve(share: float) -> list[float]:  # hygiene.risk.horizon model, from the parameters in the result
        plateau = model["amplitude"] * share ** model["exponent"]
        return [math.exp(plateau * (1 - math.exp(-g / model["tau"]))) for g in gens]

    curves = chart(
        "Predicted held-out perplexity ratio under recursive training on this data",
        [Series(f"as is ({_pct(horizon['raw']['synthetic_share'])} synthetic)", gens,
                curve(horizon["raw"]["synthetic_share"]), color="#c0392b"),
         Series(f"after clean ({_pct(horizon['cleaned']['synthetic_share'])})", gens,
                curve(horizon["cleaned"]["synthetic_share"]), color="#2e86c1")],
        xlabel="generation", ylabel="perplexity / generation 0", y_from_zero=False,
        hline=(1 + model["rise"], f"collapse: +{model['rise']:.0%}"),
    )
    return [scores, calibration, duplicates, curves]


def _strict(obj: Any) -> Any:
    """JSON has no NaN or infinity: write them as null (an infinite horizon reads "no collapse predicted")."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    return obj


def write_risk_report(out: Path, result: dict[str, Any]) -> tuple[Path, Path]:
    """Write OUT/risk.json and OUT/risk.html (atomically); returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RISK_JSON, _strict(result))
    score, machine, dup = result["integrity"], result["machine_fraction"], result["duplicates"]
    horizon, sampling = result["horizon"], result["sampling"]
    scores, calibration, duplicates, curves = _charts(result)
    bars = "".join(
        f'<tr><th>{html.escape(name)}</th><td>{"not scored" if value is None else f"{value:.1f}"}</td>'
        f'<td><div style="width:{0 if value is None else value * 3:.0f}px;height:.8rem;background:#2e86c1"></div>'
        f"</td><td>{score['weights'][name]:.2f}</td></tr>"
        for name, value in score["components"].items()
    )
    summary = _rows([
        ("integrity score", f"{score['score']:.1f} / 100, grade {_grade_text(score)}"),
        ("estimated machine-generated share",
         f"{_pct(machine['fraction'])} "
         f"({machine['confidence']:.0%} interval {_pct(machine['low'])}-{_pct(machine['high'])}; sampling alone "
         f"{_pct(machine['sampling_low'])}-{_pct(machine['sampling_high'])})"),
        ("does the reference explain the corpus? (fit check)", _fit_text(machine)),
        ("raw flagged share (not corrected)", _pct(machine["flagged_share"])),
        ("duplicates (exact + near)", f"{_pct(dup['duplicate_rate'])} "
         f"(exact {_pct(dup['exact_duplicate_rate'])}, near {_pct(dup['near_duplicate_rate'])})"),
        ("predicted generations to collapse, as is",
         f"{_gens(horizon['raw']['generations'])} ({_gens(horizon['raw']['low'])}-{_gens(horizon['raw']['high'])})"),
        ("after hygiene clean",
         f"{_gens(horizon['cleaned']['generations'])} "
         f"({_gens(horizon['cleaned']['low'])}-{_gens(horizon['cleaned']['high'])})"),
    ])
    sampled = _rows([(k, f"{v['documents']} of {v['of']} documents" + (" (sampled)" if v["sampled"] else ""))
                     for k, v in sampling.items()])
    div = result["diversity"]
    diversity = _rows([(k, f"{v:.4g}" + (f" (reference {div['reference'][k]:.4g}, ratio {div['ratio'][k]:.2f})"
                                         if "reference" in div else ""))
                       for k, v in div["corpus"].items()])
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in score["reasons"]) or "<li>none</li>"
    warning = (f'<p style="border:2px solid #c0392b;padding:.6rem"><strong>Grade withheld.</strong> '
               f"{html.escape(score['grade_withheld'])}. {html.escape(score['recommendations'][0])}.</p>"
               if score["grade"] is None else "")
    advice = "".join(f"<li>{html.escape(r)}</li>" for r in score["recommendations"])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>corpus-hygiene collapse-risk report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:62rem}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;padding:.25rem .6rem;
text-align:left}}figure{{margin:1rem 0}}figcaption{{font-size:.9rem;color:#444}}code{{background:#f4f4f4}}</style>
</head><body>
<h1>Collapse-risk report: grade {html.escape(_grade_text(score))} ({score['score']:.1f} / 100)</h1>
{warning}<table>{summary}</table>
<h2>Why this grade</h2><ul>{reasons}</ul>
<h2>Recommendations</h2><ul>{advice}</ul>
<h2>Components</h2><table><tr><th>component</th><th>score</th><th></th><th>weight</th></tr>{bars}</table>
<p>Score = weighted mean of the components (weights {html.escape(json.dumps(score['weights']))}; a component
without data is left out and the weights renormalised). Grade: A &ge; 85, B &ge; 70, C &ge; 55, D &ge; 40, else E, and
no better than the machine share allows: A only if the upper end of its interval is at most 20 %, B at most 35 %,
else C at best (here: {html.escape(score['grade_by_score'])} by score, {html.escape(score['grade_cap'])} at best by
share). No grade when the fit check fails. Formula: <code>hygiene/risk/integrity.py</code>.</p>
<h2>Machine-generated text</h2>{scores}{calibration}
<p>The estimate is a maximum-likelihood mixture of the reference's human and machine score distributions.
Its interval joins the bootstrap over the corpus sample and the reference (sampling alone:
{_pct(machine['sampling_low'])}-{_pct(machine['sampling_high'])}) with the error of generators the reference does
not hold (<code>hygiene/risk/sources.py</code>). Reference:
{html.escape(result['detector']['reference'][:300])}. On the reference the threshold flags
{_pct(machine['tpr'])} of machine and {_pct(machine['fpr'])} of human documents. Fit check:
{html.escape(_fit_text(machine))}.</p>
{_held_out_table(machine)}
<h2>Duplicates</h2>{duplicates}
<p>{dup['clusters']} near-duplicate clusters; largest {dup['largest_cluster']} documents.</p>
<h2>Diversity</h2><table>{diversity}</table>
<h2>Predicted collapse horizon</h2>{curves}
<p>Model: log(perplexity ratio) = A x share<sup>gamma</sup> x (1 - exp(-generation / tau)), A =
{horizon['model']['amplitude']:.3f}, gamma = {horizon['model']['exponent']:.2f}, tau = {horizon['model']['tau']:.2f}
(<code>hygiene/risk/horizon.py</code>), fitted on {html.escape(horizon['model']['source'])}.
Small CPU-scale GPT-2 runs: read horizons as relative.</p>
<h2>What was sampled</h2><table>{sampled}</table>
<p>Machine-readable: <code>{RISK_JSON}</code> beside this page.</p>
</body></html>
"""
    with atomic_path(out / RISK_HTML) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / RISK_JSON, out / RISK_HTML
