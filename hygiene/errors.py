"""One base type for every error a user can fix (bad input, settings or output state), never a bug.

The edges map it in one place each: the CLI prints the message and exits with ``exit_code``; the service
answers with ``status`` and ``code``. Core messages say what is wrong and where, not which flag to pass.
"""

from __future__ import annotations

__all__ = [
    "HygieneError",
    "ConfigError",
    "ShardError",
    "RunError",
    "ThresholdError",
    "CalibrationError",
    "RiskError",
]


class HygieneError(Exception):
    """Bad input, settings or state the user can fix.

    `setting` names the job setting that would fix it, when one would (``"text_column"``, ``"overwrite"``,
    ``"detector.max_tokens"``): each edge says that in its own terms (the CLI names its flag).
    """

    exit_code: int = 1
    status: int = 422
    code: str = "invalid_input"

    def __init__(self, *args: object, setting: str | None = None) -> None:
        super().__init__(*args)
        self.setting = setting


class ConfigError(HygieneError, ValueError):
    """The configuration file or settings are invalid; the message names the field."""

    code = "invalid_config"


class ShardError(HygieneError, ValueError):
    """A shard (or the set of inputs) cannot be processed; the message says why and where."""

    code = "invalid_shard"


class RunError(HygieneError):
    """The output directory cannot be used as asked (finished run, foreign files, other job)."""

    status, code = 409, "output_conflict"


class ThresholdError(HygieneError, ValueError):
    """No usable threshold for these detector settings."""

    code = "no_threshold"


class CalibrationError(HygieneError, ValueError):
    """Too little usable data for a meaningful threshold."""

    code = "calibration_failed"


class RiskError(HygieneError, ValueError):
    """The corpus or reference cannot support a risk assessment; the message says why."""

    code = "risk_failed"
