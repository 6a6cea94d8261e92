"""One typed job configuration, loaded from TOML and overridden by flags; shared by CLI and service.

A `clean` run submitted any way is the same job when its `CleanConfig` is equal. The config only
holds values; the algorithms live in `detectors` and `hygiene.pipeline`. Every number has bounds a run
can honour (a REST job with `batch_rows = 1e20` is refused when submitted, naming the field, not when it
runs); what depends on the loaded model (the token window) is checked by `check_model_window`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detectors.dedup_config import DedupConfig
from detectors.normalize import NORMALIZERS
from detectors.statistics import STATISTICS
from hygiene.errors import ConfigError
from hygiene.io import columns as C

__all__ = [
    "DetectorSettings", "DedupSettings", "CleanConfig", "load_config", "refuse_ignored_settings", "read_toml",
    "check_model_window", "ConfigError",
]


_DEDUP = DedupConfig()




class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DetectorSettings(_Frozen):
    kind: str = Field("zeroshot", min_length=1, description=(
        "zeroshot, binoculars, none (no model: dedup only), features / features-chat (the shipped trained "
        "detectors) or a model directory from train-detector; built by hygiene.detector"))
    model: str | None = Field(None, description="HF hub name, local dir or .gguf; None = offline SmolLM2-135M "
                                                "(binoculars: the observer)")
    performer: str | None = Field(None, description="binoculars performer model; None = the observer itself")
    statistic: Literal[STATISTICS] = Field("likelihood", description="the zero-shot statistic that decides")
    normalize: Literal[tuple(NORMALIZERS)] = Field(
        "none", description="text normalisation before scoring (detectors/normalize.py); none = as given")
    max_tokens: int = Field(512, ge=8, le=8192, description="scoring window; longer documents are truncated")
    batch_size: int = Field(16, ge=1, le=4096, description="most documents per model batch")
    batch_tokens: int = Field(16384, ge=64, le=1 << 22, description=(
        "most padded tokens per model batch (documents x longest window); bounds memory with batch_size"))
    device: str | None = Field(None, description="cuda, cpu, ...; None = CUDA when available")

    @model_validator(mode="after")
    def _no_setting_the_kind_ignores(self) -> DetectorSettings:
        # a trained detector brings its own statistics; say so rather than score with something else
        if self.statistic != "likelihood" and self.kind != "zeroshot":
            raise ValueError(f"`statistic` {self.statistic!r} chooses the zeroshot detector's statistic; the "
                             f"{self.kind!r} detector does not read it")
        if self.performer is not None and self.kind != "binoculars":
            raise ValueError(f"`performer` is the binoculars detector's second model; the {self.kind!r} detector "
                             "does not read it")
        return self


class DedupSettings(_Frozen):
    """Defaults are the detectors' own (chosen by measurement, see benchmarks/RESULTS.md)."""

    exact: bool = True
    near: bool = True
    threshold: float = Field(_DEDUP.threshold, gt=0.0, le=1.0, description="Jaccard similarity of near-duplicates")
    shingle: Literal["word", "char"] = _DEDUP.minhash.shingle
    ngram: int = Field(_DEDUP.minhash.ngram, ge=1, le=64)
    num_perm: int = Field(_DEDUP.minhash.num_perm, ge=8, le=1024)
    seed: int = Field(_DEDUP.minhash.seed, ge=0, le=2**32 - 1)
    bands: int | None = Field(None, ge=1, le=1024)
    rows: int | None = Field(None, ge=1, le=1024)
    engine: Literal["auto", "memory", "disk"] = Field("auto", description=(
        "where near dedup keeps signatures and LSH keys: memory, disk (partitioned files, bounded memory), "
        "auto = disk from 250,000 input rows on"))
    index: str | None = Field(None, min_length=1, max_length=4096, description=(
        "persistent dedup index: a SQLite file or redis://host:port/db; documents are checked against "
        "earlier runs' and added to it (clean)"))

    @model_validator(mode="after")
    def _bands_rows(self) -> DedupSettings:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both dedup.bands and dedup.rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"dedup.bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.index is not None and not self.near:
            raise ValueError("dedup.index needs near dedup (the index holds MinHash signatures)")
        return self


