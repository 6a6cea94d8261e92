"""Turn a job request into resolved inputs and a full CleanConfig, refusing what the pipeline would refuse.

Everything a job could fail on before its first row (paths, shard format, text column, threshold, every
setting's range, the token window of the loaded model; for a risk job its references too) is checked here,
so a client gets a 4xx at submission instead of a failed job later. Inputs may come from the data roots or
the uploads directory (an implicit root). Messages show paths relative to their root, never the server's.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hygiene.config import CleanConfig, check_model_window
from hygiene.detector import BINOCULARS, KINDS, NONE, ZEROSHOT, Detector, build_detector, scoring
from hygiene.errors import ConfigError, HygieneError
from hygiene.io.shards import ShardError, open_shards
from hygiene.risk import RiskError, check_inputs
from hygiene.thresholds import ThresholdError, resolve_threshold

from .risk_job import risk_options
from .schemas import JobRequest, RiskSettings
from .security import PathError, public_text, recheck, require_file, resolve_inputs, resolve_under_roots
from .settings import ServiceSettings

__all__ = ["SubmitError", "prepare_job", "recheck_paths", "scorer_for", "server_roots"]

_SERVER_FIXED = ("model", "performer", "device")  # loading arbitrary weights on request is not a client's choice


class SubmitError(HygieneError, ValueError):
    def __init__(self, message: str, status: int = 422, code: str = "invalid_job") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def server_roots(settings: ServiceSettings) -> tuple:
    """Where server paths a client may see lie: the data roots, the uploads, the job outputs."""
    return (*settings.input_roots, settings.output_root)


def _window(scorer: Detector | None) -> int | None:
    lm = getattr(scorer, "lm", None) or getattr(scorer, "observer", None)
    if lm is None:
        return None
    from detectors.zeroshot import max_text_tokens

    return max_text_tokens(lm)


def prepare_job(request: JobRequest, settings: ServiceSettings,
                scorer: Detector | None = None) -> tuple[list, CleanConfig, dict[str, Any] | None]:
    """Resolved shard paths (confined to the data roots and uploads), the job's config over the server
    defaults, and for a risk job its options with the reference paths resolved the same way. With the
    server's loaded `scorer`, the job's token window is checked against its model; before it is loaded, a job
    that needs the model is refused with 503."""
    try:
        return _prepare(request, settings, scorer)
    except SubmitError as exc:
        raise SubmitError(public_text(str(exc), server_roots(settings)), exc.status, exc.code) from exc


def _prepare(request: JobRequest, settings: ServiceSettings, scorer: Detector | None):
    given = request.config.model_dump(mode="json", exclude_unset=True) if request.config else {}
    fixed = [key for key in _SERVER_FIXED if key in given.get("detector", {})
             and given["detector"][key] != getattr(settings.job.detector, key)]
    kind = given.get("detector", {}).get("kind")
    if settings.job.detector.kind == NONE and kind not in (None, NONE):  # else the job would load an LM
        raise SubmitError("this server has no detector (detector kind none): it runs deduplication jobs only, "
                          "detector.kind cannot be set per job", 403, "forbidden_setting")
    if kind is not None and kind not in KINDS and kind != settings.job.detector.kind:
        fixed.append("kind")  # a model directory: only the server's own
    if fixed:
        raise SubmitError(f"detector.{', detector.'.join(fixed)} is fixed by the server and cannot be set per job",
                          403, "forbidden_setting")
    if given.get("engine") not in (None, settings.job.engine):  # ray with no address would start a local cluster
        raise SubmitError(f"engine is fixed by the server ({settings.job.engine}; HYGIENE_ENGINE or its config file)",
                          403, "forbidden_setting")
    if given.get("ray_address") not in (None, settings.job.ray_address):
        raise SubmitError("ray_address is fixed by the server (HYGIENE_RAY_ADDRESS)", 403, "forbidden_setting")
    index = given.get("dedup", {}).get("index")
    if index is not None and index != settings.job.dedup.index:  # a file or server the job names: never
        raise SubmitError("dedup.index is fixed by the server (HYGIENE_REDIS_URL); a job may only turn it off "
                          "(null)", 403, "forbidden_setting")
    try:
        if given.get("calibration") is not None:
            calibration = resolve_under_roots(given["calibration"], settings.data_roots)
            require_file(calibration, given["calibration"])
            given["calibration"] = str(calibration)
        config = CleanConfig.model_validate(_merge(settings.job.model_dump(mode="json"), given))
        spec = scoring(config.detector)
        if spec is not None and spec.kind in (ZEROSHOT, BINOCULARS):  # a model directory fixes its own window
            if scorer is None:  # the server's LM is not loaded: its window is unknown (and the job would wait)
                raise SubmitError("the server's model is not loaded yet, so this job's token window cannot be "
                                  "checked: retry once /readyz answers ok", 503, "not_ready")
            check_model_window(config.detector, _window(scorer))
        roots = settings.input_roots
        inputs = resolve_inputs(request.inputs, roots, settings.max_shard_bytes)
        options = None
        if request.kind == "risk":
            options = (request.risk or RiskSettings()).model_dump(mode="json")
            for key in ("detector_reference", "diversity_reference"):
                if options[key]:
                    options[key] = [str(p) for p in resolve_inputs(options[key], roots, settings.max_shard_bytes)]
            check_inputs(inputs, config, risk_options(options))  # as `hygiene risk` checks before scoring
        else:
            open_shards(inputs, config.text_column)  # same checks as the CLI: format, text column
            resolve_threshold(config)
    except SubmitError:
        raise
    except PathError as exc:
        raise SubmitError(str(exc), exc.status, "path_refused" if exc.status == 403 else "path_error") from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        raise SubmitError(f"invalid config: config.{'.'.join(map(str, error['loc']))}: {error['msg']}") from exc
    except (ConfigError, ShardError, ThresholdError, RiskError, ValueError) as exc:  # ValueError: ArrowInvalid
        raise SubmitError(str(exc)) from exc
    except OSError as exc:
        raise SubmitError(f"cannot read input: {exc.strerror or exc}", 422, "unreadable_input") from exc
    return inputs, config, options


def recheck_paths(inputs: list[str], options: dict[str, Any] | None, config: CleanConfig,
                  settings: ServiceSettings) -> None:
    """What a job reads, checked again by the worker right before it reads it (also after a restart re-queued
    the job): a file swapped for a link out of the roots while the job waited is refused as at submission."""
    options = options or {}
    recheck([*inputs, *options.get("detector_reference", []), *options.get("diversity_reference", [])],
            settings.input_roots)
    if config.calibration is not None and config.calibration != settings.job.calibration:  # the job's own
        recheck([config.calibration], settings.data_roots)


def scorer_for(config: CleanConfig, shared: Detector | None, base: CleanConfig) -> Detector | None:
    """The job's detector, built by the one factory from the job's settings (all of them: statistic, window,
    normalisation, ...): the server's own when the settings match, none for a dedup-only job, else a new one
    that reuses the server's loaded LM when that is the model the job names (model and device are fixed)."""
    if config.detector == base.detector:
        return shared
    if scoring(config.detector) is None:
        return None
    lm = None
    if base.detector.kind in (ZEROSHOT, BINOCULARS) and shared is not None:
        lm = getattr(shared, "lm", None) or getattr(shared, "observer", None)
    return build_detector(config.detector, lm=lm)
