"""Idempotent demo seed: two fictional hospitals, their wards, patients and staff accounts.

Every name here is invented. Running the seed again creates nothing twice and never resets a password.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .enums import Role
from .models import Hospital, Patient, User, Ward

GENERAL_WARDS = {
    'Acute Medical Unit': 'AMU',
    'Cardiology': 'CAR',
    'Respiratory': 'RES',
}
GENERAL_PATIENTS = [
    'Eleanor Whitfield', 'Marcus Okafor', 'Priya Raman', 'Tomasz Nowak', 'Grace Adebayo', 'Henry Lindqvist',
    'Fatima Haddad', 'Oliver Brennan', 'Mei Lin Tan', 'Samuel Achterberg', 'Rosa Delgado', 'Kwame Mensah',
    'Ingrid Solberg', 'Declan Murphy', 'Aisha Karimi', 'Walter Pemberton', 'Lucia Ferraro', 'Benedict Osei',
    'Hannah Kowalczyk', 'Ravi Chandran', 'Margaret Doyle', 'Yusuf Demir', 'Clara Jansen', 'Arthur Blackwood',
]
# Two respiratory patients with confirmed hypercapnic respiratory failure: NEWS2 SpO2 scale 2 (target 88-92 %).
SCALE_2_BEDS = {'RES-03', 'RES-06'}
RIVERSIDE_PATIENTS = ['Nora Castellanos', 'Peter Hollis', 'Amara Nwosu', 'Jonas Weber', 'Lily Thornton']
STAFF = [
    # username, display name, role, hospital slug, ward names (empty: none assigned)
    ('admin', 'Alex Morgan', Role.ADMIN, 'general', list(GENERAL_WARDS)),
    ('charge', 'Jordan Ellis', Role.CHARGE_NURSE, 'general', ['Acute Medical Unit', 'Cardiology']),
    ('nurse', 'Sam Patel', Role.NURSE, 'general', ['Acute Medical Unit']),
    ('doctor', 'Dr Robin Asante', Role.PHYSICIAN, 'general', []),
    ('rnurse', 'Kit Fernandes', Role.NURSE, 'riverside', ['Riverside Ward']),
]


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=lambda: {'hospitals': 0, 'wards': 0, 'patients': 0, 'users': 0})

    @property
    def total(self) -> int:
        return sum(self.created.values())


async def seed_demo(session: AsyncSession, hash_password: Callable[[], Awaitable[str]], now: datetime) -> SeedReport:
    """Create whatever part of the demo is missing; the caller commits."""
    report = SeedReport()
    general = await _hospital(session, report, 'general', 'Vigil General Hospital', now)
    riverside = await _hospital(session, report, 'riverside', 'Riverside Community Hospital', now)
    wards: dict[tuple[str, str], Ward] = {}
    for name in GENERAL_WARDS:
        wards['general', name] = await _ward(session, report, general, name)
    wards['riverside', 'Riverside Ward'] = await _ward(session, report, riverside, 'Riverside Ward')

    names = iter(GENERAL_PATIENTS)
    for ward_number, (ward_name, code) in enumerate(GENERAL_WARDS.items(), start=1):
        for bed_number in range(1, 9):
            bed = f'{code}-{bed_number:02d}'
            await _patient(session, report, wards['general', ward_name], f'G{100000 + ward_number * 100 + bed_number}',
                           next(names), bed, 2 if bed in SCALE_2_BEDS else 1, now)
    for bed_number, name in enumerate(RIVERSIDE_PATIENTS, start=1):
        await _patient(session, report, wards['riverside', 'Riverside Ward'], f'R{500000 + bed_number}', name,
                       f'RW-{bed_number:02d}', 1, now)

    hospitals = {'general': general, 'riverside': riverside}
    for username, display_name, role, slug, ward_names in STAFF:
        if await session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        session.add(User(hospital_id=hospitals[slug].id, username=username, display_name=display_name, role=role,
                         password_hash=await hash_password(), active=True,
                         password_changed_at=now, created_at=now, wards=[wards[slug, w] for w in ward_names]))
        report.created['users'] += 1
    await session.flush()
    return report


async def _hospital(session: AsyncSession, report: SeedReport, slug: str, name: str, now: datetime) -> Hospital:
    hospital = await session.scalar(select(Hospital).where(Hospital.slug == slug))
    if hospital is None:
        hospital = Hospital(slug=slug, name=name, event_seq=0, created_at=now)
        session.add(hospital)
        await session.flush()
        report.created['hospitals'] += 1
    return hospital


async def _ward(session: AsyncSession, report: SeedReport, hospital: Hospital, name: str) -> Ward:
    ward = await session.scalar(select(Ward).where(Ward.hospital_id == hospital.id, Ward.name == name))
    if ward is None:
        ward = Ward(hospital_id=hospital.id, name=name)
        session.add(ward)
        await session.flush()
        report.created['wards'] += 1
    return ward


async def _patient(session: AsyncSession, report: SeedReport, ward: Ward, mrn: str, name: str, bed: str,
                   spo2_scale: int, now: datetime) -> None:
    exists = await session.scalar(select(Patient.id).where(Patient.hospital_id == ward.hospital_id, Patient.mrn == mrn))
    if exists is None:
        session.add(Patient(hospital_id=ward.hospital_id, ward_id=ward.id, mrn=mrn, name=name, bed=bed,
                            spo2_scale=spo2_scale, admitted_at=now))
        report.created['patients'] += 1
