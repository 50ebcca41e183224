"""The garbage-collection tuner: frozen objects that die are reclaimed at the regular thaw, or at once when many
pages have gone."""

import asyncio
import gc
import weakref

from app.gc_tuning import GcTuner


class Node:
    """A reference cycle: only the cyclic collector reclaims it."""

    def __init__(self) -> None:
        self.me = self


async def frozen_cycle_after_pages_released(tuner: GcTuner, pages: int) -> bool:
    """Freeze a cycle, let it die, release pages; tell whether the cycle is still there after a few rounds."""
    gc.collect()
    node = Node()
    alive = weakref.ref(node)
    tuner.start()  # freezes what lives now, the cycle included
    try:
        del node
        for _ in range(pages):
            tuner.page_released()
        await asyncio.sleep(0.3)  # thirty rounds of 10 ms
        gc.collect(1)  # young collections never see frozen objects
        return alive() is not None
    finally:
        await tuner.stop()


async def test_many_released_pages_thaw_and_collect_at_once() -> None:
    tuner = GcTuner(freeze_seconds=0.01, thaw_seconds=600, released_pages=3, early_thaw_seconds=0.05)
    assert not await frozen_cycle_after_pages_released(tuner, pages=3)


async def test_a_few_released_pages_wait_for_the_regular_thaw() -> None:
    tuner = GcTuner(freeze_seconds=0.01, thaw_seconds=600, released_pages=3, early_thaw_seconds=0.05)
    assert await frozen_cycle_after_pages_released(tuner, pages=2)


async def test_the_regular_thaw_reclaims_what_died_while_frozen() -> None:
    # A quiet moment: no full collection of its own between the thaw and the next freeze (the collector's own
    # thresholds may not be reached for minutes). What died while frozen must not be frozen again, uncollected.
    tuner = GcTuner(freeze_seconds=0.01, thaw_seconds=0.05, released_pages=1000, early_thaw_seconds=600)
    gc.disable()
    try:
        assert not await frozen_cycle_after_pages_released(tuner, pages=0)
    finally:
        gc.enable()


async def test_a_heap_grown_by_a_quarter_is_collected_before_the_regular_thaw() -> None:
    tuner = GcTuner(freeze_seconds=0.01, thaw_seconds=600, released_pages=1000, early_thaw_seconds=0.05,
                    grown_by=0.25)
    gc.disable()  # no full collection of CPython's own: only the tuner's
    try:
        gc.collect()
        node = Node()
        alive = weakref.ref(node)
        tuner.start()
        del node  # garbage, frozen
        grown = [[index] for index in range(gc.get_freeze_count() // 2)]  # half the heap again, alive, frozen
        await asyncio.sleep(0.3)
        gc.collect(1)
        assert alive() is None
        assert len(grown) > 0
    finally:
        await tuner.stop()
        gc.enable()
