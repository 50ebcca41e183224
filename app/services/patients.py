"""Patients in scope and their latest vitals; recording readings."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain import TokenKind, VitalKind
from app.domain.limits import HospitalRules
from app.domain.news2 import assess
from app.domain.scope import AccessScope
from app.domain.vitals import plausibility_problem
from app.errors import InvalidInput, NotAllowed, PatientNotFound
from app.events import VitalsRecorded
from app.schemas import Actor, News2View, PatientView, VitalReadingIn, VitalReadingView, VitalValue
from app.uow import Database
from data.models import Patient
from data.queries import INSERT_READINGS, latest_vital_rows, patients_with_ward, upsert_latest_vitals

from .common import patient_in, require_hospital
from .detection import Key, current_news2, detect, load_context
from .escalation import device_seen
from .rules import RulesService
from .scope_sql import patients_in

MAX_FUTURE_SKEW = timedelta(minutes=5)
# A device's last-seen time is written at most this often per token (and at most every quarter of the hospital's
# silence timeout): a monitor posting every second would otherwise add an UPDATE to every request, for a watchdog
# that counts in minutes.
SEEN_EVERY = timedelta(seconds=10)
LATEST_COLUMNS = ('patient_id', 'kind', 'value', 'unit', 'measured_at')


async def latest_vitals(session: AsyncSession, patient_ids: Sequence[int]) -> dict[int, dict[VitalKind, VitalValue]]:
    """Return the newest reading of each kind for each patient."""
    latest: dict[int, dict[VitalKind, VitalValue]] = defaultdict(dict)
    for patient_id, kind, value, unit, measured_at in await latest_vital_rows(session, patient_ids):
        latest[patient_id][VitalKind(kind)] = VitalValue(value=value, unit=unit, measured_at=measured_at)
    return latest


def patient_news2(rules: HospitalRules, patient: Patient, latest: Mapping[VitalKind, VitalValue],
                  states: Mapping[Key, Any], now: datetime) -> News2View:
    """Return the patient's NEWS2 exactly as detection counts it (stale values missing, delayed ones pending)."""
    values = {kind: (vital.value, vital.measured_at) for kind, vital in latest.items()}
    return current_news2(rules, patient.id, patient.spo2_scale, values, states, now)


def patient_view(patient: Patient, latest: dict[VitalKind, VitalValue], news2: News2View | None = None,
                 as_of: datetime | None = None) -> PatientView:
    """Build the view of a patient whose ward is loaded (with its NEWS2 from patient_news2, else ages ignored)."""
    if news2 is None:
        news2 = assess({kind: vital.value for kind, vital in latest.items()}, patient.spo2_scale)
    return PatientView(id=patient.id, hospital_id=patient.hospital_id, ward_id=patient.ward_id,
                       ward_name=patient.ward.name, mrn=patient.mrn, name=patient.name, bed=patient.bed,
                       spo2_scale=patient.spo2_scale, latest=latest, news2=news2,
                       observations_due_at=patient.observations_due_at, as_of=as_of,
                       spo2_scale_set_at=patient.spo2_scale_set_at, spo2_scale_set_by=patient.spo2_scale_set_by,
                       spo2_scale_reason=patient.spo2_scale_reason)


