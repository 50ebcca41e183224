"""Stored readings as the Observations they came in: read one by its id, search a hospital's, find its patients.

An Observation's id is stable and needs no table of its own: a reading sent over FHIR carries the id its Observation
was given (both readings of a blood pressure panel share one, prefixed "bp-"); any other reading (the JSON API, the
simulator) is an Observation of one value whose id is the reading's own number. Readings are never changed once
stored, so every Observation is at its first version.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, func, not_, or_, select, true

from app.clock import Clock
from app.domain import VitalKind
from app.domain.scope import AccessScope
from app.errors import NotFound
from app.schemas import Actor, View
from app.uow import Database
from data.models import Patient, VitalReading

from .common import require_hospital
from .scope_sql import ward_clause

PANEL_PREFIX = 'bp-'
BLOOD_PRESSURE = 'blood_pressure'  # a panel of systolic and diastolic, as a search term beside the VitalKinds
# "On oxygen" is one kind with two codes (SNOMED CT: patient on oxygen, breathing room air): search terms for each.
ON_OXYGEN, ON_AIR = 'on_oxygen:yes', 'on_oxygen:no'
MAX_COUNT = 1000


class ObservationNotFound(NotFound):
    pass


class RecordedValue(View):
    """One stored reading of an Observation."""

    kind: VitalKind
    value: float
    unit: str


class ObservationRecord(View):
    """The readings one Observation brought in, of one patient, measured at one time."""

    id: str
    patient_id: int
    mrn: str
    measured_at: datetime
    recorded_at: datetime
    panel: bool
    values: tuple[RecordedValue, ...]


class PatientRecord(View):
    """A patient as other systems know them."""

    id: int
    mrn: str
    name: str


@dataclass(frozen=True)
class ObservationQuery:
    """What to search for: every condition holds (codes: any of them; a range: since <= measured_at < until)."""

    patient_ids: Sequence[int] | None = None
    codes: Sequence[VitalKind | str] = ()  # VitalKind of one-value Observations, or BLOOD_PRESSURE for panels
    since: Sequence[datetime] = ()
    until: Sequence[datetime] = ()
    newest_first: bool = True
    offset: int = 0
    count: int = 50
    nothing: bool = field(default=False)  # a condition no Observation meets (such as an unknown category)


def new_observation_id(uuid: str, panel: bool) -> str:
    """Return the id of an Observation created now."""
    return f'{PANEL_PREFIX}{uuid}' if panel else uuid


_KEY = func.coalesce(VitalReading.observation_id, cast(VitalReading.id, String))
_IS_PANEL = VitalReading.observation_id.startswith(PANEL_PREFIX)


def _code_clause(code: VitalKind | str) -> ColumnElement[bool]:
    if code == BLOOD_PRESSURE:
        return _IS_PANEL
    if code in (ON_OXYGEN, ON_AIR):
        on = VitalReading.value != 0 if code == ON_OXYGEN else VitalReading.value == 0
        return and_(VitalReading.kind == VitalKind.ON_OXYGEN.value, on)
    return and_(VitalReading.kind == str(code), or_(VitalReading.observation_id.is_(None), not_(_IS_PANEL)))


class ObservationRecords:
    """Read the Observations and patients of the caller's hospital, within the caller's scope."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def observation(self, actor: Actor, observation_id: str) -> ObservationRecord:
        """Return one Observation by its id, or raise ObservationNotFound."""
        hospital_id = require_hospital(actor)
        match = (VitalReading.id == int(observation_id)) & VitalReading.observation_id.is_(None) \
            if observation_id.isdigit() and len(observation_id) < 19 else VitalReading.observation_id == observation_id
        found = await self._records(actor, (VitalReading.hospital_id == hospital_id) & match)
        if not found:
            raise ObservationNotFound(f'No Observation "{observation_id}" in this hospital.')
        return found[0]

    async def search(self, actor: Actor, query: ObservationQuery) -> tuple[list[ObservationRecord], bool]:
        """Return a page of Observations (newest or oldest measured first) and whether more follow."""
        hospital_id = require_hospital(actor)
        if query.nothing or query.patient_ids == []:
            return [], False
        scope = AccessScope.of(actor)
        conditions: list[ColumnElement[bool]] = [VitalReading.hospital_id == hospital_id,
                                                 ward_clause(scope, Patient.hospital_id, Patient.ward_id)]
        if query.patient_ids is not None:
            conditions.append(VitalReading.patient_id.in_(sorted(query.patient_ids)))
        if query.codes:
            conditions.append(or_(*(_code_clause(code) for code in query.codes)))
        conditions += [VitalReading.measured_at >= at for at in query.since]
        conditions += [VitalReading.measured_at < at for at in query.until]
        at, last = func.max(VitalReading.measured_at).label('at'), func.max(VitalReading.id).label('last')
        order = (at.desc(), last.desc()) if query.newest_first else (at.asc(), last.asc())
        statement = (select(_KEY.label('key'), at, last).join(Patient, Patient.id == VitalReading.patient_id)
                     .where(*conditions).group_by(_KEY).order_by(*order).offset(query.offset).limit(query.count + 1))
        async with self._db.read() as session:
            keys = [str(key) for key in await session.scalars(statement)]
        more = len(keys) > query.count
        keys = keys[:query.count]
        numbers = [int(key) for key in keys if key.isdigit()]
        names = [key for key in keys if not key.isdigit()]
        records = {record.id: record for record in await self._records(actor, (VitalReading.hospital_id == hospital_id)
                                                                        & or_(VitalReading.id.in_(numbers)
                                                                              & VitalReading.observation_id.is_(None),
                                                                              VitalReading.observation_id.in_(names)))}
        return [records[key] for key in keys if key in records], more

    async def _records(self, actor: Actor, condition: ColumnElement[bool]) -> list[ObservationRecord]:
        scope = AccessScope.of(actor)
        statement = (select(VitalReading, Patient.mrn, Patient.ward_id, Patient.hospital_id)
                     .join(Patient, Patient.id == VitalReading.patient_id).where(condition).order_by(VitalReading.id))
        async with self._db.read() as session:
            rows = (await session.execute(statement)).all()
        grouped: dict[str, list[tuple[VitalReading, str]]] = {}
        for reading, mrn, ward_id, patient_hospital in rows:
            if scope.sees_patient(patient_hospital, ward_id):
                grouped.setdefault(reading.observation_id or str(reading.id), []).append((reading, mrn))
        return [ObservationRecord(
            id=key, patient_id=readings[0][0].patient_id, mrn=readings[0][1], measured_at=readings[0][0].measured_at,
            recorded_at=max(r.recorded_at for r, _ in readings), panel=key.startswith(PANEL_PREFIX),
            values=tuple(RecordedValue(kind=VitalKind(r.kind), value=r.value, unit=r.unit) for r, _ in readings))
            for key, readings in grouped.items()]

    async def patient(self, actor: Actor, patient_id: int) -> PatientRecord:
        """Return one patient by Vigil's id, or raise NotFound."""
        found = await self._patients(actor, Patient.id == patient_id)
        if not found:
            raise NotFound(f'No Patient "{patient_id}" in this hospital.')
        return found[0]

    async def patients(self, actor: Actor) -> list[PatientRecord]:
        """Return every patient the actor may see."""
        return await self._patients(actor, true())

    async def patients_by_mrn(self, actor: Actor, mrns: Sequence[str]) -> list[PatientRecord]:
        """Return the patients with these MRNs (none, or one each) that the actor may see."""
        return await self._patients(actor, Patient.mrn.in_(sorted({m.strip() for m in mrns})))

    async def _patients(self, actor: Actor, condition: ColumnElement[bool]) -> list[PatientRecord]:
        hospital_id = require_hospital(actor)
        scope = AccessScope.of(actor)
        statement = (select(Patient.id, Patient.mrn, Patient.name).where(
            Patient.hospital_id == hospital_id, ward_clause(scope, Patient.hospital_id, Patient.ward_id), condition)
            .order_by(Patient.id))
        async with self._db.read() as session:
            rows = (await session.execute(statement)).all()
        return [PatientRecord(id=row.id, mrn=row.mrn, name=row.name) for row in rows]
