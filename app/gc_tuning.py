"""Keep the server's garbage-collection pauses short while hundreds of pages are open.

Each open NiceGUI page keeps thousands of long-lived objects. CPython's full collections scan all of them, and
with a few hundred pages open such a collection froze the event loop for 1-4 s (measured by bench/fanout.py):
long enough for every browser's socket to miss its ping. Moving the surviving objects into the permanent
generation (`gc.freeze()`) every few seconds keeps full collections small. The price: a reference cycle that
was alive when frozen and becomes garbage later is only reclaimed after the next thaw, so the heap is thawed
every few minutes; that collection is the one long pause left, and it comes rarely.
"""

import asyncio
import contextlib
import gc
import logging

log = logging.getLogger(__name__)


class GcTuner:
    """Freeze surviving objects every few seconds; thaw them now and then so cyclic garbage is reclaimed."""

    def __init__(self, *, freeze_seconds: float = 5.0, thaw_seconds: float = 600.0) -> None:
        self._freeze_seconds = freeze_seconds
        self._thaw_every = max(1, round(thaw_seconds / freeze_seconds))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start freezing in the background; call once the event loop runs (a second call does nothing)."""
        if self._task is None:
            gc.freeze()
            self._task = asyncio.get_running_loop().create_task(self._run(), name='vigil-gc-tuner')

    async def stop(self) -> None:
        """Stop, and hand every frozen object back to the collector."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        gc.unfreeze()

    async def _run(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self._freeze_seconds)
            rounds += 1
            if rounds % self._thaw_every == 0:
                log.debug('gc: thawing %d objects', gc.get_freeze_count())
                gc.unfreeze()  # the next full collection reclaims cycles that died while frozen
            else:
                gc.freeze()
