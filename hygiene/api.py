"""The Python API: the `hygiene` commands as functions, for notebooks and pipelines.

    import hygiene
    result = hygiene.clean(["shards/"], "cleaned/", threshold=-2.0, dedup={"threshold": 0.7})
    result.manifest["counts"]            # {"rows": ..., "kept": ..., "removed": ..., ...}

Settings are the fields of :class:`hygiene.config.CleanConfig` (the keys of a `--config` TOML file) as
keyword arguments, nested ones as dicts (``detector={"kind": "none"}``); ``config=`` takes a TOML path or a
``CleanConfig`` to start from. A bad setting raises :class:`hygiene.errors.ConfigError` naming it; bad input
raises the same errors the command line reports (all :class:`hygiene.errors.HygieneError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hygiene.config import CleanConfig
    from hygiene.pipeline import RunResult
    from hygiene.progress import Progress

__all__ = ["clean", "score", "deduplicate", "assess_risk", "RiskResult", "make_config"]

Inputs = Sequence[str | Path] | str | Path


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def make_config(config: CleanConfig | str | Path | None = None, **settings: Any) -> CleanConfig:
    """A job configuration: `config` (a CleanConfig, a TOML file, or the defaults) with `settings` applied."""
    from pydantic import ValidationError

    from hygiene.config import CleanConfig, ConfigError, load_config, refuse_ignored_settings

    if config is None or isinstance(config, str | Path):
        config = load_config(config)
    try:
        made = CleanConfig.model_validate(_merge(config.model_dump(), settings))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
    refuse_ignored_settings(made, settings)
    return made


def _inputs(inputs: Inputs) -> list[str | Path]:
    return [inputs] if isinstance(inputs, str | Path) else list(inputs)


def clean(inputs: Inputs, out: str | Path, *, config: CleanConfig | str | Path | None = None,
          overwrite: bool = False, annotate_kept: bool = False, scorer: Any = None,
          progress: Progress | None = None, **settings: Any) -> RunResult:
    """`hygiene clean`: split `inputs` into OUT/kept, removed and quarantine; returns the run's result
    (``.out``, ``.manifest``, ``.report``, ``.resumed``). Rerunning an interrupted job resumes it."""
    from hygiene.pipeline import run

    return run(_inputs(inputs), out, make_config(config, **settings), mode="clean", overwrite=overwrite,
               annotate_kept=annotate_kept, scorer=scorer, progress=progress)


def score(inputs: Inputs, out: str | Path, *, config: CleanConfig | str | Path | None = None,
          overwrite: bool = False, scorer: Any = None, progress: Progress | None = None,
          **settings: Any) -> RunResult:
    """`hygiene score`: every row to OUT/scored with its `hygiene_*` columns; nothing removed."""
    from hygiene.pipeline import run

    return run(_inputs(inputs), out, make_config(config, **settings), mode="score", overwrite=overwrite,
               scorer=scorer, progress=progress)


def deduplicate(inputs: Inputs, out: str | Path, *, config: CleanConfig | str | Path | None = None,
          overwrite: bool = False, annotate_kept: bool = False, progress: Progress | None = None,
          **settings: Any) -> RunResult:
    """`hygiene dedup`: exact and near-duplicate removal only (`clean` with detector kind none; no model).
    (Not named `dedup`: `hygiene.dedup` is the package of the disk-backed dedup and its persistent index.)"""
    settings = _merge(settings, {"detector": {"kind": "none"}})
    return clean(inputs, out, config=config, overwrite=overwrite, annotate_kept=annotate_kept, progress=progress,
                 **settings)


@dataclass(frozen=True)
class RiskResult:
    """A risk assessment: the JSON-ready dict `hygiene risk` writes, and where it was written (if it was)."""

    assessment: dict[str, Any]
    json: Path | None = None
    report: Path | None = None

    @property
    def grade(self) -> str | None:
        """A-F, or None when withheld (see ``assessment["integrity"]["grade_withheld"]``)."""
        return self.assessment["integrity"]["grade"]

    @property
    def integrity(self) -> float:
        return self.assessment["integrity"]["score"]

    @property
    def machine_fraction(self) -> float:
        return self.assessment["machine_fraction"]["fraction"]


def assess_risk(inputs: Inputs, out: str | Path | None = None, *,
                config: CleanConfig | str | Path | None = None, overwrite: bool = False, scorer: Any = None,
                progress: Progress | None = None, **settings: Any) -> RiskResult:
    """`hygiene risk`: machine share, duplication, diversity, collapse horizon and grade. Settings are job
    settings or fields of :class:`hygiene.risk.RiskOptions` (``sample=500``, ``detector_reference=[...]``).
    With `out`, OUT/risk.json and OUT/risk.html are written (an existing report only with `overwrite`)."""
    from hygiene.errors import RunError
    from hygiene.risk import RiskOptions, assess
    from hygiene.risk.report import RISK_HTML, RISK_JSON, write_risk_report

    names = {f.name for f in fields(RiskOptions)}
    chosen = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items() if k in names}
    options = RiskOptions(**chosen)
    job = make_config(config, **{k: v for k, v in settings.items() if k not in names})
    if out is not None:
        out = Path(out)
        if not overwrite and ((out / RISK_JSON).exists() or (out / RISK_HTML).exists()):
            raise RunError(f"{out} already holds a risk report", setting="overwrite")
    result = assess(_inputs(inputs), job, options, scorer=scorer, progress=progress)
    if out is None:
        return RiskResult(result)
    json_path, html_path = write_risk_report(out, result)
    return RiskResult(result, json=json_path, report=html_path)
