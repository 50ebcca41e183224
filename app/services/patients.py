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
from app.errors import InvalidInput, NotAllowed
from app.schemas import Actor, News2View, PatientView, VitalReadingIn, VitalReadingView, VitalValue
from app.uow import Database
from data.models import Patient
from data.queries import latest_vital_rows, patients_with_ward

from .common import patient_in, require_hospital
from .detection import Key, current_news2, load_context
from .ingest import GroupCommit
from .rules import RulesService
from .scope_sql import patients_in

MAX_FUTURE_SKEW = timedelta(minutes=5)
# A device's last-seen time is written at most this often per token (and at most every quarter of the hospital's
# silence timeout): a monitor posting every second would otherwise add an UPDATE to every request, for a watchdog
# that counts in minutes.
SEEN_EVERY = timedelta(seconds=10)


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


def patient_event_view(rules: HospitalRules, patient: Patient, latest: dict[VitalKind, VitalValue],
                       states: Mapping[Key, Any], now: datetime, news2: News2View | None = None) -> PatientView:
    """Build the patient's view for a VitalsRecorded event, with NEWS2 as detection left it (`news2`: as detection
    scored it from these values and states, when it did)."""
    return patient_view(patient, latest, news2 or patient_news2(rules, patient, latest, states, now), now)


class PatientService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService | None = None) -> None:
        self._db = db
        self._clock = clock
        # NOTE: share one RulesService per process (bootstrap does), so changed limits apply at once.
        self._rules = rules or RulesService(db, clock)
        self._seen: dict[int, datetime] = {}  # device token id -> when this process last wrote its last-seen time
        self._ingest = GroupCommit(db, clock, self._rules, patient_event_view, self._seen_lately, self._saw)

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

        Readings of concurrent calls may share one transaction (see GroupCommit); each call returns only once its
        readings are committed, and raises its own error (UnknownPatients names every unknown MRN). received_at
        (default: the clock's now) is when the caller took the request in: an answer built before the write (a FHIR
        resource's meta.lastUpdated) then says the time that is stored.
        """
        if actor.kind == 'token' and actor.token_kind is TokenKind.KIOSK:
            raise NotAllowed('A kiosk display is read-only and cannot record vitals.')
        hospital_id = require_hospital(actor)
        if not readings:
            raise InvalidInput('No readings were sent.')
        now = received_at or self._clock()
        latest_allowed = now + MAX_FUTURE_SKEW
        for index, reading in enumerate(readings):
            problem = plausibility_problem(reading.kind, reading.value, reading.unit)
            if problem is None and reading.measured_at > latest_allowed:
                problem = f'measured_at {reading.measured_at.isoformat()} is in the future'
            if problem:
                raise InvalidInput(f'Reading {index} ({reading.patient_mrn}, {reading.kind}): {problem}.')
        return await self._ingest.write(actor, hospital_id, readings, received_at=received_at)

    @property
    def shared_commits(self) -> int:
        """Return how many transactions of readings this process has committed (several requests may share one)."""
        return self._ingest.commits

    @property
    def readings_stored(self) -> int:
        """Return how many readings this process has stored since it started (the /metrics counter)."""
        return self._ingest.readings_stored

    def _saw(self, token_id: int, now: datetime) -> None:
        self._seen[token_id] = now

    def _seen_lately(self, token_id: int, now: datetime, silence_seconds: int) -> bool:
        """Tell whether this process wrote the device's last-seen time so recently that it can skip it this time.

        A device reported silent has not been written for longer than the silence timeout, so it is never
        skipped: its heartbeat alert clears on its first readings.
        """
        last = self._seen.get(token_id)
        every = min(SEEN_EVERY, timedelta(seconds=silence_seconds / 4))
        return last is not None and last <= now < last + every
