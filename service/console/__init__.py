"""The web console's templates, static files and the filters its pages use (routes: service/routers/console.py).

Server-rendered Jinja2 pages with no JavaScript: live progress is a `<meta http-equiv="refresh">` on
pages that show a queued or running job; every asset is served from this package (no CDN).
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from hygiene.io.shards import SHARD_SUFFIXES
from hygiene.reporting import numbers  # the reports' number formats: a share or a horizon reads the same here

from ..security import PathError, resolve_under_roots

__all__ = ["templates", "STATIC_DIR", "shards_under", "input_label"]

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"


def _when(iso: str | None) -> str:
    if not iso:
        return "–"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {s} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _share(value: float | None) -> str:
    return "–" if value is None else numbers.share(value)


def _horizon(generations: float | None) -> str:
    """A risk job's predicted horizon: null in its JSON means infinite, i.e. no collapse predicted."""
    return numbers.generations(math.inf if generations is None else generations)


def _percent(part: int | None, whole: int | None) -> int:
    return int(100 * part / whole) if part is not None and whole else 0


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(when=_when, size=_size, duration=_duration, number=_number, share=_share,
                             horizon=_horizon,
                             pretty=lambda v: json.dumps(v, indent=2, sort_keys=True))
templates.env.globals.update(percent=_percent)


def shards_under(roots: tuple[Path, ...], limit: int) -> list[tuple[str, str]]:
    """Up to `limit` shard files under the data roots, (label, the path relative to its root: what a client
    names it by in a job's inputs), hidden directories skipped. A file is listed only when that name reads
    it: a link that leads out of the roots is left out (a job would refuse it), and so is a file another
    root's file of the same relative path hides."""
    found: list[tuple[str, str]] = []
    scanned = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            scanned += 1
            for name in sorted(filenames):
                if name.lower().endswith(SHARD_SUFFIXES) and not name.startswith("."):
                    path = Path(dirpath, name)
                    rel = path.relative_to(root).as_posix()
                    try:
                        if resolve_under_roots(rel, roots) != path.resolve():
                            continue
                    except (PathError, OSError):
                        continue
                    found.append((f"{root.name}/{rel}" if len(roots) > 1 else rel, rel))
                    if len(found) >= limit:
                        return found
            if scanned >= 5000:  # a huge tree: list what was seen; other paths can be typed
                return found
    return found


def input_label(path: str, roots: tuple[Path, ...], uploads: Path) -> str:
    """A job input as a person names it: the upload's file name, or the path under its data root."""
    p = Path(path)
    if p.is_relative_to(uploads.resolve()):
        rel = p.relative_to(uploads.resolve())
        return f"upload {rel.parts[0][:8]}/{'/'.join(rel.parts[1:])}" if len(rel.parts) > 1 else f"upload {rel}"
    for root in roots:
        if p.is_relative_to(root.resolve()):
            rel = p.relative_to(root.resolve()).as_posix()
            return f"{root.name}/{rel}" if len(roots) > 1 else rel
    return p.name  # not under a root (inputs always are): never the server's path
