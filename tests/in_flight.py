"""Counting concurrent requests: an async ``httpx.MockTransport`` handler that keeps the peak."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx


class InFlight:
    """An async MockTransport handler: ``hold()`` per request, then ``answer()``.

    ``now`` is the number of requests being held at the moment and ``peak`` the most there
    ever were at once.
    """

    def __init__(
        self, answer: Callable[[], httpx.Response], hold: Callable[[], Awaitable[None]]
    ) -> None:
        self.answer, self.hold = answer, hold
        self.now = self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.hold()
        finally:
            self.now -= 1
        return self.answer()
