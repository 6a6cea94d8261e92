"""Numbers as people read them in reports: shares in %, counts with separators, horizons in words.

One place decides how a value that is not a plain finite number reads: NaN or a missing value is
"not measured", an infinite collapse horizon is "no collapse predicted". Nothing here prints `inf`
or `nan`.
"""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["NOT_MEASURED", "NO_COLLAPSE", "count", "number", "share", "share_interval", "generations", "horizon",
           "seconds", "is_measured"]

NOT_MEASURED = "not measured"
NO_COLLAPSE = "no collapse predicted"


def is_measured(value: object) -> bool:
    """A real number that is not NaN (infinity counts as measured: it is a result, e.g. a horizon)."""
    return isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(float(value))


def count(value: object) -> str:
    """An integer count with thousands separators: 12,345."""
    if not is_measured(value) or math.isinf(float(value)):
        return NOT_MEASURED
    return f"{int(value):,}"


def number(value: object, digits: int = 3) -> str:
    """A measured value with `digits` significant digits; large values without exponent noise."""
    if not is_measured(value):
        return NOT_MEASURED
    v = float(value)
    if math.isinf(v):
        return "unbounded" if v > 0 else "unbounded below"
    if v != 0 and (abs(v) >= 10 ** digits or abs(v) < 10 ** -(digits + 1)):
        return f"{v:,.0f}" if abs(v) >= 1 else f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def share(value: object, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage: 0.2234 -> "22.3 %"."""
    if not is_measured(value) or math.isinf(float(value)):
        return NOT_MEASURED
    return f"{100 * float(value):.{digits}f} %"


def share_interval(low: object, high: object, digits: int = 1) -> str:
    """An interval of shares: "18.0 to 27.5 %"."""
    if not (is_measured(low) and is_measured(high)):
        return NOT_MEASURED
    return f"{100 * float(low):.{digits}f} to {share(high, digits)}"


def generations(value: object) -> str:
    """A predicted collapse horizon: "4.2 generations", or "no collapse predicted" when infinite."""
    if not is_measured(value):
        return NOT_MEASURED
    v = float(value)
    if math.isinf(v):
        return NO_COLLAPSE
    return f"{v:.1f} generation" + ("" if v == 1 else "s")


def horizon(estimate: object, low: object, high: object) -> str:
    """A horizon with its interval, in words whichever end is infinite.

    finite, finite:   "4.2 generations (interval 2.1 to 8.0)"
    finite, inf:      "4.2 generations (interval 2.1 generations or more)"
    inf, finite low:  "no collapse predicted (interval: from 2.1 generations to none predicted)"
    inf, inf:         "no collapse predicted"
    """
    if not is_measured(estimate):
        return NOT_MEASURED
    head = generations(estimate)
    if not (is_measured(low) and is_measured(high)):
        return head
    lo, hi = float(low), float(high)
    if math.isinf(lo):
        return head
    if math.isinf(hi):
        if math.isinf(float(estimate)):
            return f"{head} (interval: from {generations(lo)} to none predicted)"
        return f"{head} (interval {generations(lo)} or more)"
    return f"{head} (interval {lo:.1f} to {hi:.1f})"


def seconds(value: object) -> str:
    """A duration: "0.42 s", "12.3 s", "4 min 05 s"."""
    if not is_measured(value) or math.isinf(float(value)):
        return NOT_MEASURED
    v = float(value)
    if v < 10:
        return f"{v:.2f} s"
    if v < 60:
        return f"{v:.1f} s"
    minutes, s = divmod(int(round(v)), 60)
    return f"{minutes} min {s:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
