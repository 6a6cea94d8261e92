"""POST /v1/score: texts in, scores and decisions out; concurrent requests share model batches."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter

from .. import schemas as S
from ..batcher import QueueFull
from ..deps import AUTH, StateDep
from ..errors import ERROR_RESPONSES, ApiError
from ..settings import ServiceSettings

__all__ = ["router"]

router = APIRouter(tags=["score"], dependencies=[AUTH])


@router.post("/v1/score", response_model=S.ScoreResponse, responses=ERROR_RESPONSES)
async def score(body: S.ScoreRequest, state: StateDep) -> S.ScoreResponse:
    """Score texts; concurrent requests share model batches. 429 + Retry-After when the queue is full."""
    settings = state.settings
    _check_texts(body.texts, settings)
    if state.scoring is None:
        raise ApiError(409, "no_detector", "this server has no detector (detector kind none): it runs "
                                           "deduplication jobs only")
    if state.batcher is None:
        raise ApiError(503, "not_ready", state.load_error or "the model is still loading; retry shortly",
                       headers={"Retry-After": "5"})
    try:
        stats = await state.batcher.statistics(body.texts)
    except QueueFull as exc:
        state.metrics.rejected.inc()
        raise ApiError(429, "busy", str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
    scores = state.scoring.score(stats)
    if state.scoring.probability and "p_machine" in stats:  # the detector's own calibration (trained)
        probability = np.asarray(stats["p_machine"], dtype=np.float64)
    elif state.probability is not None:
        probability = state.probability.predict(scores)
    else:
        probability = np.full(len(scores), np.nan)
    results = []
    for value, p, n, cut in zip(scores, probability, stats["n_tokens"], stats["truncated"]):
        finite = bool(np.isfinite(value))
        decision = ("machine" if value >= state.threshold.value else "human") if finite else "unscored"
        results.append(S.TextScore(score=float(value) if finite else None,
                                   probability=float(p) if np.isfinite(p) else None, decision=decision,
                                   n_tokens=int(n), truncated=bool(cut)))
    return S.ScoreResponse(detector=state.detector_info(), results=results)


def _check_texts(texts: list[str], settings: ServiceSettings) -> None:
    if len(texts) > settings.max_texts:
        raise ApiError(422, "too_many_texts", f"{len(texts)} texts; at most {settings.max_texts} per request")
    long = [i for i, t in enumerate(texts) if len(t) > settings.max_chars]
    if long:
        raise ApiError(422, "text_too_long", f"texts longer than {settings.max_chars} characters at indices "
                                             f"{long[:20]}", details=[{"index": i, "chars": len(texts[i])}
                                                                     for i in long[:20]])
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ApiError(422, "empty_text", f"empty or whitespace-only texts at indices {empty[:20]}")
