"""corpus-hygiene core: shard I/O, the cleaning pipeline, reports and the `hygiene` command.

The Python API (:mod:`hygiene.api`) is here, loaded on first use so that ``import hygiene`` stays cheap::

    import hygiene
    result = hygiene.clean(["shards/"], "cleaned/")      # also: score, deduplicate, assess_risk
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("corpus-hygiene")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "clean", "score", "deduplicate", "assess_risk", "make_config", "RiskResult", "RunResult",
           "CleanConfig", "HygieneError"]

_LAZY = {"clean": "hygiene.api", "score": "hygiene.api", "deduplicate": "hygiene.api", "assess_risk": "hygiene.api",
         "make_config": "hygiene.api", "RiskResult": "hygiene.api", "RunResult": "hygiene.pipeline",
         "CleanConfig": "hygiene.config", "HygieneError": "hygiene.errors"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hygiene' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
