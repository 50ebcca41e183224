"""Keep the server's garbage-collection pauses short while hundreds of pages are open.

Each open NiceGUI page keeps thousands of long-lived objects. CPython's full collections scan all of them, and
with a few hundred pages open such a collection froze the event loop for 1-4 s (measured by bench/fanout.py):
long enough for every browser's socket to miss its ping. Moving the surviving objects into the permanent
generation (`gc.freeze()`) every few seconds keeps full collections small. The price: a reference cycle that
was alive when frozen and becomes garbage later is only reclaimed after the next thaw, so the heap is thawed and
collected now and then; those collections are the long pauses left (0.5-1.3 s at 60 open screens), at most one a
minute.

The thaw collects at once: a thaw that left the collection to CPython's own thresholds was frozen again five
seconds later, and what died while frozen was reclaimed only if a full collection happened to run in those seconds
(the soak's server ran none to one a minute). And the heap is also collected when it has grown by a quarter since
the last collection (CPython's own rule, which the freezing defeats), at most once a minute: open pages then deleted
elements all the time (every alert's toast and, once resolved, its row, on every page that showed them; both are
now drawn in the browser from shared rooms) and every query leaves statement garbage; ten minutes of that, held
frozen, cost hundreds of thousands of objects and tens of MB at 60 open pages (bench/soak_memory.py).

Pages that close while frozen are such garbage: a flood of sign-in page views (each page lives about a minute on the
server) grew the heap by some 100 KB per view until the next thaw, 128 to 504 MB over 6,000 views. So the heap is
also thawed, and collected once, as soon as many pages have gone since the last thaw, at most once a minute.
"""

import asyncio
import contextlib
import gc
import logging

log = logging.getLogger(__name__)


class GcTuner:
    """Freeze surviving objects every few seconds; thaw them now and then so cyclic garbage is reclaimed."""

    def __init__(self, *, freeze_seconds: float = 5.0, thaw_seconds: float = 600.0, released_pages: int = 200,
                 early_thaw_seconds: float = 60.0, grown_by: float = 0.25) -> None:
        self._freeze_seconds = freeze_seconds
        self._thaw_every = max(1, round(thaw_seconds / freeze_seconds))
        self._released_pages = released_pages
        self._early_after = max(1, round(early_thaw_seconds / freeze_seconds))
        self._grown_by = grown_by
        self._released = 0
        self._frozen_after_collection = 0
        self._task: asyncio.Task[None] | None = None

    def page_released(self) -> None:
        """Count a page the server let go of (its objects become garbage, reclaimed only after a thaw)."""
        self._released += 1

    def start(self) -> None:
        """Start freezing in the background; call once the event loop runs (a second call does nothing)."""
        if self._task is None:
            gc.freeze()
            self._frozen_after_collection = gc.get_freeze_count()
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
        since_thaw = 0
        while True:
            await asyncio.sleep(self._freeze_seconds)
            since_thaw += 1
            if self._released >= self._released_pages and since_thaw >= self._early_after:
                log.info('gc: %d pages released, thawing %d objects and collecting', self._released,
                         gc.get_freeze_count(), extra={'event': 'gc.early_thaw', 'pages': self._released})
                self._released = since_thaw = 0
                self._thaw_and_collect()  # one pause now rather than the released pages' memory held for minutes
            elif since_thaw >= self._early_after and self._grown():
                log.info('gc: %d objects frozen, %d after the last collection: thawing and collecting',
                         gc.get_freeze_count(), self._frozen_after_collection, extra={'event': 'gc.grown_thaw'})
                self._released = since_thaw = 0
                self._thaw_and_collect()
            elif since_thaw >= self._thaw_every:
                log.debug('gc: thawing %d objects and collecting', gc.get_freeze_count())
                self._released = since_thaw = 0
                self._thaw_and_collect()
            else:
                gc.freeze()

    def _grown(self) -> bool:
        """Tell whether the frozen heap grew by `grown_by` since the last collection (CPython's own rule is 1/4)."""
        frozen = gc.get_freeze_count()
        return frozen > self._frozen_after_collection * (1 + self._grown_by)

    def _thaw_and_collect(self) -> None:
        """Reclaim the cycles that died while frozen, then freeze the survivors again."""
        # NOTE: not left to the collector's own thresholds: the next round would freeze the garbage again first.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_after_collection = gc.get_freeze_count()
