"""The collapse-risk report: a self-contained HTML page (template `risk.html`) and the same numbers as JSON."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hygiene.io.atomic import write_json
from hygiene.reporting import charts, write_page

from . import integrity
from .horizon import HorizonModel, synthetic_share_after_cleaning

__all__ = ["write_risk_report", "RISK_JSON", "RISK_HTML"]

RISK_JSON, RISK_HTML = "risk.json", "risk.html"
_CURVE_GENERATIONS = 15


def _strict(obj: Any) -> Any:
    """JSON has no NaN or infinity: write them as null (an infinite horizon reads "no collapse predicted")."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    return obj


def model_origin(model: dict[str, Any]) -> str:
    """What the horizon model was fitted on, said once: its `source` repeats the preset for every seed."""
    heads = dict.fromkeys(part.split(": ")[0].strip() for part in model.get("source", "").split("; ") if part)
    runs = "; ".join(heads) or "collapse_eval runs"
    return f"{runs}, {model.get('seeds', '?')} seeds, {model.get('n_rows', '?')} generations measured"


def fit_text(fit: dict[str, Any] | None) -> str:
    """The fit check (does the reference's human/machine mixture explain the corpus's scores?) in words."""
    if not fit:
        return "not run"
    from hygiene.reporting.numbers import number

    verdict = "fails" if fit["fires"] else "passes"
    return (f"{verdict}: p = {number(fit['p_value'])} (fires below {number(fit['alpha'])}; G = "
            f"{number(fit['statistic'])} over {fit['bins']} bins, {fit['replicates']} simulated corpora)")


def _horizon_model(model: dict[str, Any]) -> HorizonModel:
    fields = {f for f in HorizonModel.__dataclass_fields__}
    return HorizonModel(**{**{k: v for k, v in model.items() if k in fields}, "draws": ()})


def _charts(result: dict[str, Any]) -> dict[str, str]:
    dist, machine = result["score_distribution"], result["machine_fraction"]
    edges = dist["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    threshold = machine["threshold"]
    scores = charts.histogram(
        edges, dist["corpus"], title="Detector scores of the corpus sample and the labelled reference",
        xlabel="score (higher = more machine-like)", ylabel="share of documents", label="this corpus",
        percent=True, threshold=charts.Marker(threshold, f"threshold {threshold:.3f}"),
        overlays=[charts.Line("human reference", centres, dist["human_reference"], color=charts.COLORS["human"]),
                  charts.Line("machine reference", centres, dist["machine_reference"],
                              color=charts.COLORS["machine"], dashed=True)],
    )
    roc = dist["reference_roc"]
    calibration = charts.roc(roc["fpr"], roc["tpr"], title="Detector error rates on the reference",
                             label="detector on the reference", operating_point=(machine["fpr"], machine["tpr"]),
                             operating_label=f"the threshold ({machine['fpr']:.0%}, {machine['tpr']:.0%})")
    horizon = result["horizon"]
    model = _horizon_model(horizon["model"])
    gens = list(range(_CURVE_GENERATIONS + 1))
    cleaned_share = lambda share: synthetic_share_after_cleaning(share, machine["tpr"], machine["fpr"])  # noqa: E731

    def line(label: str, share: float, low: float, high: float, color: str) -> charts.Line:
        curve = lambda s: model.curve(s, _CURVE_GENERATIONS)  # noqa: E731
        return charts.Line(label, gens, curve(share), low=curve(low), high=curve(high), color=color)

    raw_share, clean_share = horizon["raw"]["synthetic_share"], horizon["cleaned"]["synthetic_share"]
    curves = charts.lines(
        [line(f"as is ({raw_share:.0%} machine-generated)", raw_share, machine["low"], machine["high"],
              charts.COLORS["raw"]),
         line(f"after hygiene clean ({clean_share:.0%})", clean_share, cleaned_share(machine["low"]),
              cleaned_share(machine["high"]), charts.COLORS["cleaned"])],
        title="Predicted held-out perplexity under recursive training", xlabel="generation of self-training",
        ylabel="perplexity / generation 0", from_zero=False,
        reference=charts.Marker(1 + model.rise, f"collapse line (+{model.rise:.0%})"),
    )
    duplicates = charts.cluster_sizes(result["duplicates"].get("cluster_sizes", {}),
                                      title="Near-duplicate clusters by size")
    return {"scores": scores, "calibration": calibration, "curves": curves, "duplicates": duplicates}


def write_risk_report(out: Path, result: dict[str, Any]) -> tuple[Path, Path]:
    """Write OUT/risk.json and OUT/risk.html (atomically); returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RISK_JSON, _strict(result))
    horizon = result["horizon"]
    write_page(
        out / RISK_HTML, "risk.html",
        r=result, score=result["integrity"], machine=result["machine_fraction"], dup=result["duplicates"],
        horizon=horizon, model=horizon["model"], origin=model_origin(horizon["model"]), charts=_charts(result),
        fit_text=fit_text, share_caps=getattr(integrity, "SHARE_CAPS", ()),
        json_name=RISK_JSON,
    )
    return out / RISK_JSON, out / RISK_HTML
