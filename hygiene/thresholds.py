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


def resolve_threshold(config: CleanConfig) -> Threshold:
    if config.threshold is not None:
        return Threshold(float(config.threshold), "config")
    from detectors.calibration import Calibration, default_calibration

    if config.calibration is not None:
        path = Path(config.calibration)
        if not path.is_file():
            raise ThresholdError(f"calibration file not found: {path}")
        calibration, source = Calibration.from_json(path), str(path)
    elif config.detector.model is not None:
        raise ThresholdError(
            f"no shipped calibration for model {config.detector.model!r}: "
            "pass --threshold, or --calibration with a file made by `hygiene calibrate`"
        )
    else:
        calibration, source = default_calibration(), "shipped default"
    d = config.detector
    if (calibration.statistic, calibration.max_tokens) != (d.statistic, d.max_tokens):
        raise ThresholdError(
            f"calibration {source} is for statistic={calibration.statistic} max_tokens={calibration.max_tokens}, "
            f"but the detector uses statistic={d.statistic} max_tokens={d.max_tokens}; "
            "pass --threshold or a matching --calibration"
        )
    return Threshold(float(calibration.threshold), source, asdict(calibration))


def shipped_reference(config: CleanConfig):
    """The shipped labelled reference scores, when the detector settings are the ones they were measured with
    (default model, same statistic and window, no input normalisation); else None."""
    from detectors.reference import default_reference

    ref, d = default_reference(), config.detector
    same = (d.model, d.statistic, d.max_tokens, d.normalize)
    return ref if same == (None, ref.statistic, ref.max_tokens, "none") else None
