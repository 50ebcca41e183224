"""Queries that several use cases share or that carry database-specific care."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
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


# NOTE: built once per dialect (Core on the table): every batch runs them, the ORM's bulk path only adds bookkeeping.
INSERT_READINGS = insert(VITAL_READINGS)
UPSERT_LATEST = {'sqlite': _upsert_latest(sqlite.insert), 'postgresql': _upsert_latest(postgresql.insert)}


async def upsert_latest_vitals(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Make these readings (at most one per patient and kind) the latest unless a newer one is stored."""
    if rows:
        await connection.execute(UPSERT_LATEST[connection.dialect.name], list(rows))



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
