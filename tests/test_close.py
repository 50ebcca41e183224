"""Closing a process's database waits for the work in flight to hand its connection back, on each backend."""

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.util import greenlet_spawn

import app.bootstrap
from app.bootstrap import build
from app.config import Settings

from .conftest import FakeClock


async def test_closing_lets_a_query_in_flight_finish_and_closes_its_connection(
        db_url: str, clock: FakeClock, tmp_path: Path) -> None:
    vigil = build(Settings(database_url=db_url, data_dir=tmp_path), clock=clock)
    started, release = asyncio.Event(), asyncio.Event()

    async def page_query() -> int:
        async with vigil.db.read() as session:
            await session.execute(text('SELECT 1'))
            started.set()
            await release.wait()  # the rest of its work (a page's second query) comes while the close has begun
            return int((await session.execute(text('SELECT 2'))).scalar_one())

    query = asyncio.create_task(page_query())
    await started.wait()
    asyncio.get_running_loop().call_later(0.2, release.set)

    await vigil.close()

    assert query.done() and query.result() == 2
    assert vigil.engine.sync_engine.pool.checkedout() == 0


async def test_closing_gives_up_on_a_connection_held_past_the_grace_and_says_so(
        db_url: str, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(app.bootstrap, 'CLOSE_GRACE_SECONDS', 0.2)
    vigil = build(Settings(database_url=db_url, data_dir=tmp_path), clock=clock)
    started, release = asyncio.Event(), asyncio.Event()

    async def stuck() -> None:
        async with vigil.db.read() as session:
            await session.execute(text('SELECT 1'))
            started.set()
            await release.wait()

    holder = asyncio.create_task(stuck())
    await started.wait()
    pool = vigil.engine.sync_engine.pool
    with caplog.at_level(logging.WARNING, logger='app.bootstrap'):
        await vigil.close()
    assert 'closed the database with 1 connection(s) still in use after 0 s' in caplog.text
    assert not holder.done()
    release.set()
    await holder
    # Handed back after the close, the connection went to the closed pool: close it, as a process's exit would.
    await greenlet_spawn(pool.dispose)
