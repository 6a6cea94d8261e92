"""What a command prints when it is done: lines for people, or with ``--json`` one JSON object for programs.

With ``--json`` stdout carries nothing but that object (printed last), so ``hygiene clean ... --json | jq``
works; the lines a person would read go to stderr with the progress bars. ``--quiet`` silences every
progress bar, ours and those of the libraries that load models (transformers, huggingface_hub, datasets).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["say", "finish", "quiet_libraries"]

# Environment switches the model libraries read when they are imported (all are imported after parsing).
_QUIET_ENV = {
    "TQDM_DISABLE": "1",  # every tqdm bar whose caller does not set `disable` itself
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def say(args: argparse.Namespace, line: str) -> None:
    """A message for people: stdout normally, stderr under --json (stdout then holds only the summary)."""
    print(line, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


def finish(args: argparse.Namespace, lines: Sequence[str], summary: dict[str, Any]) -> int:
    """End a command: `lines` for people, or (--json) `summary` as one JSON object on stdout."""
    for line in lines:
        say(args, line)
    if getattr(args, "json", False):
        print(json.dumps(_plain(summary), allow_nan=False))
    return 0


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as numbers, NaN and infinity as null (strict JSON has neither), paths as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


@contextmanager
def quiet_libraries(enabled: bool) -> Iterator[None]:
    """Silence the progress bars and advice of tqdm, transformers, huggingface_hub and datasets while the
    command runs (restoring the environment after: `main` may be called in-process)."""
    if not enabled:
        yield
        return
    saved = {k: os.environ.get(k) for k in _QUIET_ENV}
    os.environ.update(_QUIET_ENV)
    for module, call in (("transformers.utils.logging", "disable_progress_bar"),
                         ("huggingface_hub.utils", "disable_progress_bars"),
                         ("datasets.utils.logging", "disable_progress_bar")):
        if module in sys.modules:  # imported already: the environment is read only at import
            getattr(sys.modules[module], call)()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
