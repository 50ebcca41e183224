"""Prescriptions on a patient's record: the NEWS2 SpO2 scale (scale 2 for confirmed hypercapnic respiratory failure).

The RCP chart asks that scale 2 (target 88-92 %) be prescribed by a competent clinician and recorded. A physician or
an administrator prescribes it; an integration or the operator command line does so on behalf of a clinician it
names. The new scale, who set it, when and why go on the patient and into the patient's append-only trail in one
transaction. NEWS2 on screens is computed from the latest vitals whenever a patient is read, so it follows the scale
at once; detection re-runs on the patient's latest SpO2 in the same transaction, so that the SpO2 critical limit
and the NEWS2 alert follow at once too (an alert of the old scale's condition recovers, one of the new may start).
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.clock import Clock
from app.domain import Role, TokenKind, VitalKind
from app.domain.scope import AccessScope
from app.domain.text import check_one_line
from app.errors import InvalidInput, NotAllowed, PatientNotFound
from app.events import PatientUpdated
from app.schemas import Actor, PatientEventView, PatientView
from app.uow import Database
from data.models import Patient, PatientEvent
from data.queries import patients_with_ward

from .common import acting_name, require_hospital
from .detection import Key, detect, load_context
from .patients import patient_news2, patient_view
from .rules import RulesService

# NOTE: the `type` of the patient_events rows this module writes (data/models.py PatientEvent).
SPO2_SCALE_EVENT = 'spo2_scale'
SCALES = (1, 2)
MAX_REASON = 500
PRESCRIBING_ROLES = (Role.PHYSICIAN, Role.ADMIN)


def check_can_prescribe(actor: Actor) -> None:
    """Refuse anyone but physicians, administrators, integrations and the system (on behalf of a clinician)."""
    if actor.kind == 'user' and actor.role in PRESCRIBING_ROLES:
        return
    if actor.kind == 'system' or (actor.kind == 'token' and actor.token_kind is TokenKind.INTEGRATION):
        return
    raise NotAllowed('Only a physician or an administrator can prescribe the SpO2 scale (or an integration on '
                     'behalf of one).')


def prescriber(actor: Actor, on_behalf_of: str | None) -> str:
    """Return who prescribed, as recorded: the user, or the clinician an integration or the system names."""
    if actor.kind != 'system':
        return acting_name(actor, on_behalf_of)
    person = (on_behalf_of or '').strip()
    if not person:
        raise InvalidInput('Name the clinician who prescribed the SpO2 scale: the record must say who.')
    return f'{person} (via {actor.name})'[:200]


def checked_scale(scale: object) -> int:
    """Return the scale if it is 1 or 2 (an int, not a bool or a string)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in SCALES:
        raise InvalidInput(f'The SpO2 scale is 1 or 2, not {scale!r}.')
    return scale


def checked_reason(reason: object) -> str:
    """Return the reason stripped, if it has 1-500 characters."""
    text = reason.strip() if isinstance(reason, str) else ''
    if not 1 <= len(text) <= MAX_REASON:
        raise InvalidInput(f'Say why the SpO2 scale changes (1-{MAX_REASON} characters): it goes on the record.')
    check_one_line(text, 'The reason')
    return text


def change_note(scale: int, reason: str) -> str:
    """Return the trail's note for a change to this scale."""
    if scale == 2:
        return f'SpO2 scale 2 prescribed (target 88-92 %): {reason}'
    return f'SpO2 scale 1 restored: {reason}'


class PrescriptionService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService) -> None:
        self._db = db
        self._clock = clock
        # NOTE: the process's shared RulesService (bootstrap), so detection here uses the limits in force.
        self._rules = rules

    async def set_spo2_scale(self, actor: Actor, patient_id: int, scale: int, reason: str, *,
                             on_behalf_of: str | None = None) -> PatientView:
        """Prescribe SpO2 scale 2 or restore scale 1, record who, when and why, and re-run detection on it."""
        check_can_prescribe(actor)
        hospital_id = require_hospital(actor)
        scale = checked_scale(scale)
        reason = checked_reason(reason)
        name = prescriber(actor, on_behalf_of)
        async with self._db.uow() as uow:
            session = uow.session
            # Locked, as record_vitals locks it: readings detected meanwhile wait and then see the new scale.
            patient = await session.scalar(
                patients_with_ward().where(Patient.id == patient_id, Patient.hospital_id == hospital_id)
                .with_for_update(of=Patient))
            if patient is None:
                raise PatientNotFound(f'Patient {patient_id} not found.')
            AccessScope.of(actor).check_patient(hospital_id, patient.ward_id, patient_id)
            if patient.spo2_scale == scale:
                raise InvalidInput(f'{patient.name} is on SpO2 scale {scale} already; nothing was changed.')
            now = self._clock()
            note = change_note(scale, reason)
            patient.spo2_scale = scale
            patient.spo2_scale_set_at, patient.spo2_scale_set_by, patient.spo2_scale_reason = now, name, reason
            session.add(PatientEvent(hospital_id=hospital_id, patient_id=patient.id, type=SPO2_SCALE_EVENT, at=now,
                                     actor=name, actor_user_id=actor.user_id, note=note))
            await session.flush()
            rules = await self._rules.rules(hospital_id, session)
            before, states = await load_context(uow, [patient.id])
            latest = dict(before.get(patient.id, {}))
            queued = uow.queued
            final: Mapping[Key, Any] = states
            spo2 = latest.get(VitalKind.SPO2)
            if spo2 is not None:
                # Only SpO2 depends on the scale (its points and its critical limit): detection looks at the
                # latest SpO2 again, as if it had just arrived, and re-scores NEWS2 with the other latest values.
                # The other parameters' limits are left alone: the prescription says nothing new about them.
                readings: list[dict[str, Any]] = [dict(kind=VitalKind.SPO2.value, value=spo2.value, unit=spo2.unit,
                                                       measured_at=spo2.measured_at, patient_id=patient.id)]
                final = (await detect(uow, rules, now, [patient], before, {patient.id: readings}, states)).states
            # The change comes first in the event log, then what it caused; the view's NEWS2 is as detection left it.
            view = patient_view(patient, latest, patient_news2(rules, patient, latest, final, now), now)
            uow.emit_at(queued, [PatientUpdated(hospital_id=hospital_id, ward_id=patient.ward_id, occurred_at=now,
                                                actor=name, patient=view, change=note)])
            await uow.commit()
            return view

    async def spo2_scale_history(self, actor: Actor, patient_id: int, *, limit: int = 50) -> list[PatientEventView]:
        """Return the SpO2 scale changes of a patient in the actor's scope, newest first."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            ward_id = await session.scalar(
                select(Patient.ward_id).where(Patient.id == patient_id, Patient.hospital_id == hospital_id))
            if ward_id is None:
                raise PatientNotFound(f'Patient {patient_id} not found.')
            AccessScope.of(actor).check_patient(hospital_id, ward_id, patient_id)
            rows = await session.scalars(
                select(PatientEvent).where(PatientEvent.patient_id == patient_id,
                                           PatientEvent.type == SPO2_SCALE_EVENT)
                .order_by(PatientEvent.at.desc(), PatientEvent.id.desc()).limit(limit))
            return [PatientEventView.model_validate(row) for row in rows]
