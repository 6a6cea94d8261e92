"""Report numbers in words: no `inf`, no `nan`, shares in %."""

from __future__ import annotations

import math

import pytest

from hygiene.reporting import numbers as N

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(("value", "text"), [(0.2234, "22.3 %"), (0, "0.0 %"), (1, "100.0 %"), (NAN, "not measured"),
                                             (None, "not measured"), (INF, "not measured")])
def test_share(value, text):
    assert N.share(value) == text


@pytest.mark.parametrize(("value", "text"), [(4.24, "4.2 generations"), (1.0, "1.0 generation"),
                                             (INF, "no collapse predicted"), (NAN, "not measured")])
def test_generations(value, text):
    assert N.generations(value) == text


@pytest.mark.parametrize(("args", "text"), [
    ((4.2, 2.1, 8.0), "4.2 generations (interval 2.1 to 8.0)"),
    ((4.2, 2.1, INF), "4.2 generations (interval 2.1 generations or more)"),
    ((INF, 2.1, INF), "no collapse predicted (interval: from 2.1 generations to none predicted)"),
    ((INF, INF, INF), "no collapse predicted"),
    ((NAN, 1.0, 2.0), "not measured"),
])
def test_horizon_reads_in_words_whichever_end_is_infinite(args, text):
    assert N.horizon(*args) == text
    assert "inf" not in N.horizon(*args).replace("interval", "")


@pytest.mark.parametrize(("value", "text"),
                         [(12345, "12,345"), (0, "0"), (True, "not measured"), (NAN, "not measured")])
def test_count(value, text):
    assert N.count(value) == text


def test_number_and_seconds():
    assert N.number(-2.0) == "-2" and N.number(0.12345) == "0.123" and N.number(123456.7) == "123,457"
    assert N.number(NAN) == "not measured" and N.number(INF) == "unbounded"
    assert N.seconds(0.4213) == "0.42 s" and N.seconds(75) == "1 min 15 s" and N.seconds(NAN) == "not measured"
    assert N.share_interval(0.18, 0.275) == "18.0 to 27.5 %"
