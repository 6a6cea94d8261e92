"""The cleaning pipeline: per-shard signals, corpus-wide decisions, routing rows, the run report."""

from hygiene.errors import RunError

from .engine import RunResult, build_scorer, dedup_config, run

__all__ = ["RunError", "RunResult", "run", "dedup_config", "build_scorer"]
