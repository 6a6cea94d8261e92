"""The integrity score: one 0-100 number, its components, a grade with reasons, and recommendations.

Formula (every part is in the JSON output):

    component scores, each 0-100:
      synthetic   = 100 * (1 - estimated machine fraction)
      horizon     = 100 * min(1, predicted collapse generations of the raw corpus / target generations)
      duplication = 100 * (1 - share of documents that are exact or near-duplicates of another)
      diversity   = 100 * min(1, mean of corpus/reference ratios of distinct-2 and Vendi score)
                    (only with a human reference corpus; otherwise left out and the weights renormalised)
    score = weighted mean, weights synthetic 0.35, horizon 0.30, duplication 0.20, diversity 0.15
    grade = A >= 85, B >= 70, C >= 55, D >= 40, else E, then capped by what the machine share could be:
      A only if the upper end of the machine-share interval is <= 20 %, B only if it is <= 35 %, else C at best
      (the interval includes the error of generators the reference does not hold: hygiene.risk.sources)
    no grade (withheld) when the fit check fires: the reference mixture does not explain the corpus's
      scores, so the machine share is not known (hygiene.risk.fit_check)

A component under 80 becomes a reason for the grade, and so does a cap.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["integrity", "WEIGHTS", "GRADES"]

WEIGHTS = {"synthetic": 0.35, "horizon": 0.30, "duplication": 0.20, "diversity": 0.15}
GRADES = ((85, "A"), (70, "B"), (55, "C"), (40, "D"))
SHARE_CAPS = ((0.20, "A"), (0.35, "B"))
"""The best grade a corpus can get when the upper end of its machine-share interval is at most the bound."""
_REASON_BELOW = 80


def _grade(score: float) -> str:
    return next((grade for bound, grade in GRADES if score >= bound), "E")


def _horizon_change(raw: dict[str, Any], cleaned: dict[str, Any]) -> str:
    """How cleaning moves the predicted horizon, in words (an infinite horizon is "no collapse predicted")."""
    from hygiene.reporting.numbers import generations

    if math.isinf(raw["generations"]) and math.isinf(cleaned["generations"]):
        return "no collapse is predicted before or after cleaning"
    return f"the predicted horizon goes from {generations(raw['generations'])} to {generations(cleaned['generations'])}"


def _cap(high: float) -> str:
    """The best grade allowed by the upper end of the machine-share interval."""
    return next((grade for bound, grade in SHARE_CAPS if high <= bound), "C")


def integrity(result: dict[str, Any], *, target_generations: int, horizon_model) -> dict[str, Any]:
    machine = result["machine_fraction"]
    dup = result["duplicates"]
    raw, cleaned = result["horizon"]["raw"], result["horizon"]["cleaned"]
    components: dict[str, float | None] = {
        "synthetic": 100 * (1 - machine["fraction"]),
        "horizon": 100 * min(1.0, raw["generations"] / target_generations),
        "duplication": 100 * (1 - dup["duplicate_rate"]),
        "diversity": None,
    }
    ratio = result["diversity"].get("ratio")
    if ratio:
        used = [ratio[k] for k in ("distinct_2", "vendi") if k in ratio and math.isfinite(ratio[k])]
        components["diversity"] = 100 * min(1.0, sum(used) / len(used)) if used else None
    scored = {k: v for k, v in components.items() if v is not None}
    weight = sum(WEIGHTS[k] for k in scored)
    score = sum(WEIGHTS[k] * v for k, v in scored.items()) / weight

    reasons, withheld = [], None
    fit = machine.get("fit") or {}
    if fit.get("fires"):
        withheld = (f"the reference's human/machine score mixture does not explain this corpus's scores (fit check "
                    f"p = {fit['p_value']:.3g} < {fit['alpha']}): its text is unlike the reference's sources, so "
                    f"the machine share {machine['fraction']:.0%} ({machine['low']:.0%}-{machine['high']:.0%}) "
                    "may be far off")
        reasons.append(withheld)
    by_score = _grade(score)
    cap = _cap(machine["high"])
    grade = max(by_score, cap)  # letters: later = worse
    if grade != by_score:
        reasons.append(f"grade capped at {cap}: the machine-generated share could be as high as "
                       f"{machine['high']:.0%} (upper end of the {machine.get('confidence', 0.95):.0%} interval"
                       + (", which includes the error of generators the reference does not hold)"
                          if machine.get("sources") else ")"))
    if components["synthetic"] < _REASON_BELOW:
        reasons.append(f"estimated machine-generated share {machine['fraction']:.0%} "
                       f"({machine['low']:.0%}-{machine['high']:.0%})")
    if components["horizon"] < _REASON_BELOW:
        reasons.append(f"predicted collapse after {raw['generations']:.1f} generations of self-training "
                       f"(target {target_generations})")
    if components["duplication"] < _REASON_BELOW:
        reasons.append(f"{dup['duplicate_rate']:.0%} of documents duplicate another")
    if components["diversity"] is not None and components["diversity"] < _REASON_BELOW:
        reasons.append("less diverse than the human reference (distinct-2 / Vendi ratio "
                       f"{components['diversity'] / 100:.2f})")
    if components["diversity"] is None:
        reasons.append("diversity not scored: no human reference corpus given (--diversity-reference)")

    max_share = horizon_model.max_share(target_generations)
    own_reference = ("pass --detector-reference with labelled text (label 0 human, 1 machine) from this corpus's "
                     "own sources: its human text and text of the generators that may have written part of it")
    recommendations = [own_reference] if withheld else []
    recommendations += [
        f"clean with threshold {machine['threshold']:.4f}: on the reference it flags {machine['tpr']:.0%} of "
        f"machine text and {machine['fpr']:.1%} of human text; {_horizon_change(raw, cleaned)} "
        f"(machine share {raw['synthetic_share']:.0%} -> {cleaned['synthetic_share']:.0%})",
    ]
    if cleaned["synthetic_share"] > max_share:
        recommendations.append(
            f"keep at least {1 - max_share:.0%} verified human data in every training mix: the model predicts "
            f"{target_generations} generations only below a {max_share:.0%} synthetic share, and cleaning alone "
            f"leaves {cleaned['synthetic_share']:.0%}")
    else:
        recommendations.append(f"after cleaning the synthetic share is under the {max_share:.0%} that "
                               f"{target_generations} generations allow; keep human data at >= {1 - max_share:.0%}")
    if dup["duplicate_rate"] > 0.02:
        recommendations.append(f"deduplicate: `hygiene clean` removes the {dup['duplicate_rate']:.1%} duplicates")
    if result["detector"]["reference"].startswith("shipped") and not withheld:
        recommendations.append("the machine share is corrected with the shipped news/stories reference; for "
                               "another domain pass --detector-reference with labelled text of that domain")
    return {
        "score": round(score, 1),
        "grade": None if withheld else grade,
        "grade_withheld": withheld,
        "grade_by_score": by_score,
        "grade_cap": cap,
        "components": {k: (round(v, 1) if v is not None else None) for k, v in components.items()},
        "weights": WEIGHTS,
        "reasons": reasons,
        "recommendations": recommendations,
        "max_synthetic_share_for_target": max_share,
        "target_generations": target_generations,
    }
