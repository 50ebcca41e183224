"""Look-ups by the names outside systems use (MRN, ward name) and a patient's vital-sign history, page by page."""

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select

from app.clock import Clock
from app.domain import VitalKind
from app.domain.scope import AccessScope
from app.errors import InvalidInput, PatientNotFound, WardNotFound
from app.schemas import Actor, View
from app.uow import Database
from data.models import Patient, VitalReading, Ward

from .common import require_hospital

MAX_PAGE = 1000


class StoredReadingView(View):
    """One stored reading of a patient, with when Vigil received it and from whom."""

    id: int
    kind: VitalKind
    value: float
    unit: str
    measured_at: datetime
    recorded_at: datetime
    source: str


class ReadingPage(View):
    """Readings newest first; pass next_cursor back as cursor for the older ones (None: no more)."""

    items: tuple[StoredReadingView, ...]
    next_cursor: str | None


def encode_cursor(measured_at: datetime, reading_id: int) -> str:
    """Return an opaque cursor pointing just past this reading."""
    return base64.urlsafe_b64encode(f'{measured_at.isoformat()}|{reading_id}'.encode()).decode().rstrip('=')


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Return (measured_at, id) from a cursor made by encode_cursor, or raise InvalidInput."""
    try:
        text = base64.urlsafe_b64decode(cursor + '=' * (-len(cursor) % 4)).decode()
        at, reading_id = text.split('|')
        measured_at = datetime.fromisoformat(at)
        if measured_at.tzinfo is None:
            raise ValueError('naive')
        number = int(reading_id)
        if not 1 <= number < 2**63:  # an id no row has (a larger one overflows the database driver: a 500)
            raise ValueError('out of range')
        return measured_at, number
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput('The cursor is not one this server handed out; start again without it.') from None


class DirectoryService:
    """Find patients and wards of the caller's hospital by their outside names; read a patient's history."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def patient_id(self, actor: Actor, mrn: str) -> int:
        """Return the id of the patient with this MRN in the actor's scope."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            row = (await session.execute(select(Patient.id, Patient.ward_id).where(
                Patient.hospital_id == hospital_id, Patient.mrn == mrn.strip()))).first()
        if row is None:
            raise PatientNotFound(f'No patient with MRN "{mrn}".')
        AccessScope.of(actor).check_patient(hospital_id, row.ward_id, mrn)
        return int(row.id)

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

    async def readings(self, actor: Actor, mrn: str, *, kinds: Sequence[VitalKind] = (),
                       since: datetime | None = None, until: datetime | None = None, limit: int = 100,
                       cursor: str | None = None) -> ReadingPage:
        """Return a page of a patient's readings, newest measurement first, optionally of some kinds and a window."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f'limit must be between 1 and {MAX_PAGE}.')
        patient_id = await self.patient_id(actor, mrn)
        statement = (select(VitalReading).where(VitalReading.patient_id == patient_id)
                     .order_by(VitalReading.measured_at.desc(), VitalReading.id.desc()).limit(limit + 1))
        if kinds:
            statement = statement.where(VitalReading.kind.in_([k.value for k in kinds]))
        if since is not None:
            statement = statement.where(VitalReading.measured_at >= since)
        if until is not None:
            statement = statement.where(VitalReading.measured_at < until)
        if cursor is not None:
            at, reading_id = decode_cursor(cursor)
            statement = statement.where(or_(VitalReading.measured_at < at,
                                            and_(VitalReading.measured_at == at, VitalReading.id < reading_id)))
        async with self._db.read() as session:
            rows = list(await session.scalars(statement))
        more = len(rows) > limit
        rows = rows[:limit]
        items = tuple(StoredReadingView.model_validate(row) for row in rows)
        last = rows[-1] if more else None
        return ReadingPage(items=items, next_cursor=encode_cursor(last.measured_at, last.id) if last else None)
