"""Micro-batching: concurrent /v1/score requests share one model call.

Requests wait in a bounded queue (counted in texts). One asyncio task takes the oldest request, keeps
adding waiting requests until the batch holds `max_batch` texts or `wait_s` has passed, and runs the
scorer once for all of them in a single worker thread (the event loop never blocks on the model). A
request that would overflow the queue is refused at once (`QueueFull`, answered with 429).
With `enabled=False` each request is its own model call: the switch the load benchmark flips.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hygiene.detector import Detector

__all__ = ["Batcher", "QueueFull"]


class QueueFull(RuntimeError):
    """The queue cannot take this request now; `retry_after` is a hint in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the scoring queue is full; retry later")
        self.retry_after = retry_after


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        scorer: Detector,
        *,
        max_batch: int = 32,
        wait_s: float = 0.005,
        queue_size: int = 1024,
        enabled: bool = True,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1 or queue_size < 1 or wait_s < 0:
            raise ValueError("max_batch and queue_size must be >= 1 and wait_s >= 0")
        self.scorer = scorer
        self.max_batch, self.wait_s, self.queue_size, self.enabled = max_batch, wait_s, queue_size, enabled
        self.on_batch = on_batch  # (texts in the batch, seconds in the model) -> None; for metrics
        self._queue: deque[_Request] = deque()
        self._queued_texts = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score")
        self._task: asyncio.Task | None = None
        self._seconds_per_text = 0.05  # running estimate, for Retry-After

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for request in self._queue:
            request.future.cancel()
        self._queue.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The scorer's statistics for `texts`, computed in some batch with other requests' texts."""
        if self._queued_texts + len(texts) > self.queue_size and self._queued_texts > 0:
            backlog = self._queued_texts * self._seconds_per_text
            raise QueueFull(max(1, round(backlog)))
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(list(texts), future))
        self._queued_texts += len(texts)
        self._wakeup.set()
        return await future

    def _take_batch(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        size = len(batch[0].texts)
        while self.enabled and self._queue and size + len(self._queue[0].texts) <= self.max_batch:
            size += len(self._queue[0].texts)
            batch.append(self._queue.popleft())
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.enabled and self.wait_s > 0:  # let concurrent requests join, unless the batch is full
                deadline = self._queue[0].enqueued + self.wait_s
                while sum(len(r.texts) for r in self._queue) < self.max_batch and time.perf_counter() < deadline:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), deadline - time.perf_counter())
                    except TimeoutError:
                        break
            batch = self._take_batch()
            texts = [text for request in batch for text in request.texts]
            self._queued_texts -= len(texts)
            t = time.perf_counter()
            try:
                stats = await loop.run_in_executor(self._executor, self.scorer.statistics, texts)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - t
            self._seconds_per_text = 0.8 * self._seconds_per_text + 0.2 * elapsed / len(texts)
            if self.on_batch is not None:
                self.on_batch(len(texts), elapsed)
            start = 0
            for request in batch:
                part = slice(start, start + len(request.texts))
                start = part.stop
                if not request.future.done():  # the client may have gone away
                    request.future.set_result({key: np.asarray(value)[part] for key, value in stats.items()})
