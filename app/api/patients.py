"""Patients over HTTP: who is where, their latest vitals with NEWS2, and each patient's history page by page."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.domain import VitalKind
from app.domain.text import ONE_LINE_TEXT_PATTERN
from app.schemas import Actor, News2View, PatientView
from app.services.directory import DirectoryService
from app.services.patient_history import MAX_PAGE, PatientHistoryService
from app.services.patients import PatientService
from app.services.prescriptions import MAX_REASON, PrescriptionService

from .auth import Authenticate
from .errors import ERRORS, MALFORMED, REFUSED, DomainErrorRoute
from .readings import WireValue, wire_value
from .request_limits import IsoDateTime, RowIdQuery


class VitalOut(BaseModel):
    """A value as devices send it: consciousness as an ACVPU letter, on_oxygen as true/false, others as numbers."""

    value: WireValue
    unit: str
    measured_at: datetime
    age_seconds: float | None = Field(
        None, description='How old the value was when this answer was made (a value is part of its reading).')


class PatientOut(BaseModel):
    """A patient with the latest value of each vital sign and the NEWS2 built from them."""

    id: int
    mrn: str
    name: str
    ward_id: int
    ward_name: str
    bed: str
    spo2_scale: int = Field(description='NEWS2 SpO2 scale: 1, or 2 (target 88-92 %) as a clinician prescribed it.')
    spo2_scale_set_at: datetime | None = Field(description='When the current scale was set (null: as admitted).')
    spo2_scale_set_by: str | None = Field(description='Who prescribed the current scale, as recorded.')
    spo2_scale_reason: str | None = Field(description='Why, as recorded.')
    latest: dict[VitalKind, VitalOut]
    news2: News2View | None
    observations_due_at: datetime | None = Field(None, description=(
        'When the next full set of NEWS2 observations is due, from the last full set and its score (RCP chart 4); '
        'null before the first reading.'))
    observations_overdue: bool = Field(False, description='The next full set was due before this answer was made.')

    @classmethod
    def of(cls, patient: PatientView) -> 'PatientOut':
        as_of = patient.as_of
        latest = {kind: VitalOut(value=wire_value(kind, vital.value), unit=vital.unit, measured_at=vital.measured_at,
                                 age_seconds=(as_of - vital.measured_at).total_seconds() if as_of else None)
                  for kind, vital in patient.latest.items()}
        return cls(id=patient.id, mrn=patient.mrn, name=patient.name, ward_id=patient.ward_id,
                   ward_name=patient.ward_name, bed=patient.bed, spo2_scale=patient.spo2_scale,
                   spo2_scale_set_at=patient.spo2_scale_set_at, spo2_scale_set_by=patient.spo2_scale_set_by,
                   spo2_scale_reason=patient.spo2_scale_reason, latest=latest, news2=patient.news2,
                   observations_due_at=patient.observations_due_at,
                   observations_overdue=bool(as_of and patient.observations_due_at
                                             and patient.observations_due_at <= as_of))


class Spo2ScaleIn(BaseModel):
    """A clinician's prescription of the patient's NEWS2 SpO2 scale, sent by an integration on their behalf."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'scale': 2, 'reason': 'Confirmed hypercapnic respiratory failure (ABG 07:40)', 'acted_by': 'Dr R. Asante'},
    ]})

    scale: StrictInt = Field(ge=1, le=2, description=(
        '1 (the usual scale), or 2 (target 88-92 %, for confirmed hypercapnic respiratory failure). Sending the '
        'scale the patient is on already is refused (422): nothing is recorded twice.'))
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="Why, for the patient's record.",
                        json_schema_extra={'pattern': ONE_LINE_TEXT_PATTERN})
    acted_by: str = Field(min_length=1, max_length=150, description=(
        'The physician who prescribed, recorded with the change; the integration vouches for their role.'),
        json_schema_extra={'pattern': ONE_LINE_TEXT_PATTERN})


class ReadingOut(BaseModel):
    kind: VitalKind
    value: WireValue
    unit: str
    measured_at: datetime
    recorded_at: datetime
    source: str


class ReadingPageOut(BaseModel):
    """Readings newest first; pass next_cursor back as `cursor` for the older ones (null: no more)."""

    items: list[ReadingOut]
    next_cursor: str | None


def patients_router(patients: PatientService, prescriptions: PrescriptionService, directory: DirectoryService,
                    patient_history: PatientHistoryService, reader: Authenticate,
                    prescriber: Authenticate) -> APIRouter:
    """Return the router of the patient routes."""
    router = APIRouter(prefix='/api/v1/patients', tags=['patients'], route_class=DomainErrorRoute)

    @router.get('', response_model=list[PatientOut], summary='List patients', responses=ERRORS)
    async def list_patients(actor: Annotated[Actor, Depends(reader)], ward_id: RowIdQuery = None) -> list[PatientOut]:
        """The token's hospital's patients (optionally of one ward) by ward and bed, with latest vitals and NEWS2."""
        return [PatientOut.of(p) for p in await patients.list_patients(actor, ward_id)]

    @router.get('/{mrn}', response_model=PatientOut, summary='Read a patient', responses=ERRORS)
    async def get_patient(mrn: str, actor: Annotated[Actor, Depends(reader)]) -> PatientOut:
        """The latest value of each vital sign, the NEWS2 total, each parameter's sub-score, the risk band and which
        parameters are missing (a total with missing parameters is a lower bound)."""
        return PatientOut.of(await patients.get(actor, await directory.patient_id(actor, mrn)))

    @router.put('/{mrn}/spo2-scale', response_model=PatientOut, summary="Prescribe a patient's SpO2 scale",
                responses={**ERRORS, **MALFORMED, 422: {**REFUSED[422], 'description': (
                    'Bad input, or the scale the patient is on already; nothing changed')}})
    async def set_spo2_scale(mrn: str, body: Spo2ScaleIn, actor: Annotated[Actor, Depends(prescriber)]) -> PatientOut:
        """Set the NEWS2 SpO2 scale a clinician prescribed (integration tokens only, on behalf of the named person).

        The change, who prescribed it, when and why go on the patient's record; NEWS2 and the SpO2 critical limit
        follow the new scale at once, and every open screen updates. Answers the patient as it is now.
        """
        patient_id = await directory.patient_id(actor, mrn)
        return PatientOut.of(await prescriptions.set_spo2_scale(actor, patient_id, body.scale, body.reason,
                                                                on_behalf_of=body.acted_by))

    @router.get('/{mrn}/vitals', response_model=ReadingPageOut, summary="A patient's readings", responses=ERRORS)
    async def history(
            mrn: str, actor: Annotated[Actor, Depends(reader)],
            kind: Annotated[list[VitalKind] | None, Query(description='Only these kinds (repeatable)')] = None,
            since: Annotated[IsoDateTime | None, Query(description='Measured at or after')] = None,
            until: Annotated[IsoDateTime | None, Query(description='Measured before')] = None,
            limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
            cursor: Annotated[str | None, Query(max_length=200, description='next_cursor of the previous page')] = None,
    ) -> ReadingPageOut:
        """Stored readings, newest measurement first, one page at a time."""
        page = await patient_history.readings(actor, mrn, kinds=kind or (), since=since, until=until, limit=limit,
                                              cursor=cursor)
        return ReadingPageOut(items=[ReadingOut(kind=r.kind, value=wire_value(r.kind, r.value), unit=r.unit,
                                                measured_at=r.measured_at, recorded_at=r.recorded_at,
                                                source=r.source) for r in page.items],
                              next_cursor=page.next_cursor)

    return router
