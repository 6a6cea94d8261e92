"""Request and response bodies of the REST API (they make /openapi.json precise)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hygiene.config import CleanConfig

__all__ = [
    "ScoreRequest", "TextScore", "DetectorInfo", "ScoreResponse", "JobRequest", "Job", "JobList", "ErrorBody",
    "ErrorResponse", "Health",
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
        None, description="calibrated P(machine). Null: the shipped calibration is a threshold at a target "
                          "false-positive rate, not a probability model, so none is reported")
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


class JobRequest(_Strict):
    kind: Literal["clean", "score"] = Field("clean", description="clean: route rows; score: annotate, remove nothing")
    inputs: list[ShardPath] = Field(..., min_length=1, max_length=1000,
                              description="shard files or directories, absolute or relative to a data root")
    config: CleanConfig | None = Field(
        None, description="job settings, as in a `hygiene clean --config` file; fields given override the "
                          "server's defaults. detector.model and detector.device are fixed by the server")
    annotate_kept: bool = False


class Job(BaseModel):
    id: str
    kind: Literal["clean", "score"]
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    inputs: list[str]
    created: str
    started: str | None
    finished: str | None
    stage: str | None = Field(None, description="score or write while running")
    rows_done: int
    rows_total: int | None
    counts: dict[str, Any] | None = Field(None, description="rows kept / removed / quarantined, once finished")
    timings_s: dict[str, float] | None
    error: str | None
    attempts: int = Field(..., description="times a worker started it (more than 1 after a restart)")
    config: dict[str, Any]


class JobList(BaseModel):
    jobs: list[Job]


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
