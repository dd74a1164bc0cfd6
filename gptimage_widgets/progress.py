"""Progress of many requests (``AsyncImageClient.map`` / ``sweep``): the one home of how it shows.

Owns: the progress bar (``tqdm.auto``: a widget in Jupyter, text on a terminal's stderr) with
done / failed / waiting-for-rate-limit counts and the spend so far, and the callable form
``progress(done, total, item)``. ``progress=False`` (or None for ``map``) shows nothing.
The waiting count comes from the client's :class:`gptimage_widgets.ratelimit.RatePacer`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from .ratelimit import RatePacer

__all__ = ["Progress", "ProgressReport", "progress_report"]

Progress = Callable[[int, int, Any], Any]

#: Seconds between refreshes of the waiting count while nothing finishes.
TICK_S = 0.5
_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} done [{elapsed}<{remaining}{postfix}]"


class ProgressReport:
    """Counts finished items and shows them: a tqdm bar, a callable, or nothing.

    Parameters
    ----------
    progress : bool or callable or None
        True: a ``tqdm.auto`` bar; a callable gets ``(done, total, item)`` per item.
    total : int
        Number of items.
    pacer : RatePacer or None
        Where the number of requests waiting for a rate-limit slot is read.
    """

    def __init__(
        self, progress: bool | Progress | None, total: int, pacer: RatePacer | None = None
    ) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.spend = 0.0
        self._callback = progress if callable(progress) else None
        self._pacer = pacer
        self._bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="req", bar_format=_BAR_FORMAT, leave=True)

    def __call__(self, item: Any) -> None:
        """Count one finished item (an ``ImageResult`` or the error it ended with)."""
        self.done += 1
        self.failed += isinstance(item, BaseException)
        self.spend += getattr(item, "cost_usd", None) or 0.0
        if self._callback is not None:
            self._callback(self.done, self.total, item)
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.update(1)

    def postfix(self) -> str:
        """``"2 failed, 3 waiting for rate limit, $0.0420"`` (parts at zero left out)."""
        parts = [f"{self.failed} failed"] if self.failed else []
        waiting = self._pacer.waiting if self._pacer is not None else 0
        if waiting:
            parts.append(f"{waiting} waiting for rate limit")
        parts.append(f"${self.spend:.4f}")
        return ", ".join(parts)

    def refresh(self) -> None:
        """Re-read the waiting count (called on a timer between finished items)."""
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.close()


@contextlib.asynccontextmanager
async def progress_report(
    progress: bool | Progress | None, total: int, pacer: RatePacer | None = None
) -> AsyncIterator[ProgressReport]:
    """A :class:`ProgressReport` whose waiting count refreshes every :data:`TICK_S` s."""
    report = ProgressReport(progress, total, pacer)

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            report.refresh()

    ticker = asyncio.ensure_future(tick()) if report._bar is not None else None
    try:
        yield report
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        report.close()
