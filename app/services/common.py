"""Look-ups that several services share, always scoped to the caller's hospital."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.text import check_one_line
from app.errors import AlreadyExists, HospitalNotFound, InvalidInput, NotAllowed, PatientNotFound, WardNotFound
from app.schemas import Actor
from data.models import Hospital, Patient, Ward


def require_hospital(actor: Actor) -> int:
    """Return the actor's hospital id; the system actor must name a hospital explicitly elsewhere."""
    if actor.hospital_id is None:
        raise NotAllowed('This action needs a hospital: it cannot be done on behalf of the whole system.')
    return actor.hospital_id


def acting_name(actor: Actor, on_behalf_of: str | None) -> str:
    """Return the name recorded for an action; integrations must say which person acted."""
    if actor.kind == 'token':
        person = (on_behalf_of or '').strip()
        check_one_line(person, 'acted_by')
        if not person:
            raise InvalidInput('An integration must name the person who acted (acted_by).')
        return f'{person} (via {actor.name})'[:200]
    return actor.name


async def hospital_by_slug(session: AsyncSession, slug: str) -> Hospital:
    """Return the hospital with this slug or raise HospitalNotFound."""
    hospital = await session.scalar(select(Hospital).where(Hospital.slug == slug))
    if hospital is None:
        raise HospitalNotFound(f'No hospital with the slug "{slug}".')
    return hospital


async def ward_in(session: AsyncSession, hospital_id: int, ward_id: int) -> Ward:
    """Return a ward of the hospital or raise WardNotFound (also for other hospitals' wards)."""
    ward = await session.get(Ward, ward_id)
    if ward is None or ward.hospital_id != hospital_id:
        raise WardNotFound(f'Ward {ward_id} not found.')
    return ward


async def patient_in(session: AsyncSession, hospital_id: int, patient_id: int) -> Patient:
    """Return a patient of the hospital or raise PatientNotFound (also for other hospitals' patients)."""
    patient = await session.get(Patient, patient_id)
    if patient is None or patient.hospital_id != hospital_id:
        raise PatientNotFound(f'Patient {patient_id} not found.')
    return patient


async def add_unique(session: AsyncSession, row: object, taken: str) -> None:
    """Insert a row whose natural key must be unique; a clash raises AlreadyExists with the message taken.

    The database's unique constraint decides (a check-then-insert would race); build the message before calling,
    since a failed flush expires every loaded object.
    """
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(taken) from error
