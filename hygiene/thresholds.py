"""Where the machine-generated threshold of a run comes from, checked against the detector settings.

A threshold only means something for the statistic, model and token window it was calibrated
with; using it with another is refused rather than silently wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hygiene.errors import ThresholdError

from .config import CleanConfig

__all__ = ["Threshold", "resolve_threshold", "ThresholdError", "domain_report", "run_warnings", "shipped_reference"]




@dataclass(frozen=True)
class Threshold:
    value: float
    source: str  # "config" or the calibration file it came from
    calibration: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "calibration": self.calibration}


def resolve_threshold(config: CleanConfig) -> Threshold | None:
    """The threshold of a job: the configured value, else its calibration file, else the one the detector
    brings (a trained model directory's, or the shipped one for the default zero-shot detector). None when
    the job has no detector (``detector.kind = "none"``)."""
    from hygiene.detector import scoring

    spec = scoring(config.detector)
    if spec is None:
        return None
    if config.threshold is not None:
        return Threshold(float(config.threshold), "config")
    from detectors.calibration import default_calibration

    if config.calibration is not None:
        path = Path(config.calibration)
        if not path.is_file():
            raise ThresholdError(f"calibration file not found: {path}")
        calibration, source = _read_calibration(path), str(path)
    elif spec.threshold is not None:
        return Threshold(spec.threshold, spec.threshold_source)
    elif spec.kind != "zeroshot" or spec.model is not None:
        what = f"model {spec.model!r}" if spec.model is not None else f"the {spec.kind} detector"
        raise ThresholdError(
            f"no shipped calibration for {what}: set `threshold`, or `calibration` with a file made by "
            "`hygiene calibrate`"
        )
    else:
        calibration, source = default_calibration(), "shipped default"
    if (calibration.statistic, calibration.max_tokens) != (spec.key, spec.max_tokens):
        raise ThresholdError(
            f"calibration {source} is for statistic={calibration.statistic} max_tokens={calibration.max_tokens}, "
            f"but the detector decides on statistic={spec.key} max_tokens={spec.max_tokens}; "
            "set `threshold` or a matching `calibration`"
        )
    return Threshold(float(calibration.threshold), source, asdict(calibration))


def _read_calibration(path: Path):
    """A user's calibration file, or a ThresholdError saying why it is not one (never a bare traceback)."""
    from detectors.calibration import Calibration

    try:
        return Calibration.from_json(path)
    except (ValueError, TypeError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        why = str(exc).removeprefix(f"{path}: ")
        raise ThresholdError(f"{path} is not a calibration file written by `hygiene calibrate`: {why}",
                             setting="calibration") from exc


def shipped_reference(config: CleanConfig):
    """Labelled reference scores that fit the detector settings, or None: the shipped ones for the default
    detector (default model, same statistic and window, no input normalisation), or the out-of-fold scores
    a trained model directory keeps."""
    from hygiene.detector import REFERENCE_FILE, scoring

    spec = scoring(config.detector)
    if spec is None:
        return None
    from detectors.reference import ReferenceScores, default_reference

    if spec.path is not None:
        path = spec.path / REFERENCE_FILE
        return ReferenceScores.from_json(path) if path.is_file() else None
    if spec.kind != "zeroshot":
        return None
    ref, d = default_reference(), config.detector
    same = (d.model, d.statistic, d.max_tokens, d.normalize)
    return ref if same == (None, ref.statistic, ref.max_tokens, "none") else None


# The highest FPR the shipped `features` directory's threshold reached on a human domain it was not trained on
# (Python documentation; WikiText-2, man pages, GNU info, Perl and Vim documentation below it): RESULTS.md, issue 15.
TRAVELLING_FPR = 0.071
DOMAIN_SAMPLE = 1000  # scores tested: the test's sensitivity would otherwise grow without bound with corpus size


def domain_report(scores, config: CleanConfig) -> dict[str, Any]:
    """Whether the run's scores fit the domain of the reference its threshold came with
    (:func:`detectors.domain.domain_check` against the labelled reference scores of :func:`shipped_reference`:
    the shipped default's, or a trained model directory's out-of-fold ones), with a warning when they do not;
    ``checked: False`` and why when the run has no such reference (a threshold or calibration of its own,
    other detector settings, no detector)."""
    import numpy as np

    from detectors.domain import domain_check

    ref = shipped_reference(config) if config.threshold is None and config.calibration is None else None
    if ref is None or scores is None:
        return {"checked": False, "why": "no labelled reference scores for this threshold"}
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size < 20:
        return {"checked": False, "why": f"{finite.size} scored documents (the check needs >= 20)"}
    if finite.size > DOMAIN_SAMPLE:
        finite = np.random.default_rng(0).choice(finite, DOMAIN_SAMPLE, replace=False)
    check = domain_check(finite, ref.human_scores, ref.machine_scores)
    warning = None
    if check.outside:
        warning = (f"the detector scores of this corpus do not fit any mix of the reference's human and machine "
                   f"scores (KS distance {check.distance:.3f}, p = {check.p_value:.3f}): it is probably outside "
                   "the domain the threshold was calibrated on, so its false-positive rate may differ; calibrate "
                   "on human text of this domain (`hygiene calibrate`)")
        if config.detector.kind == "zeroshot":  # the default's reference: point to the detector whose threshold travels
            warning += (", or use the shipped detector kind \"features\" (`--detector features`), whose threshold "
                        f"kept the false-positive rate at or below {TRAVELLING_FPR:.1%} on every unseen human domain "
                        "measured (benchmarks/RESULTS.md)")
    return {"checked": True, **check.to_dict(), "reference": ref.source, "warning": warning}


def run_warnings(manifest: dict[str, Any]) -> list[str]:
    """What a finished clean/score run warns of (its manifest's domain check), for the CLI's last lines and a
    REST job's resource."""
    warning = (manifest.get("domain_check") or {}).get("warning")
    return [warning] if warning else []
