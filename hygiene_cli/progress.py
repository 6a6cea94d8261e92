"""tqdm progress bars: the CLI's view of `hygiene.progress.Progress`."""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["TqdmProgress"]


class TqdmProgress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar: tqdm | None = None

    def start(self, stage: str, total: int | None) -> None:
        self.finish()
        self._bar = tqdm(total=total, desc=f"{stage:>6}", unit="doc", file=sys.stderr,
                         disable=not self.enabled, dynamic_ncols=True)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