class CleanConfig(_Frozen):
    text_column: str = Field("text", min_length=1, max_length=1000)
    id_column: str = Field("id", min_length=1, max_length=1000)
    batch_rows: int = Field(1024, ge=1, le=1 << 20, description="records read per batch; bounds memory")
    remove_machine: bool = True
    threshold: float | None = Field(None, allow_inf_nan=False,
                                    description="score at or above which a document is machine-made")
    calibration: str | None = Field(None, description="calibration JSON; None = the shipped default")
    detector: DetectorSettings = DetectorSettings()
    dedup: DedupSettings = DedupSettings()
    engine: Literal["local", "ray"] = Field("local", description=(
        "where the steps run: local (this process) or ray (Ray Data stages; pip install 'corpus-hygiene[ray]')"))
    ray_address: str | None = Field(None, min_length=1, max_length=4096, description=(
        "Ray cluster to connect to (ray://host:10001, auto); None = start a local one with this machine's CPUs"))
    output_format: Literal[C.OUTPUT_FORMATS] = Field(
        "parquet", description="file format of the output shards (kept, removed, scored, quarantine)")
    add_id: bool = Field(False, description="give kept rows the id column even when the input has none")
    keep_work: bool = Field(False, description="keep the .work/ folder (signals, markers) after a finished run")

    @model_validator(mode="after")
    def _something_to_find(self) -> CleanConfig:
        if self.detector.kind == "none" and not (self.dedup.exact or self.dedup.near):
            raise ValueError("nothing to find: no detector (kind 'none') and both exact and near dedup are off")
        return self


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a :class:`ConfigError` naming it."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from exc


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> CleanConfig:
    """Read a TOML file (optional) and apply `{"detector.max_tokens": 256, ...}` overrides (None skipped)."""
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    try:
        config = CleanConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
    refuse_ignored_settings(config, data)
    return config


def refuse_ignored_settings(config: CleanConfig, given: dict[str, Any]) -> None:
    """Settings `given` (a file, flags, the API's keywords) that the chosen detector would not read: an error,
    not a run with something else than asked for. Checked on what was given, not in the models: a REST job
    inherits the server's settings and may still choose another detector."""
    detector = given.get("detector") or {}
    if isinstance(detector, BaseModel):  # the API takes a DetectorSettings too: what was set in it was given
        detector = detector.model_dump(exclude_unset=True)
    _refuse_settings_a_trained_detector_ignores(config.detector, detector)
    _refuse_detector_settings_without_a_detector(config, given)


_DETECTOR_ONLY = {"threshold": None, "calibration": None, "remove_machine": True}  # and their defaults


def _refuse_detector_settings_without_a_detector(config: CleanConfig, given: dict[str, Any]) -> None:
    """A threshold, calibration or `remove_machine = false` given with detector kind "none", which scores nothing."""
    if config.detector.kind != "none":
        return
    for key, default in _DETECTOR_ONLY.items():
        if key in given and given[key] != default:
            what = "keeping machine text (`remove_machine` = false)" if key == "remove_machine" else (
                f"`{key}` = {given[key]!r}")
            raise ConfigError(f"{what} has no effect with detector kind 'none': nothing is scored; drop it or "
                              "choose a detector", setting="detector.kind")


_TRAINED_OWN = ("model", "max_tokens", "normalize")  # what a model directory fixes for itself


def _refuse_settings_a_trained_detector_ignores(settings: DetectorSettings, given: dict[str, Any]) -> None:
    """A scorer, window or normalisation given beside a trained detector, which reads its own directory's."""
    if settings.kind in ("zeroshot", "binoculars", "none"):
        return
    for key in _TRAINED_OWN:
        if given.get(key) is not None:
            raise ConfigError(f"`{key}` = {given[key]!r} is not read by the {settings.kind!r} detector: a trained "
                              "detector scores with its own model directory's scorer, window and normalisation",
                              setting=f"detector.{key}")


def check_model_window(settings: DetectorSettings, limit: int | None) -> None:
    """Refuse a `detector.max_tokens` larger than the `limit` text tokens the loaded model's window holds."""
    wanted = settings.max_tokens
    if limit is not None and wanted > limit:
        raise ConfigError(f"detector.max_tokens = {wanted} does not fit the scorer model: one window holds at most "
                          f"{limit} text tokens (its positions less the BOS token)", setting="detector.max_tokens")
