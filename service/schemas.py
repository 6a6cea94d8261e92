"""Request and response bodies of the REST API (they make /openapi.json precise)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hygiene.config import CleanConfig

from .security import public_path, public_text, public_value

if TYPE_CHECKING:
    from .jobs import JobRecord
    from .uploads import Upload as StoredUpload

__all__ = [
    "ScoreRequest", "TextScore", "DetectorInfo", "ScoreResponse", "JobRequest", "Job", "JobList", "ErrorBody",
    "ErrorResponse", "Health", "RiskSettings", "Upload", "UploadList", "OutputFile", "OutputList", "job_view",
    "upload_view",
]


Text = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]  # something to score
ShardPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRequest(_Strict):
    texts: list[Text] = Field(..., min_length=1, description="documents to score (limits: see /readyz)")


class TextScore(BaseModel):
    score: float | None = Field(..., description="detector score, higher = more likely machine; null if unscorable")
    probability: float | None = Field(
        None, description="P(machine): a Platt fit to the shipped labelled reference scores (news and stories, "
                          "equal classes), for the default detector settings only; null with other settings "
                          "or when the text had nothing to score")
    decision: Literal["machine", "human", "unscored"] = Field(
        ..., description="machine when score >= threshold; unscored when the text had nothing to score")
    n_tokens: int = Field(..., description="tokens scored (texts are cut to the detector's window)")
    truncated: bool


class DetectorInfo(BaseModel):
    name: str
    model: str | None
    statistic: str
    max_tokens: int
    threshold: float
    threshold_source: str
    target_fpr: float | None = Field(None, description="false-positive rate the threshold was calibrated for")


class ScoreResponse(BaseModel):
    detector: DetectorInfo
    results: list[TextScore]


class RiskSettings(_Strict):
    """Options of a `risk` job, as the flags of `hygiene risk`."""

    sample: int = Field(2000, ge=1, le=1_000_000, description="documents scored and measured for diversity")
    dedup_sample: int = Field(1_000_000, ge=2, le=100_000_000,
                              description="documents checked for duplicates; larger corpora are sampled")
    detector_reference: list[ShardPath] = Field(
        [], max_length=100, description="labelled shards (text, label 0 human / 1 machine) under the data roots "
                                        "or uploads that measure the detector's errors; empty: the shipped reference")
    diversity_reference: list[ShardPath] = Field([], max_length=100,
                                                 description="human corpus to compare diversity with")
    label_column: str = Field("label", min_length=1, max_length=200)
    embeddings: bool = Field(True, description="MiniLM embedding diversity (false: skip loading MiniLM)")
    confidence: float = Field(0.95, ge=0.5, le=0.999)
    bootstrap: int = Field(1000, ge=50, le=20_000, description="bootstrap resamples of the machine-share interval")
    target_generations: int = Field(10, ge=1, le=1000, description="generations that count as safe")
    seed: int = Field(0, ge=0, le=2**32 - 1)


class JobRequest(_Strict):
    kind: Literal["clean", "score", "risk"] = Field(
        "clean", description="clean: route rows; score: annotate, remove nothing; risk: collapse-risk assessment")
    inputs: list[ShardPath] = Field(..., min_length=1, max_length=1000,
                              description="shard files or directories, absolute or relative to a data root; "
                                          "an upload is named by its id or its `path`")
    config: CleanConfig | None = Field(
        None, description="job settings, as in a `hygiene clean --config` file; fields given override the "
                          "server's defaults. detector.model and detector.device are fixed by the server")
    annotate_kept: bool = False
    risk: RiskSettings | None = Field(None, description="options of a risk job (only with kind risk)")

    @model_validator(mode="after")
    def _risk_only_for_risk(self) -> JobRequest:
        if self.risk is not None and self.kind != "risk":
            raise ValueError("`risk` options are only for kind \"risk\"")
        return self


class Job(BaseModel):
    id: str
    kind: Literal["clean", "score", "risk"]
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    inputs: list[str]
    created: str
    started: str | None
    finished: str | None
    stage: str | None = Field(None, description="score or write while running")
    rows_done: int
    rows_total: int | None
    counts: dict[str, Any] | None = Field(
        None, description="once finished: rows kept / removed / quarantined; for risk, the assessment's headline "
                          "numbers (integrity, grade, machine_fraction with its interval, duplicate_rate, horizons)")
    timings_s: dict[str, float] | None
    error: str | None
    attempts: int = Field(..., description="times a worker started it (more than 1 after a restart)")
    duration_s: float | None = Field(None, description="seconds from start to end (to now while running)")
    config: dict[str, Any]
    risk: dict[str, Any] | None = Field(None, description="a risk job's options, reference paths resolved")
    warnings: list[str] = Field(default_factory=list, description=(
        "once finished: what the run warns of, e.g. that the corpus's scores do not fit the domain the shipped "
        "threshold was calibrated on (the manifest's domain_check)"))


class JobList(BaseModel):
    jobs: list[Job]


class OutputFile(BaseModel):
    path: str = Field(..., description="relative to the job's output directory, e.g. kept/part-0001.parquet")
    bytes: int
    url: str = Field(..., description="where to download it")


class OutputList(BaseModel):
    job_id: str
    files: list[OutputFile]


class Upload(BaseModel):
    id: str = Field(..., pattern=r"^[0-9a-f]{32}$")
    filename: str
    path: str = Field(..., description="use it (or the id) in a job's inputs")
    format: Literal["parquet", "jsonl"]
    bytes: int
    sha256: str
    rows: int = Field(..., description="records in the file (malformed JSONL lines included; quarantined by jobs)")
    created: str


class UploadList(BaseModel):
    uploads: list[Upload]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok", "loading", "failed"]
    detail: str | None = None
    limits: dict[str, int] | None = None


def _shown_config(config: dict[str, Any], roots: Sequence[Path]) -> dict[str, Any]:
    """A job's settings as clients see them: paths relative to their root, a Redis index URL (the server's
    HYGIENE_REDIS_URL lands in every job) without its password."""
    shown = public_value(config, roots)
    index = (shown.get("dedup") or {}).get("index")
    if isinstance(index, str):
        from hygiene.dedup.storage import redact_location

        shown["dedup"] = {**shown["dedup"], "index": redact_location(index)}
    return shown


def job_view(record: JobRecord, roots: Sequence[Path] = ()) -> Job:
    """The job as a client sees it; with the server's `roots`, paths relative to the root they lie under."""
    error = public_text(record.error, roots) if record.error and roots else record.error
    return Job(id=record.id, kind=record.kind, state=record.state, created=record.created,
               inputs=[public_path(p, roots) for p in record.inputs] if roots else record.inputs,
               started=record.started, finished=record.finished, stage=record.stage, rows_done=record.rows_done,
               rows_total=record.rows_total, counts=record.counts, timings_s=record.timings, error=error,
               attempts=record.attempts, duration_s=record.duration_s, config=_shown_config(record.config, roots),
               risk=public_value(record.options, roots),
               warnings=[public_text(w, roots) if roots else w for w in record.warnings or []])


def upload_view(u: StoredUpload) -> Upload:
    return Upload(id=u.id, filename=u.filename, path=u.path, format=u.format, bytes=u.bytes, sha256=u.sha256,
                  rows=u.rows, created=u.created)
