"""Names and directions of the zero-shot statistics: plain data, importable without torch.

The one place they are spelled; :mod:`detectors.zeroshot` computes them, configs and the command line
list them from here (building a parser must not import torch).
"""

from __future__ import annotations

__all__ = ["STATISTICS", "SCORE_SIGN"]

STATISTICS = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr")
SCORE_SIGN = {"likelihood": 1.0, "log_rank": 1.0, "entropy": -1.0, "fast_detectgpt": 1.0, "lrr": 1.0}
"""Multiply a raw statistic by its sign to get a score where higher = more likely machine."""