class PatientService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService | None = None) -> None:
        self._db = db
        self._clock = clock
        # NOTE: share one RulesService per process (bootstrap does), so changed limits apply at once.
        self._rules = rules or RulesService(db, clock)
        self._seen: dict[int, datetime] = {}  # device token id -> when this process last wrote its last-seen time
        self.readings_stored = 0  # by this process since it started (the /metrics counter)

    async def list_patients(self, actor: Actor, ward_id: int | None = None) -> list[PatientView]:
        """Return the patients in the actor's scope with their latest vitals, by ward and bed."""
        hospital_id = require_hospital(actor)
        statement = (patients_with_ward().where(patients_in(AccessScope.of(actor)))
                     .order_by(Patient.ward_id, Patient.bed))
        if ward_id is not None:
            statement = statement.where(Patient.ward_id == ward_id)
        async with self._db.read() as session:
            patients = list(await session.scalars(statement))
            latest, states = await load_context(session, [p.id for p in patients])
            rules = await self._rules.rules(hospital_id, session)
        now = self._clock()
        return [patient_view(p, latest.get(p.id, {}), patient_news2(rules, p, latest.get(p.id, {}), states, now), now)
                for p in patients]

    async def get(self, actor: Actor, patient_id: int) -> PatientView:
        """Return one patient in the actor's scope with the latest vitals."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            patient = await patient_in(session, hospital_id, patient_id)
            AccessScope.of(actor).check_patient(hospital_id, patient.ward_id, patient_id)
            await session.refresh(patient, ['ward'])
            latest, states = await load_context(session, [patient.id])
            rules = await self._rules.rules(hospital_id, session)
            mine = latest.get(patient.id, {})
            now = self._clock()
            return patient_view(patient, mine, patient_news2(rules, patient, mine, states, now), now)

    async def record_vitals(self, actor: Actor, readings: Sequence[VitalReadingIn], *,
                            received_at: datetime | None = None) -> list[VitalReadingView]:
        """Validate and store readings all-or-nothing; publish one VitalsRecorded per patient after commit.

        received_at (default: the clock's now) is when the caller took the request in: an answer built before the
        write (a FHIR resource's meta.lastUpdated) then says the time that is stored."""
        if actor.kind == 'token' and actor.token_kind is TokenKind.KIOSK:
            raise NotAllowed('A kiosk display is read-only and cannot record vitals.')
        hospital_id = require_hospital(actor)
        if not readings:
            raise InvalidInput('No readings were sent.')
        now = received_at or self._clock()
        for index, reading in enumerate(readings):
            problem = plausibility_problem(reading.kind, reading.value, reading.unit)
            if problem is None and reading.measured_at > now + MAX_FUTURE_SKEW:
                problem = f'measured_at {reading.measured_at.isoformat()} is in the future'
            if problem:
                raise InvalidInput(f'Reading {index} ({reading.patient_mrn}, {reading.kind}): {problem}.')
        async with self._db.uow() as uow:
            session = uow.session
            rules = await self._rules.rules(hospital_id, session)
            # Measured this long before it arrived: history (a chart, an audit), never the patient's present.
            history_before = now - timedelta(hours=rules.stale_reading_hours)
            mrns = sorted({r.patient_mrn for r in readings})
            # Locked in id order: concurrent batches for the same patients detect one after the other (PostgreSQL;
            # SQLite has one writer anyway), so trigger states and alerts never race.
            patients = {p.mrn: p for p in await session.scalars(
                patients_with_ward().where(Patient.hospital_id == hospital_id, Patient.mrn.in_(mrns))
                .order_by(Patient.id).with_for_update(of=Patient))}
            for index, reading in enumerate(readings):
                if reading.patient_mrn not in patients:
                    raise PatientNotFound(f'Reading {index}: no patient with MRN "{reading.patient_mrn}".')
            rows: list[dict[str, Any]] = [
                {'hospital_id': hospital_id, 'patient_id': patients[r.patient_mrn].id, 'kind': r.kind.value,
                 'value': r.value, 'unit': r.unit, 'measured_at': r.measured_at, 'recorded_at': now,
                 'source': actor.name, 'observation_id': r.observation_id} for r in readings]
            # Core executemany on the table: the ORM's bulk path adds only bookkeeping, and RETURNING the ids in
            # parameter order would make SQLite insert row by row.
            await (await session.connection()).execute(INSERT_READINGS, rows)
            # Built from readings validated above, so not validated again.
            views = [VitalReadingView.model_construct(
                patient_id=row['patient_id'], kind=reading.kind, value=row['value'], unit=row['unit'],
                measured_at=row['measured_at'], source=row['source'],
                history_only=row['measured_at'] < history_before)
                for reading, row in zip(readings, rows, strict=True)]
            by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                if row['measured_at'] >= history_before:  # history-only readings never become latest nor alert
                    by_patient[row['patient_id']].append(row)
            touched = [p for p in patients.values() if p.id in {row['patient_id'] for row in rows}]
            before, states = await load_context(uow, [p.id for p in touched])
            after = {p.id: dict(before.get(p.id, {})) for p in touched}
            newest = []
            for row in (row for batch in by_patient.values() for row in batch):
                # The same rule as the upsert: a reading at least as new as the stored one wins.
                kind, current = VitalKind(row['kind']), after[row['patient_id']]
                if kind not in current or row['measured_at'] >= current[kind].measured_at:
                    current[kind] = VitalValue.model_construct(value=row['value'], unit=row['unit'],
                                                               measured_at=row['measured_at'])
                    newest.append(row)
            await upsert_latest_vitals(await session.connection(), list({
                (row['patient_id'], row['kind']): {k: row[k] for k in LATEST_COLUMNS} for row in newest}.values()))
            views_of: dict[int, list[VitalReadingView]] = defaultdict(list)
            for view in views:
                views_of[view.patient_id].append(view)
            queued = uow.queued
            final = await detect(uow, rules, now, touched, before, by_patient, states)
            # The readings come first in the event log, then what they caused; the views carry NEWS2 as detection
            # left it (what is still pending its persistence delay), so card and alert agree.
            uow.emit_at(queued, [VitalsRecorded(
                hospital_id=hospital_id, ward_id=patient.ward_id, occurred_at=now, actor=actor.name,
                patient=patient_view(patient, after[patient.id],
                                     patient_news2(rules, patient, after[patient.id], final, now), now),
                readings=tuple(views_of[patient.id])) for patient in touched])
            token_id = actor.token_id if actor.kind == 'token' and actor.token_kind is TokenKind.DEVICE else None
            seen = token_id is not None and self._seen_lately(token_id, now, rules.device_silence_seconds)
            if token_id is not None and not seen:
                # The device's ward is that of the patient it measured last (a heartbeat alert goes there).
                last = max(rows, key=lambda row: row['measured_at'])
                ward_id = next(p.ward_id for p in touched if p.id == last['patient_id'])
                await device_seen(uow, rules, token_id, ward_id, now)
            await uow.commit()
            self.readings_stored += len(rows)
            if token_id is not None and not seen:
                self._seen[token_id] = now
            return views

    def _seen_lately(self, token_id: int, now: datetime, silence_seconds: int) -> bool:
        """Tell whether this process wrote the device's last-seen time so recently that it can skip it this time.

        A device reported silent has not been written for longer than the silence timeout, so it is never
        skipped: its heartbeat alert clears on its first readings.
        """
        last = self._seen.get(token_id)
        every = min(SEEN_EVERY, timedelta(seconds=silence_seconds / 4))
        return last is not None and last <= now < last + every
