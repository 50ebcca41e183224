"""Queries that several use cases share or that carry database-specific care."""

import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload

from .enums import AlertStatus
from .models import Alert, LatestVital, Patient, VitalReading


def alerts_with_context() -> Select[Alert]:
    """Select alerts with their ward and patient loaded (views need both; async sessions cannot lazy-load)."""
    return select(Alert).options(joinedload(Alert.ward), joinedload(Alert.patient))


def patients_with_ward() -> Select[Patient]:
    """Select patients with their ward loaded."""
    return select(Patient).options(joinedload(Patient.ward))


VitalRow = Row[int, str, float, str, datetime]


async def latest_vital_rows(session: AsyncSession, patient_ids: Sequence[int]) -> Sequence[VitalRow]:
    """Return (patient_id, kind, value, unit, measured_at) of the newest reading of each kind per patient."""
    if not patient_ids:
        return []
    result = await session.execute(
        select(LatestVital.patient_id, LatestVital.kind, LatestVital.value, LatestVital.unit, LatestVital.measured_at)
        .where(LatestVital.patient_id.in_(patient_ids)))
    return result.all()


VITAL_READINGS = cast(Table, VitalReading.__table__)
LATEST = cast(Table, LatestVital.__table__)


def _upsert_latest(insert_into: Any) -> Any:
    statement = insert_into(LATEST)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[LATEST.c.patient_id, LATEST.c.kind],
        set_={'value': excluded.value, 'unit': excluded.unit, 'measured_at': excluded.measured_at},
        where=excluded.measured_at >= LATEST.c.measured_at)


class BulkInsert:
    """A Core INSERT compiled once per dialect and run as one executemany of plain tuples (columns in given order).

    SQLAlchemy's own executemany builds a dict of parameters for every row and runs each column's bind processor on
    every value: for a batch of readings that was most of the statement's CPU. Here each column's processor (the one
    SQLAlchemy would run) runs once per distinct value of a statement, and the tuples go to the driver as they are:
    a batch's readings share their recorded time and mostly their measured times.
    """

    def __init__(self, statements: Mapping[str, Any], columns: Sequence[str]) -> None:
        self._columns = tuple(columns)
        self._statements = statements  # by dialect name
        # By the engine's own dialect (its bind processors follow the engine's settings, such as its JSON
        # serialiser): the SQL and each column's bind processor (None: the value goes as it is).
        self._compiled: weakref.WeakKeyDictionary[Dialect, tuple[str, tuple[Any, ...]] | None] = (
            weakref.WeakKeyDictionary())

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[Any, ...]] | None:
        statement = self._statements[dialect.name]
        compiled = statement.compile(dialect=dialect, column_keys=list(self._columns), for_executemany=True)
        if list(compiled.positiontup or ()) != list(self._columns):
            return None  # not a positional paramstyle: the ordinary path
        table = statement.table
        return compiled.string, tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                                      for name in self._columns)

    async def execute(self, connection: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert the rows (tuples in the columns' order) in one executemany."""
        if not rows:
            return
        dialect = connection.dialect
        if dialect not in self._compiled:
            self._compiled[dialect] = self._compile(dialect)
        compiled = self._compiled[dialect]
        if compiled is None:  # another driver: SQLAlchemy's ordinary executemany
            await connection.execute(self._statements[dialect.name],
                                     [dict(zip(self._columns, row, strict=True)) for row in rows])
            return
        sql, processors = compiled
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for index, process in enumerate(processors):
            if process is not None:
                # Equal values process alike (an instant in another zone gives the same UTC).
                done = {value: process(value) for value in set(columns[index])}
                columns[index] = [done[value] for value in columns[index]]
        await connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


# NOTE: built once per dialect (Core on the table): every batch runs them, the ORM's bulk path only adds bookkeeping.
READING_COLUMNS = ('hospital_id', 'patient_id', 'kind', 'value', 'unit', 'measured_at', 'recorded_at', 'source',
                   'observation_id')
INSERT_READINGS = BulkInsert({'sqlite': insert(VITAL_READINGS), 'postgresql': insert(VITAL_READINGS)},
                             READING_COLUMNS)
LATEST_COLUMNS = ('patient_id', 'kind', 'value', 'unit', 'measured_at')
UPSERT_LATEST = BulkInsert({'sqlite': _upsert_latest(sqlite.insert), 'postgresql': _upsert_latest(postgresql.insert)},
                           LATEST_COLUMNS)


async def upsert_latest_vitals(connection: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Make these readings (LATEST_COLUMNS tuples, at most one per patient and kind) the latest unless newer ones are
    stored."""
    await UPSERT_LATEST.execute(connection, rows)



async def due_alert_ids(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    """Return the ids of active alerts whose escalation time has come, the most overdue first."""
    result = await session.scalars(
        select(Alert.id).where(Alert.status == AlertStatus.ACTIVE, Alert.next_escalation_at <= now)
        .order_by(Alert.next_escalation_at).limit(limit))
    return result.all()


async def claim_due_alert(session: AsyncSession, alert_id: int, now: datetime) -> Alert | None:
    """Lock an alert that is still due for escalation, or return None if it is not (or another process holds it).

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets concurrent escalators pass each other's claims; SQLite has one
    writer at a time (BEGIN IMMEDIATE), so the re-check of the condition alone is enough there.
    """
    return await session.scalar(
        alerts_with_context()
        .where(Alert.id == alert_id, Alert.status == AlertStatus.ACTIVE, Alert.next_escalation_at <= now)
        .with_for_update(skip_locked=True, of=Alert))
