"""The hospital's audit trail: every recorded alert step with its alert, ward and patient; searchable and paged.

Who reads what (one rule for the audit page, the patient page and the CSV export):
- administrators and physicians read the whole trail of their hospital (both may open every patient's record);
- charge nurses read their wards plus every alert that was escalated anywhere (the alerts they are called to);
- nurses read their wards.
That is the alert lists' own scope widened by the patient records the user may open (AccessScope.reads_trail in
domain.scope), so the trail never shows an alert its reader could not have seen on a screen or in a record. Device,
kiosk and integration tokens have no access to the trail.
"""

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import AlertEventType, AlertKind, AlertStatus, Priority
from app.domain.scope import AccessScope
from app.errors import InvalidInput, NotAllowed
from app.schemas import Actor, AlertView, AuditEntryView, View
from app.uow import Database
from data.models import Alert, AlertEvent, Patient, Ward
from data.queries import alerts_with_context

from .alerts import alert_view
from .common import patient_in, require_hospital
from .scope_sql import trails_in

MAX_EXPORT_ROWS = 50_000
MAX_SEARCH_WORDS = 8
AnySelect = Select[*tuple[Any, ...]]


class AuditQuery(BaseModel):
    """What to look for in the trail: words, event types and a time range [since, until)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    text: str = Field(default='', max_length=200)
    types: tuple[AlertEventType, ...] = ()
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)


class AuditRow(View):
    """One step of an alert's life with the context a reader needs to understand it."""

    id: int
    at: datetime
    type: AlertEventType
    actor: str
    from_status: AlertStatus | None
    to_status: AlertStatus
    escalation_level: int
    note: str | None
    alert_id: int
    alert_kind: AlertKind
    priority: Priority
    message: str
    ward_id: int
    ward_name: str
    patient_id: int | None
    patient_name: str | None
    patient_mrn: str | None
    bed: str | None


class AuditPage(View):
    rows: tuple[AuditRow, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


class AlertHistory(View):
    """An alert of one patient and every recorded step of it, oldest first."""

    alert: AlertView
    trail: tuple[AuditEntryView, ...]


def reading_scope(actor: Actor) -> ColumnElement[bool]:
    """Return the SQL condition on Alert for the alerts whose trail the actor may read (see the module doc)."""
    scope = AccessScope.of(actor)
    if not scope.staff:
        raise NotAllowed('The audit trail is for signed-in staff only.')
    return trails_in(scope)


def _like(word: str) -> str:
    escaped = word.replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')
    return f'%{escaped}%'


class AuditService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def search(self, actor: Actor, query: AuditQuery) -> AuditPage:
        """Return one page of the trail entries matching the query, newest first."""
        statement = self._filtered(actor, query)
        async with self._db.read() as session:
            total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            pages = max(1, math.ceil(total / query.page_size))
            page = min(query.page, pages)
            rows = await self._rows(session, statement.offset((page - 1) * query.page_size).limit(query.page_size))
        return AuditPage(rows=tuple(rows), total=total, page=page, page_size=query.page_size)

    async def export(self, actor: Actor, query: AuditQuery, limit: int = MAX_EXPORT_ROWS) -> list[AuditRow]:
        """Return every entry matching the query (all pages), newest first, or refuse when there are too many."""
        statement = self._filtered(actor, query)
        async with self._db.read() as session:
            total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            if total > limit:
                raise InvalidInput(f'{total:,} entries match; an export holds at most {limit:,}. '
                                   'Narrow the search or the date range.')
            return await self._rows(session, statement)

    async def patient_history(self, actor: Actor, patient_id: int, *, alert_id: int | None = None,
                              limit: int = 50) -> list[AlertHistory]:
        """Return a patient's alerts (newest first, optionally just one) with their trails, if the actor may."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            patient = await patient_in(session, hospital_id, patient_id)
            AccessScope.of(actor).check_patient(hospital_id, patient.ward_id, patient_id)
            statement = (alerts_with_context().where(Alert.hospital_id == hospital_id, Alert.patient_id == patient_id)
                         .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit))
            if alert_id is not None:
                statement = statement.where(Alert.id == alert_id)
            alerts = list((await session.scalars(statement)).unique())
            trails: dict[int, list[AuditEntryView]] = {a.id: [] for a in alerts}
            if alerts:
                for entry in await session.scalars(select(AlertEvent).where(AlertEvent.alert_id.in_(trails))
                                                   .order_by(AlertEvent.id)):
                    trails[entry.alert_id].append(AuditEntryView.model_validate(entry))
            return [AlertHistory(alert=alert_view(a), trail=tuple(trails[a.id])) for a in alerts]

    def _filtered(self, actor: Actor, query: AuditQuery) -> AnySelect:
        hospital_id = require_hospital(actor)
        if query.since is not None and query.until is not None and query.since >= query.until:
            raise InvalidInput('The start of the date range must be before its end.')
        statement: AnySelect = (
            select(AlertEvent, Alert.kind, Alert.priority, Alert.message, Alert.ward_id, Ward.name, Alert.patient_id,
                   Patient.name, Patient.mrn, Patient.bed)
            .join(Alert, Alert.id == AlertEvent.alert_id)
            .join(Ward, Ward.id == Alert.ward_id)
            .outerjoin(Patient, Patient.id == Alert.patient_id)
            .where(AlertEvent.hospital_id == hospital_id, reading_scope(actor))
            .order_by(AlertEvent.at.desc(), AlertEvent.id.desc())
        )
        searched = (Patient.name, Patient.mrn, Patient.bed, Ward.name, AlertEvent.actor, AlertEvent.type,
                    Alert.message, AlertEvent.note)
        # Every word must appear somewhere: "okafor escalated" finds that patient's escalations.
        for word in query.text.split()[:MAX_SEARCH_WORDS]:
            statement = statement.where(or_(*(column.ilike(_like(word), escape='\\') for column in searched)))
        if query.types:
            statement = statement.where(AlertEvent.type.in_(query.types))
        if query.since is not None:
            statement = statement.where(AlertEvent.at >= query.since)
        if query.until is not None:
            statement = statement.where(AlertEvent.at < query.until)
        return statement

    @staticmethod
    async def _rows(session: AsyncSession, statement: AnySelect) -> list[AuditRow]:
        result: Sequence[Any] = (await session.execute(statement)).all()
        return [AuditRow(
            id=entry.id, at=entry.at, type=entry.type, actor=entry.actor, from_status=entry.from_status,
            to_status=entry.to_status, escalation_level=entry.escalation_level, note=entry.note,
            alert_id=entry.alert_id, alert_kind=kind, priority=priority, message=message, ward_id=ward_id,
            ward_name=ward_name, patient_id=patient_id, patient_name=patient_name, patient_mrn=mrn, bed=bed,
        ) for entry, kind, priority, message, ward_id, ward_name, patient_id, patient_name, mrn, bed in result]
