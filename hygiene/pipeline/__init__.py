"""The cleaning pipeline as steps over Arrow batches: per-shard signals, corpus-wide decisions, routing
rows, the run report. `step.py` states the contract; `steps.py` and `dedup.py` hold the steps; `stream.py`
the one shard -> batch -> signals loop; `engine.py` runs the three passes locally."""

from hygiene.errors import RunError

from .engine import RunResult, dedup_config, run, signal_steps

__all__ = ["RunError", "RunResult", "run", "dedup_config", "signal_steps"]
