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

__all__ = ["Threshold", "resolve_threshold", "ThresholdError", "shipped_reference"]




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
    from detectors.calibration import Calibration, default_calibration

    if config.calibration is not None:
        path = Path(config.calibration)
        if not path.is_file():
            raise ThresholdError(f"calibration file not found: {path}")
        calibration, source = Calibration.from_json(path), str(path)
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
