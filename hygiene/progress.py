"""Progress reporting as an interface: the core calls it, the CLI draws bars, the service counts rows."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "NullProgress"]


class Progress(Protocol):
    def start(self, stage: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing; the default for library calls."""

    def start(self, stage: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass
