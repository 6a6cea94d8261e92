"""The failed-sign-in allowance: per client, over a sliding window, with bounded memory."""

from __future__ import annotations

from service.throttle import FailedAuth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_over_the_limit_waits_until_its_oldest_failure_leaves_the_window():
    clock = Clock()
    auth = FailedAuth(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        assert auth.retry_after("a") is None
        auth.failed("a")
        clock.now += 10
    assert auth.retry_after("a") == 30  # failures at 1000, 1010, 1020; now 1030
    assert auth.retry_after("b") is None  # another client is not affected
    clock.now = 1060.5
    assert auth.retry_after("a") is None  # the first failure left the window
    auth.failed("a")
    assert auth.retry_after("a") == 10  # 1010, 1020, 1060.5: the oldest leaves at 1070


def test_memory_is_bounded_by_forgetting_the_least_recent_client():
    clock = Clock()
    auth = FailedAuth(limit=1, window_s=60, max_clients=2, clock=clock)
    for client in ("a", "b", "c"):
        auth.failed(client)
    assert auth.retry_after("a") is None  # forgotten
    assert auth.retry_after("b") and auth.retry_after("c")
