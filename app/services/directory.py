"""Look-ups by the names outside systems use (MRN, ward name), always within the caller's hospital and scope."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain.scope import AccessScope
from app.errors import PatientNotFound, WardNotFound
from app.schemas import Actor
from app.uow import Database
from data.models import Patient, Ward

from .common import require_hospital


async def patient_id_by_mrn(session: AsyncSession, actor: Actor, mrn: str) -> int:
    """Return the id of the patient with this MRN in the actor's scope."""
    hospital_id = require_hospital(actor)
    row = (await session.execute(select(Patient.id, Patient.ward_id).where(
        Patient.hospital_id == hospital_id, Patient.mrn == mrn.strip()))).first()
    if row is None:
        raise PatientNotFound(f'No patient with MRN "{mrn}".')
    AccessScope.of(actor).check_patient(hospital_id, row.ward_id, mrn)
    return int(row.id)


class DirectoryService:
    """Find patients and wards of the caller's hospital by their outside names."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def patient_id(self, actor: Actor, mrn: str) -> int:
        """Return the id of the patient with this MRN in the actor's scope."""
        async with self._db.read() as session:
            return await patient_id_by_mrn(session, actor, mrn)

    async def unknown_mrns(self, actor: Actor, mrns: Iterable[str]) -> set[str]:
        """Return which of these MRNs no patient of the actor's hospital has."""
        hospital_id = require_hospital(actor)
        wanted = set(mrns)
        async with self._db.read() as session:
            known = set(await session.scalars(
                select(Patient.mrn).where(Patient.hospital_id == hospital_id, Patient.mrn.in_(sorted(wanted)))))
        return wanted - known

    async def ward_id(self, actor: Actor, name: str) -> int:
        """Return the id of the actor's hospital's ward with this name."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            ward_id = await session.scalar(
                select(Ward.id).where(Ward.hospital_id == hospital_id, Ward.name == name.strip()))
        if ward_id is None:
            raise WardNotFound(f'No ward named "{name}".')
        return int(ward_id)
