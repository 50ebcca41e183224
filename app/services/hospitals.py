"""Hospitals and their wards (the operator sets these up; the demo seeds them)."""

import re

from sqlalchemy import select

from app.clock import Clock
from app.errors import HospitalNotFound, InvalidInput
from app.schemas import HospitalView, WardView
from app.uow import Database
from data.models import Hospital, Ward

from .common import add_unique, hospital_by_slug

SLUG = re.compile(r'^[a-z0-9][a-z0-9-]{1,63}$')


class HospitalService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(self, *, slug: str, name: str) -> HospitalView:
        """Create a hospital."""
        slug, name = slug.strip().lower(), name.strip()
        if not SLUG.match(slug):
            raise InvalidInput('A hospital slug has 2-64 characters: lower-case letters, digits or "-".')
        if not name:
            raise InvalidInput('A hospital needs a name.')
        async with self._db.uow() as uow:
            hospital = Hospital(slug=slug, name=name, event_seq=0, created_at=self._clock())
            await add_unique(uow.session, hospital, f'A hospital with the slug "{slug}" exists already.')
            view = HospitalView.model_validate(hospital)
            await uow.commit()
            return view

    async def add_ward(self, *, hospital_slug: str, name: str) -> WardView:
        """Add a ward to a hospital."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput('A ward name has 1-100 characters.')
        async with self._db.uow() as uow:
            hospital = await hospital_by_slug(uow.session, hospital_slug)
            ward = Ward(hospital_id=hospital.id, name=name)
            await add_unique(uow.session, ward, f'{hospital.name} already has a ward named "{name}".')
            view = WardView.model_validate(ward)
            await uow.commit()
            return view

    async def get(self, slug: str) -> HospitalView:
        """Return a hospital by slug."""
        async with self._db.read() as session:
            return HospitalView.model_validate(await hospital_by_slug(session, slug))

    async def by_id(self, hospital_id: int) -> HospitalView:
        """Return a hospital by id."""
        async with self._db.read() as session:
            hospital = await session.get(Hospital, hospital_id)
            if hospital is None:
                raise HospitalNotFound(f'No hospital with id {hospital_id}.')
            return HospitalView.model_validate(hospital)

    async def wards_of(self, hospital_id: int) -> list[WardView]:
        """Return the wards of a hospital by id, by name."""
        async with self._db.read() as session:
            wards = await session.scalars(select(Ward).where(Ward.hospital_id == hospital_id).order_by(Ward.name))
            return [WardView.model_validate(w) for w in wards]

    async def list_hospitals(self) -> list[HospitalView]:
        """Return every hospital."""
        async with self._db.read() as session:
            hospitals = await session.scalars(select(Hospital).order_by(Hospital.slug))
            return [HospitalView.model_validate(h) for h in hospitals]

    async def wards(self, slug: str) -> list[WardView]:
        """Return the wards of a hospital, by name."""
        async with self._db.read() as session:
            hospital = await hospital_by_slug(session, slug)
            wards = await session.scalars(select(Ward).where(Ward.hospital_id == hospital.id).order_by(Ward.name))
            return [WardView.model_validate(w) for w in wards]
