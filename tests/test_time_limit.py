"""The async attempt deadline's timer fallback for Python 3.10 (no ``asyncio.timeout``)."""

from __future__ import annotations

import asyncio

import pytest

from gptimage_widgets.transport import _cancel_after


async def test_a_block_that_finishes_in_time_is_left_alone() -> None:
    async with _cancel_after(0.5):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.6)  # the timer is gone: no cancellation arrives later


async def test_a_block_past_its_time_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with _cancel_after(0.05):
            await asyncio.sleep(5)
    await asyncio.sleep(0.01)  # the task is usable afterwards


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def guarded() -> None:
        async with _cancel_after(5):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
