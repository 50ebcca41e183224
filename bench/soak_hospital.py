"""The soak benchmark's hospital: its seed (through Vigil's services) and the bedside gateways that feed it.

Wards of BEDS_PER_WARD beds, one nurse account per ward, a charge nurse per group of wards, physicians, a kiosk
token per wall display, a device token per ward gateway and an integration token for the event stream. Staff and
tokens are created with the services the operator command line uses; the patients with the ORM models inside one
unit of work, as the demo seed does (Vigil has no admission use case: patients come from the hospital's ADT).
"""

import asyncio
import math
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from app.bootstrap import build, migrate
from app.config import Settings
from app.domain import TokenKind, VitalKind
from app.domain.scope import AccessScope, AlertReach
from app.domain.vitals import VITAL_SPECS
from app.schemas import Actor
from app.simulator import Eventfulness, PatientModel
from app.simulator.gateway import MAX_BACKOFF_SECONDS, RETRYABLE
from data.enums import Role
from data.models import Patient

SLUG = 'soak'
BEDS_PER_WARD = 25
WARDS_PER_CHARGE_NURSE = 5
PHYSICIANS = 2
# Each patient starts an episode of deterioration about once in this many seconds (capped by the refractory
# period): with 500 beds a few patients a minute begin to deteriorate, and detection raises their alerts minutes
# later. No probe artefacts: a set a minute is an average a gateway reports, not a raw sensor sample.
EPISODE_EVERY = 100 * 60.0
# This share of the patients is already deteriorating when the soak starts, at a random point of the episode's
# onset, so that alerts come from the first minutes on.
ALREADY_DETERIORATING = 0.03


@dataclass(frozen=True)
class Staff:
    username: str
    role: Role
    ward_ids: frozenset[int]

    def scope(self, hospital_id: int) -> AccessScope:
        """Return what this person's screens may show (the app's own access rule)."""
        reach = {Role.NURSE: AlertReach.WARDS, Role.CHARGE_NURSE: AlertReach.WARDS_OR_ESCALATED,
                 Role.PHYSICIAN: AlertReach.URGENT, Role.ADMIN: AlertReach.EVERY}[self.role]
        wards = None if self.role in (Role.PHYSICIAN, Role.ADMIN) else self.ward_ids
        return AccessScope(hospital_id=hospital_id, wards=wards, alerts=reach, staff=True)


@dataclass(frozen=True)
class Bed:
    mrn: str
    ward_id: int
    spo2_scale: int


@dataclass
class Hospital:
    """What the seed created: ids, accounts (with their one password), token secrets and the beds."""

    hospital_id: int = 0
    wards: dict[int, str] = field(default_factory=dict)
    staff: list[Staff] = field(default_factory=list)
    password: str = ''
    devices: dict[int, str] = field(default_factory=dict)  # ward id -> device token secret
    kiosks: list[str] = field(default_factory=list)
    integration: str = ''
    beds: list[Bed] = field(default_factory=list)

    @property
    def kiosk_scope(self) -> AccessScope:
        return AccessScope(hospital_id=self.hospital_id, wards=None, alerts=AlertReach.EVERY, staff=False)


