"""The embedded SQLite's driver: a statement is one round trip to the connection's thread, and answers as before
(rows, counts, new ids, errors)."""

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from data.engine import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f'sqlite+aiosqlite:///{tmp_path / "driver.db"}')
    async with engine.begin() as connection:
        await connection.execute(text('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL UNIQUE)'))
    yield engine
    await engine.dispose()


async def test_rows_counts_and_new_ids_come_back_as_sqlite_gives_them(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text('INSERT INTO t (v) VALUES (:v)'), {'v': 10})
        assert inserted.lastrowid == 1
        many = await connection.execute(text('INSERT INTO t (v) VALUES (:v)'), [{'v': v} for v in (20, 30, 40)])
        assert many.rowcount == 3
        changed = await connection.execute(text('UPDATE t SET v = v + 1 WHERE v >= 30 RETURNING id'))
        assert sorted(changed.scalars()) == [3, 4]
        assert (await connection.execute(text('DELETE FROM t WHERE v = 99'))).rowcount == 0
        result = await connection.execute(text('SELECT id, v FROM t ORDER BY id'))
        assert result.keys() == ['id', 'v']
        assert result.fetchmany(2) == [(1, 10), (2, 20)]
        assert result.fetchall() == [(3, 31), (4, 41)]


async def test_errors_are_the_usual_ones_and_leave_the_connection_usable(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text('INSERT INTO t (v) VALUES (1)'))
        with pytest.raises(IntegrityError):
            await connection.execute(text('INSERT INTO t (v) VALUES (1)'))
        with pytest.raises(OperationalError):
            await connection.execute(text('SELECT nothing FROM nowhere'))
        assert (await connection.execute(text('SELECT count(*) FROM t'))).scalar_one() == 1
        await connection.rollback()
    async with engine.connect() as connection:
        assert (await connection.execute(text('SELECT count(*) FROM t'))).scalar_one() == 0


async def test_a_statement_is_one_round_trip_to_the_connection_thread(engine: AsyncEngine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        calls.append(getattr(fn, '__name__', repr(fn)))
        return await execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async with engine.connect() as connection:
        await connection.execute(text('SELECT 1'))  # BEGIN (the write lock) and the statement
        monkeypatch.setattr(aiosqlite.Connection, '_execute', counted)
        assert (await connection.execute(text('SELECT v FROM t'))).all() == []
        await connection.execute(text('INSERT INTO t (v) VALUES (:v)'), [{'v': 1}, {'v': 2}])
        assert len(calls) == 2, calls
