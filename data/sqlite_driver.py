"""SQLAlchemy's aiosqlite adapter with one thread hop per statement instead of three or four.

aiosqlite runs every call on its connection's own thread: SQLAlchemy's adapter makes one call to open a cursor, one
to execute, one to fetch the rows and one to close the cursor, and each call is a round trip between the event
loop and that thread (a queue, a wake-up of the thread, a wake-up of the loop). Measured on this code's write path,
a SELECT cost 138 us of CPU and an INSERT 105 us, most of it in those round trips; an ingest transaction runs about
ten statements. Here a statement is executed, its rows fetched and its cursor closed in one function on the
connection's thread. Everything else (connections, commit, rollback, server-side cursors, errors) is SQLAlchemy's.

Hand-written because neither library offers it: aiosqlite has no public call for "run this on the connection's
thread", so this uses `Connection._execute` and `_conn`, as SQLAlchemy's own adapter does for isolation levels.
NOTE: pinned by the versions in the lock file; tests/test_sqlite_writers.py exercises it through every write path.
"""

import collections
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_only

# What one statement leaves behind: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


def _statement(many: bool) -> Callable[[sqlite3.Connection, str, Any], _Outcome]:
    """Return what runs one statement on the connection's thread: execute (or executemany), fetch, close."""

    def run(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
        cursor = connection.cursor()
        try:
            if many:
                cursor.executemany(operation, parameters)
            else:
                cursor.execute(operation, parameters)
            description = cursor.description
            rows = cursor.fetchall() if description else []
            return description, rows, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    return run


_execute = _statement(many=False)
_executemany = _statement(many=True)


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose execute is one round trip to the connection's thread (rows fetched there)."""

    __slots__ = ('_description', '_lastrowid', '_rowcount')

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is opened here: each execute opens and closes its own on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows: collections.deque[Any] = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def arraysize(self) -> int:
        return 1  # sqlite3's default: fetchmany() without a size fetches one row

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        return None  # nothing is open: the rows are here already

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            self._keep(await_only(self._run(_execute, operation, () if parameters is None else parameters)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            self._keep(await_only(self._run(_executemany, operation, seq_of_parameters)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, function: Any, operation: Any, parameters: Any) -> _Outcome:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                function, connection._conn, operation, parameters)
            return outcome

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module for create_engine(module=...): aiosqlite connections with one-hop cursors."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def one_hop_dbapi() -> OneHopDbapi:
    """Return the DB-API module to pass to create_async_engine(module=...) for a sqlite+aiosqlite URL."""
    return OneHopDbapi(aiosqlite, sqlite3)
