"""Render a report template (Jinja2, autoescaped) into a self-contained HTML file, written atomically.

Templates live in `hygiene/reporting/templates` (package data); a caller with its own templates
(collapse_eval) passes their folder first, and its pages may extend `base.html` from here.
Filters are the number formats of `hygiene.reporting.numbers`, so every page writes a share, a count
or a horizon the same way.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from hygiene.io.atomic import atomic_path

from . import numbers

__all__ = ["render", "write_page", "TEMPLATES"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

_FILTERS = {
    "count": numbers.count,
    "number": numbers.number,
    "share": numbers.share,
    "share_interval": numbers.share_interval,
    "generations": numbers.generations,
    "seconds": numbers.seconds,
    "sentence": lambda text: text[:1].upper() + text[1:],  # unlike `capitalize`, leaves "MiniLM" alone
}


@lru_cache(maxsize=8)
def _environment(extra: tuple[str, ...]):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*extra, str(TEMPLATES)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the render instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_FILTERS)
    env.globals.update(horizon_range=numbers.horizon, measured=numbers.is_measured)
    return env


def render(template: str, /, *, search: tuple[Path, ...] = (), **context: Any) -> str:
    """The HTML of `template` with `context`; charts passed in are SVG strings, marked safe by the template."""
    return _environment(tuple(str(p) for p in search)).get_template(template).render(**context)


def write_page(path: Path, template: str, /, *, search: tuple[Path, ...] = (), **context: Any) -> Path:
    """Render `template` into `path` (atomically: the page appears complete or not at all)."""
    page = render(template, search=search, **context)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
