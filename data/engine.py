"""Engine and session factories; SQLite gets WAL, a busy timeout, foreign keys and write locks up front."""

import asyncio
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from .sqlite_driver import one_hop_dbapi
from .types import json_serializer

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = 'vigil_read_only'


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == 'sqlite'


async def dispose_when_idle(engine: AsyncEngine, grace_seconds: float) -> int:
    """Close the engine's connections once every one in use is back, or after grace_seconds; return how many were not.

    dispose() closes only the connections in the pool: one still checked out by work in flight (a page's query, an
    acknowledgement being committed) would be cut off when its task is cancelled, its transaction never finished.
    """
    pool = engine.sync_engine.pool
    checked_out = getattr(pool, 'checkedout', lambda: 0)
    deadline = time.monotonic() + grace_seconds
    # NOTE: polled: the pool's checkin event fires before its count goes down, so there is nothing to wait on.
    while checked_out() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    left = checked_out()
    await engine.dispose()
    return int(left)


def one_writer_at_a_time(engine: AsyncEngine) -> bool:
    """Tell whether the database lets one transaction write at a time (SQLite): a process queues its own writers."""
    return engine.dialect.name == 'sqlite'


def create_engine(url: str, *, sqlite_synchronous: str = 'FULL', **kwargs: Any) -> AsyncEngine:
    """Create the async engine for a database URL, configured for Vigil's workload.

    `sqlite_synchronous` is SQLite's `synchronous` pragma in WAL mode: FULL syncs the log at every commit, so a
    committed (and acknowledged) write survives a power loss; NORMAL syncs only at checkpoints and may lose the last
    commits on power loss (never on a crash of the process alone).
    """
    # Event payloads come serialised once by pydantic (data.types.JsonText), not dumped to dicts and then to JSON.
    kwargs.setdefault('json_serializer', json_serializer)
    if not is_sqlite(url):
        kwargs.setdefault('pool_pre_ping', True)
        return create_async_engine(url, **kwargs)
    if make_url(url).get_driver_name() == 'aiosqlite':
        kwargs.setdefault('module', one_hop_dbapi())  # one thread hop per statement (data/sqlite_driver.py)
    engine = create_async_engine(url, connect_args={'timeout': SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
    _configure_sqlite(engine, SQLITE_SYNCHRONOUS[sqlite_synchronous.upper()])
    return engine


# The only values accepted (interpolated into a pragma, so never free text).
SQLITE_SYNCHRONOUS = {'FULL': 'FULL', 'NORMAL': 'NORMAL'}


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, 'connect')
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (so BEGIN IMMEDIATE below works).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f'PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}')
        _enter_wal(cursor)
        cursor.execute('PRAGMA foreign_keys=ON')
        cursor.execute(f'PRAGMA synchronous={synchronous}')
        cursor.close()

    @event.listens_for(sync_engine, 'begin')
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is locked" when
        # another writer got in between; taking the write lock at BEGIN makes writers queue on the busy
        # timeout instead. Read-only sessions begin deferred so WAL readers never wait.
        # NOTE: writers of one process take turns before this (app/uow.py WriterQueue): the busy timeout is only
        # for other processes on the same file.
        options: Mapping[str, Any] = connection.get_execution_options()
        connection.exec_driver_sql('BEGIN' if options.get(READ_ONLY) else 'BEGIN IMMEDIATE')


def _enter_wal(cursor: Any) -> None:
    """Switch the database to WAL (a no-op when it already is), retrying while another connection switches it.

    Connections opening a new database at once (processes starting together) each need the exclusive lock to change
    the journal mode; SQLite answers the losers "database is locked" at once, without waiting on the busy timeout, to
    avoid a deadlock. They retry here, without blocking the event loop, until the busy timeout has passed.
    """
    cursor.execute('PRAGMA journal_mode')
    if str(cursor.fetchone()[0]).lower() == 'wal':
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute('PRAGMA journal_mode=WAL')
            return
        except sqlite3.OperationalError as error:
            busy = 'locked' in str(error) or 'busy' in str(error)
            if not busy or time.monotonic() + pause > deadline:
                raise
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, 0.2)


def session_factories(engine: AsyncEngine) -> tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]:
    """Return (writer, reader) session factories; the reader never takes SQLite's write lock."""
    writer = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    reader = async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False, autoflush=False)
    return writer, reader
