"""Patients over HTTP: who is where, their latest vitals with NEWS2, and each patient's history page by page."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel

from app.domain import VitalKind
from app.schemas import Actor, News2View, PatientView
from app.services.history import MAX_PAGE, DirectoryService
from app.services.patients import PatientService

from .auth import Authenticate
from .errors import ERRORS, DomainErrorRoute
from .readings import WireValue, wire_value


class VitalOut(BaseModel):
    """A value as devices send it: consciousness as an ACVPU letter, on_oxygen as true/false, others as numbers."""

    value: WireValue
    unit: str
    measured_at: datetime


class PatientOut(BaseModel):
    """A patient with the latest value of each vital sign and the NEWS2 built from them."""

    id: int
    mrn: str
    name: str
    ward_id: int
    ward_name: str
    bed: str
    spo2_scale: int
    latest: dict[VitalKind, VitalOut]
    news2: News2View | None

    @classmethod
    def of(cls, patient: PatientView) -> 'PatientOut':
        latest = {kind: VitalOut(value=wire_value(kind, vital.value), unit=vital.unit, measured_at=vital.measured_at)
                  for kind, vital in patient.latest.items()}
        return cls(id=patient.id, mrn=patient.mrn, name=patient.name, ward_id=patient.ward_id,
                   ward_name=patient.ward_name, bed=patient.bed, spo2_scale=patient.spo2_scale, latest=latest,
                   news2=patient.news2)


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


def patients_router(patients: PatientService, directory: DirectoryService, reader: Authenticate) -> APIRouter:
    """Return the router of the patient routes."""
    router = APIRouter(prefix='/api/v1/patients', tags=['patients'], route_class=DomainErrorRoute)

    @router.get('', response_model=list[PatientOut], summary='List patients', responses=ERRORS)
    async def list_patients(actor: Annotated[Actor, Depends(reader)], ward_id: int | None = None) -> list[PatientOut]:
        """The token's hospital's patients (optionally of one ward) by ward and bed, with latest vitals and NEWS2."""
        return [PatientOut.of(p) for p in await patients.list_patients(actor, ward_id)]

    @router.get('/{mrn}', response_model=PatientOut, summary='Read a patient', responses=ERRORS)
    async def get_patient(mrn: str, actor: Annotated[Actor, Depends(reader)]) -> PatientOut:
        """The latest value of each vital sign, the NEWS2 total, each parameter's sub-score, the risk band and which
        parameters are missing (a total with missing parameters is a lower bound)."""
        return PatientOut.of(await patients.get(actor, await directory.patient_id(actor, mrn)))

    @router.get('/{mrn}/vitals', response_model=ReadingPageOut, summary="A patient's readings", responses=ERRORS)
    async def history(
            mrn: str, actor: Annotated[Actor, Depends(reader)],
            kind: Annotated[list[VitalKind] | None, Query(description='Only these kinds (repeatable)')] = None,
            since: Annotated[AwareDatetime | None, Query(description='Measured at or after')] = None,
            until: Annotated[AwareDatetime | None, Query(description='Measured before')] = None,
            limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
            cursor: Annotated[str | None, Query(max_length=200, description='next_cursor of the previous page')] = None,
    ) -> ReadingPageOut:
        """Stored readings, newest measurement first, one page at a time."""
        page = await directory.readings(actor, mrn, kinds=kind or (), since=since, until=until, limit=limit,
                                        cursor=cursor)
        return ReadingPageOut(items=[ReadingOut(kind=r.kind, value=wire_value(r.kind, r.value), unit=r.unit,
                                                measured_at=r.measured_at, recorded_at=r.recorded_at,
                                                source=r.source) for r in page.items],
                              next_cursor=page.next_cursor)

    return router