async def seed_hospital(settings: Settings, beds: int, kiosks: int) -> Hospital:
    """Migrate the database and create the hospital, its wards, patients, staff and tokens."""
    await migrate(settings)
    vigil = build(settings)
    plan = Hospital(password=secrets.token_urlsafe(18))
    system = Actor.system('soak benchmark seed')
    try:
        hospital = await vigil.hospitals.create(slug=SLUG, name='Soak Test Hospital')
        plan.hospital_id = hospital.id
        for number in range(1, math.ceil(beds / BEDS_PER_WARD) + 1):
            ward = await vigil.hospitals.add_ward(hospital_slug=SLUG, name=f'Ward {number:02d}')
            plan.wards[ward.id] = ward.name
        ward_ids = sorted(plan.wards)
        now = datetime.now(UTC)
        async with vigil.db.uow() as uow:
            for index in range(beds):
                ward_id = ward_ids[index // BEDS_PER_WARD]
                mrn = f'S{100000 + index}'
                scale = 2 if index % 40 == 7 else 1  # a few patients with hypercapnic respiratory failure
                bed = f'{index // BEDS_PER_WARD + 1:02d}-{index % BEDS_PER_WARD + 1:02d}'
                uow.session.add(Patient(hospital_id=hospital.id, ward_id=ward_id, mrn=mrn,
                                        name=f'Soak patient {index + 1}', bed=bed, spo2_scale=scale, admitted_at=now))
                plan.beds.append(Bed(mrn, ward_id, scale))
            await uow.commit()
        accounts = [(f'nurse-{n + 1:02d}', Role.NURSE, [ward_ids[n]]) for n in range(len(ward_ids))]
        for n in range(0, len(ward_ids), WARDS_PER_CHARGE_NURSE):
            accounts.append((f'charge-{n // WARDS_PER_CHARGE_NURSE + 1:02d}', Role.CHARGE_NURSE,
                             ward_ids[n:n + WARDS_PER_CHARGE_NURSE]))
        accounts += [(f'doctor-{n + 1:02d}', Role.PHYSICIAN, []) for n in range(PHYSICIANS)]
        for username, role, wards in accounts:
            await vigil.users.create(system, hospital_slug=SLUG, username=username, password=plan.password, role=role,
                                     ward_names=[plan.wards[w] for w in wards])
            plan.staff.append(Staff(username, role, frozenset(wards)))
        for ward_id, name in plan.wards.items():
            created = await vigil.tokens.create(hospital_slug=SLUG, kind=TokenKind.DEVICE, name=f'Gateway {name}')
            plan.devices[ward_id] = created.secret
        for n in range(kiosks):
            created = await vigil.tokens.create(hospital_slug=SLUG, kind=TokenKind.KIOSK, name=f'Wall display {n + 1}')
            plan.kiosks.append(created.secret)
        created = await vigil.tokens.create(hospital_slug=SLUG, kind=TokenKind.INTEGRATION, name='Soak event stream')
        plan.integration = created.secret
    finally:
        await vigil.close()
    return plan


@dataclass
class Monitor:
    """One bed's monitor: a patient model and when, within each minute, its full set goes out."""

    bed: Bed
    model: PatientModel
    slot: float  # seconds into each minute
    lead: float  # model time ahead of the run's clock (a deterioration already under way)


# Called for every request with (its latency in s, readings in it, readings accepted, HTTP status or None for a
# transport error, whether it is a retry, whether the gateway gives the readings up).
IngestCallback = Callable[[float, int, int, int | None, bool, bool], None]
ATTEMPTS = 6  # a real gateway buffers and retries for longer; 6 attempts span about 30 s of back-off


class Gateways:
    """One gateway per ward posts each bed's full set of NEWS2 observations once a minute, spread over the minute."""

    def __init__(self, base: str, hospital: Hospital, seed: int, on_result: IngestCallback, *,
                 episode_every: float = EPISODE_EVERY, already_deteriorating: float = ALREADY_DETERIORATING) -> None:
        self._base = base
        self._hospital = hospital
        self._on_result = on_result
        self._tasks: set[asyncio.Task[None]] = set()
        rng = random.Random(f'{seed}:soak')
        eventful = Eventfulness(episode_every=episode_every, artefact_every=0)
        self.monitors: list[Monitor] = []
        count = len(hospital.beds)
        # Bed n of every ward, then bed n + 1 of every ward: each ward's beds, and the hospital's, are spread evenly
        # over the minute (one set per request most of the time).
        order = sorted(range(count), key=lambda i: (i % BEDS_PER_WARD, i // BEDS_PER_WARD))
        rank = {index: position for position, index in enumerate(order)}
        for index, bed in enumerate(hospital.beds):
            model = PatientModel(bed.mrn, bed.spo2_scale, seed, eventful)
            lead = 0.0
            if rng.random() < already_deteriorating:
                model.start_episode(peak=rng.uniform(0.7, 1.0))
                lead = rng.uniform(0.3, 0.9) * model.episode.onset if model.episode else 0.0
            self.monitors.append(Monitor(bed, model, slot=rank[index] * 60.0 / count, lead=lead))

    async def run(self, seconds: float) -> None:
        """Send for `seconds`, then wait for the requests still under way."""
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(self._base, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=60)) as http:
            began = time.monotonic()
            sent_until = -1.0  # the bed of slot 0 sends at once
            while (now := time.monotonic() - began) < seconds:
                due: dict[int, list[dict[str, Any]]] = {}
                for monitor in self.monitors:
                    # Slots in (sent_until, now], minute after minute: each bed once per minute.
                    minute_start = math.floor((now - monitor.slot) / 60.0) * 60.0 + monitor.slot
                    if sent_until < minute_start <= now:
                        due.setdefault(monitor.bed.ward_id, []).extend(full_set(monitor, minute_start))
                sent_until = now
                for ward_id, readings in due.items():
                    self._spawn(self._post(http, self._hospital.devices[ward_id], readings))
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began - now)))
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, http: aiohttp.ClientSession, token: str, readings: list[dict[str, Any]]) -> None:
        """Post one set as a monitor gateway does: a retryable failure is retried with the same Idempotency-Key."""
        headers = {'Authorization': f'Bearer {token}', 'Idempotency-Key': str(uuid.uuid4())}
        for attempt in range(ATTEMPTS):
            began = time.perf_counter()
            status: int | None = None
            accepted = 0
            try:
                async with http.post('/api/v1/vitals', json=readings, headers=headers) as response:
                    status = response.status
                    body = await response.json(content_type=None) if status == 201 else None
                    accepted = int(body.get('accepted', 0)) if isinstance(body, dict) else 0
            except (aiohttp.ClientError, TimeoutError):
                pass
            done = status is not None and status not in RETRYABLE
            self._on_result(time.perf_counter() - began, len(readings), accepted, status, attempt > 0,
                            not done and attempt == ATTEMPTS - 1)
            if done:
                return
            await asyncio.sleep(min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** attempt))


def full_set(monitor: Monitor, at: float) -> list[dict[str, Any]]:
    """Advance the bed's patient to run time `at` and return one reading of every NEWS2 parameter, measured now."""
    monitor.model.advance(at + monitor.lead)
    measured_at = datetime.now(UTC).isoformat()
    return [{'patient_mrn': monitor.bed.mrn, 'kind': kind.value, 'value': monitor.model.reading(kind),
             'unit': VITAL_SPECS[kind].unit, 'measured_at': measured_at} for kind in VitalKind]
