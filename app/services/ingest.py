"""Group commit for readings: requests that arrive while a write is under way share the next transaction.

Each request (a member) is validated before it joins, and answered only after the transaction holding its readings
has committed (or with its own error). Per hospital, the waiting members are written in one transaction and one
COMMIT: the fsync, the event numbering, the patient look-up and, for members about different patients, every
statement of the write path are shared. Members whose patients overlap are written one after the other inside
that transaction, so detection sees each request exactly as if it had committed alone. If the shared transaction
fails, it is rolled back whole and every member is written again alone, so each gets its own true answer.
"""

import asyncio
import contextvars
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain import TokenKind, VitalKind
from app.domain.limits import HospitalRules
from app.errors import PatientNotFound, TokenInvalid
from app.events import BaseEvent, VitalsRecorded
from app.events.models import AlertEventBase
from app.schemas import Actor, News2View, PatientView, VitalReadingIn, VitalReadingView, VitalValue
from app.uow import CommitHook, Database, RollbackAware, UnitOfWork, commit_hook
from data.models import ApiToken, Patient
from data.queries import INSERT_READINGS, patients_with_ward, upsert_latest_vitals

from .detection import Detected, Key, StateWrites, detect, load_context
from .escalation import device_seen
from .idempotency import PendingRecord, answered_in_write
from .rules import RulesService
from .tokens import INVALID_TOKEN

log = logging.getLogger(__name__)
# While requests come concurrently, a round waits this long at most for more of them before it begins its transaction.
# Without it, four devices posting one reading at a time settled into two transactions of two (the answered pair
# comes back while the other pair is written); waiting 1 ms gathered about four per transaction and cut the server's
# CPU per reading by a third (bench.ingest; 0.5 ms gathered three, 2 ms no more than 1 ms).
GROUP_WINDOW_SECONDS = 0.001
GROUP_MEMORY = 8  # rounds whose sizes tell how many members to wait for
VIEWS: TypeAdapter[list[VitalReadingView]] = TypeAdapter(list[VitalReadingView])
KIND_NAMES: dict[VitalKind, str] = {kind: kind.value for kind in VitalKind}  # an enum's .value costs a call
# Builds a patient's view for its VitalsRecorded event: (rules, patient, latest, trigger states, now, and NEWS2 when
# detection scored it from those).
ViewBuilder = Callable[[HospitalRules, Patient, dict[VitalKind, VitalValue], Any, datetime, News2View | None],
                       PatientView]


class UnknownPatients(PatientNotFound):
    """Readings name MRNs that are not patients of the hospital; nothing of the request was stored."""

    def __init__(self, index: int, mrn: str, unknown: set[str]) -> None:
        super().__init__(f'Reading {index}: no patient with MRN "{mrn}".')
        self.mrns = unknown


@dataclass(eq=False)
class Member:
    """One request's readings waiting for, then written in, a shared transaction."""

    actor: Actor
    hospital_id: int
    readings: Sequence[VitalReadingIn]
    hook: CommitHook | None  # the request's idempotency record, written in the same transaction
    answer: asyncio.Future[list[VitalReadingView]]
    device: int | None = None  # the device token whose last-seen time this request may write
    views: list[VitalReadingView] = field(default_factory=list)
    patients: list[Patient] = field(default_factory=list)
    last: tuple[datetime, int] | None = None  # (measured_at, ward id) of the newest reading
    wrote_seen: bool = False  # this transaction wrote the device's last-seen time for this member
    received_at: datetime | None = None  # when the request came in, if its answer already says so (FHIR)

    def fail(self, error: BaseException) -> None:
        if not self.answer.done():  # the request may have been cancelled meanwhile
            self.answer.set_exception(error)


@dataclass
class _Context:
    """What a shared transaction knows of its patients as its waves go: latest vitals, trigger states, and what
    becomes the latest readings and the trigger states (written once, at the end)."""

    latest: dict[int, dict[VitalKind, VitalValue]]
    states: dict[Key, Any]
    writes: StateWrites  # the trigger states the waves changed (written once, at the end)
    newest: dict[tuple[int, str], tuple[Any, ...]] = field(default_factory=dict)  # LATEST_COLUMNS


class GroupCommit:
    """Writes readings of concurrent requests in shared transactions (one per hospital per round)."""

    def __init__(self, db: Database, clock: Clock, rules: RulesService, view: ViewBuilder,
                 seen: Callable[[int, datetime, int], bool], saw: Callable[[int, datetime], None]) -> None:
        self._db = db
        self._rounds: deque[int] = deque(maxlen=GROUP_MEMORY)  # members of the latest rounds
        self._round = 0
        self._enough: asyncio.Future[None] | None = None  # set once as many members wait as the round hopes for
        self._hoped = 0
        self._clock = clock
        self._rules = rules
        self._view = view
        self._seen = seen  # tells whether a device's last-seen time was written lately (PatientService)
        self._saw = saw
        self._waiting: list[Member] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # shared transactions committed (tests and benchmarks read it)
        self.readings_stored = 0

    async def write(self, actor: Actor, hospital_id: int, readings: Sequence[VitalReadingIn], *,
                    received_at: datetime | None = None) -> list[VitalReadingView]:
        """Write one request's validated readings; return once they are committed (or raise its own error).

        `received_at` is stored as the readings' recorded_at (default: the time of the shared transaction).
        """
        member = Member(actor, hospital_id, readings, commit_hook.get(), asyncio.get_running_loop().create_future(),
                        received_at=received_at)
        if actor.kind == 'token' and actor.token_kind is TokenKind.DEVICE:
            member.device = actor.token_id
        self._waiting.append(member)
        if self._enough is not None and len(self._waiting) >= self._hoped:
            _release(self._enough)
        if self._writer is None:
            # A fresh context: the writer serves every member, so no request's context variables (its idempotency
            # hook) may leak into it.
            self._writer = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())
        return await member.answer

    async def _drain(self) -> None:
        group: list[Member] = []
        try:
            while self._waiting:
                await self._gather()
                group, self._waiting = self._waiting, []
                self._rounds.append(len(group))
                self._round += 1
                by_hospital: dict[int, list[Member]] = defaultdict(list)
                for member in group:
                    by_hospital[member.hospital_id].append(member)
                for members in by_hospital.values():
                    await self._write_group(members)
        except BaseException as error:
            # Cancelled (the server stops) or a bug: no request may wait for an answer that never comes.
            for member in [*group, *self._waiting]:
                member.fail(error if isinstance(error, Exception) else RuntimeError('the server is stopping'))
            self._waiting = []
            raise
        finally:
            self._writer = None

    async def _gather(self) -> None:
        """While requests come concurrently, wait up to the window until as many members wait as the largest of the
        latest rounds had (one more, every GROUP_MEMORY rounds: more devices may have come); a lone device never
        waits. Members are answered after the commit, as always."""
        largest = max(self._rounds, default=0)
        self._hoped = largest + 1 if self._round % GROUP_MEMORY == 0 else largest
        if largest < 2 or len(self._waiting) >= self._hoped:
            return
        loop = asyncio.get_running_loop()
        self._enough = enough = loop.create_future()
        timer = loop.call_later(GROUP_WINDOW_SECONDS, _release, enough)
        try:
            await enough
        finally:
            timer.cancel()
            self._enough = None

    async def _write_group(self, members: list[Member]) -> None:
        live = [m for m in members if not m.answer.done()]
        if not live:
            return
        try:
            failed = await self._transaction(live)
        except Exception as shared:
            if len(live) == 1:
                live[0].fail(shared)
                return
            log.warning('a shared ingest transaction of %d requests failed (%s); writing them one by one',
                        len(live), type(shared).__name__)
            for member in live:
                if isinstance(member.hook, RollbackAware):
                    member.hook.forget()  # its rows (idempotency record, HL7 control id) were rolled back too
                try:
                    refused = await self._transaction([member])
                except Exception as alone:
                    member.fail(alone)
                    continue
                for _, error in refused:
                    member.fail(error)
            return
        for member, error in failed:
            member.fail(error)

    async def _transaction(self, members: list[Member]) -> list[tuple[Member, BaseException]]:
        """Write the members in one transaction; answer the written ones after COMMIT, return the refused ones."""
        now = self._clock()
        hospital_id = members[0].hospital_id
        refused: list[tuple[Member, BaseException]] = []
        for member in members:
            member.wrote_seen = False  # a shared attempt that rolled back wrote nothing
        async with self._db.uow() as uow:
            session = uow.session
            rules = await self._rules.rules(hospital_id, session)
            patients = await _lock_patients(session, hospital_id, {r.patient_mrn for m in members for r in m.readings})
            revoked = await _revoked_tokens(session, members)
            # Keys not looked up before the write: a retry whose answer is stored writes nothing and gets that answer;
            # a key used for another request is refused.
            answered = await answered_in_write(session, [m.hook for m in members if isinstance(m.hook, PendingRecord)
                                                         and m.hook.look_up_in_write])
            written: list[Member] = []
            for member in members:
                unknown = {r.patient_mrn for r in member.readings if r.patient_mrn not in patients}
                if isinstance(member.hook, PendingRecord) and member.hook in answered:
                    refused.append((member, answered[member.hook]))
                elif member.actor.token_id in revoked:
                    refused.append((member, TokenInvalid(INVALID_TOKEN)))
                elif unknown:
                    index, mrn = next((i, r.patient_mrn) for i, r in enumerate(member.readings)
                                      if r.patient_mrn in unknown)
                    refused.append((member, UnknownPatients(index, mrn, unknown)))
                else:
                    written.append(member)
            if not written:
                return refused
            owners: list[tuple[Member, int]] = []  # which member each queued event belongs to (by position)
            context = await self._write_readings(uow, rules, now, patients, written)
            for wave in _waves(written):
                start = uow.queued
                events = await self._detect_wave(uow, rules, now, context, wave)
                owners.extend((member, len(member_events)) for member, member_events in events)
                uow.requeue_since(start, [event for _, member_events in events for event in member_events])
            await context.writes.flush(uow)
            await upsert_latest_vitals(await session.connection(), list(context.newest.values()))
            owners.extend(await self._devices_seen(uow, rules, now, written))
            hooks = [(m, m.hook) for m in written if m.hook is not None]
            await uow.commit(_member_hooks(owners, hooks) if hooks else None)
        self.commits += 1
        for member in written:
            self.readings_stored += len(member.readings)
            if member.device is not None and member.wrote_seen:
                self._saw(member.device, now)
            if not member.answer.done():
                member.answer.set_result(member.views)
        return refused

    async def _write_readings(self, uow: UnitOfWork, rules: HospitalRules, now: datetime,
                              patients: dict[str, Patient], members: list[Member]) -> '_Context':
        """Insert every member's readings (one statement) and load the patients' latest vitals and trigger states."""
        # Measured this long before it arrived: history (a chart, an audit), never the patient's present.
        history_before = now - timedelta(hours=rules.stale_reading_hours)
        rows: list[tuple[Any, ...]] = []  # READING_COLUMNS
        ids = {mrn: patient.id for mrn, patient in patients.items()}  # ORM attributes: read once, not per reading
        for member in members:
            recorded_at, source = member.received_at or now, member.actor.name
            # Built from readings validated before they joined, all in one pass through pydantic's core (less CPU
            # than a model per reading, and than model_construct, which runs in Python).
            member.views = VIEWS.validate_python([
                {'patient_id': ids[r.patient_mrn], 'kind': r.kind, 'value': r.value, 'unit': r.unit,
                 'measured_at': r.measured_at, 'source': source, 'history_only': r.measured_at < history_before}
                for r in member.readings])
            rows.extend((member.hospital_id, view.patient_id, KIND_NAMES[view.kind], view.value, view.unit,
                         view.measured_at, recorded_at, source, reading.observation_id)
                        for reading, view in zip(member.readings, member.views, strict=True))
            # In id order, as they are locked: the request's VitalsRecorded events come in this order.
            member.patients = sorted({patients[r.patient_mrn] for r in member.readings}, key=lambda p: p.id)
            newest = max(range(len(member.readings)), key=lambda i: member.readings[i].measured_at)
            member.last = (member.readings[newest].measured_at, patients[member.readings[newest].patient_mrn].ward_id)
        # Core executemany on the table: the ORM's bulk path adds only bookkeeping, and RETURNING the ids in parameter
        # order would make SQLite insert row by row.
        await INSERT_READINGS.execute(await uow.session.connection(), rows)
        latest, states = await load_context(uow, sorted({p.id for m in members for p in m.patients}))
        return _Context(latest, states, StateWrites(states))

    async def _detect_wave(self, uow: UnitOfWork, rules: HospitalRules, now: datetime, context: '_Context',
                           wave: list[Member]) -> list[tuple[Member, list[BaseEvent]]]:
        """Detect on members about different patients as one batch; return each member's events, in its order.

        Waves run one after the other in the transaction, each from the latest vitals and trigger states the
        previous one left (kept here, not read back): the same as if each had committed alone.
        """
        by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
        owner_of: dict[int, Member] = {}
        for member in wave:
            for patient in member.patients:
                owner_of[patient.id] = member
            for view in member.views:
                if not view.history_only:  # history-only readings never become latest nor alert
                    by_patient[view.patient_id].append({'kind': view.kind, 'value': view.value,
                                                        'unit': view.unit, 'measured_at': view.measured_at})
        touched = sorted((p for m in wave for p in m.patients), key=lambda p: p.id)
        before = {p.id: context.latest.get(p.id, {}) for p in touched}
        after = {p.id: dict(before[p.id]) for p in touched}
        for patient_id, batch in by_patient.items():
            current = after[patient_id]
            newest: dict[VitalKind, dict[str, Any]] = {}
            for row in batch:
                # The same rule as the upsert: a reading at least as new as the stored one wins.
                kind = row['kind']
                if kind not in newest or row['measured_at'] >= newest[kind]['measured_at']:
                    newest[kind] = row
            for kind, row in newest.items():
                if kind not in current or row['measured_at'] >= current[kind].measured_at:
                    current[kind] = VitalValue(value=row['value'], unit=row['unit'], measured_at=row['measured_at'])
                    name = KIND_NAMES[kind]
                    context.newest[(patient_id, name)] = (patient_id, name, row['value'], row['unit'],
                                                          row['measured_at'])
        queued = uow.queued
        detected = await detect(uow, rules, now, touched, before, by_patient, context.states, context.writes)
        context.latest.update(after)
        for key, state in detected.states.items():
            if state is None:
                context.states.pop(key, None)
            else:
                context.states[key] = state
        caused: dict[Member, list[BaseEvent]] = defaultdict(list)
        for event in uow.queued_since(queued):
            # Detection raises only alerts about the patients of this wave, each owned by one member.
            about = event.alert.patient_id if isinstance(event, AlertEventBase) else None
            caused[owner_of[about] if about in owner_of else wave[-1]].append(event)
        return [(member, [*self._recorded(rules, now, member, after, detected), *caused[member]]) for member in wave]

    def _recorded(self, rules: HospitalRules, now: datetime, member: Member,
                  after: dict[int, dict[VitalKind, VitalValue]], detected: Detected) -> list[BaseEvent]:
        """Return the member's VitalsRecorded events, one per patient; the readings come before what they caused."""
        views_of: dict[int, list[VitalReadingView]] = defaultdict(list)
        for view in member.views:
            views_of[view.patient_id].append(view)
        return [VitalsRecorded(
            hospital_id=member.hospital_id, ward_id=patient.ward_id, occurred_at=now, actor=member.actor.name,
            patient=self._view(rules, patient, after[patient.id], detected.states, now, detected.news2.get(patient.id)),
            readings=tuple(views_of[patient.id]))
            for patient in member.patients]

    async def _devices_seen(self, uow: UnitOfWork, rules: HospitalRules, now: datetime,
                            members: list[Member]) -> list[tuple[Member, int]]:
        """Write each device's last-seen time (when not written lately); return who owns the events it caused."""
        newest: dict[int, Member] = {}
        for member in members:
            if member.device is not None and member.last is not None:
                kept = newest.get(member.device)
                if kept is None or kept.last is None or member.last[0] >= kept.last[0]:
                    newest[member.device] = member
        owners: list[tuple[Member, int]] = []
        for token_id, member in newest.items():
            assert member.last is not None
            if self._seen(token_id, now, rules.device_silence_seconds):
                continue
            start = uow.queued
            # The device's ward is that of the patient it measured last (a heartbeat alert goes there).
            await device_seen(uow, rules, token_id, member.last[1], now)
            owners.append((member, uow.queued - start))
            member.wrote_seen = True
        return owners


# Locked in id order: concurrent writes for the same patients detect one after the other (PostgreSQL; SQLite has one
# writer anyway), so trigger states and alerts never race. Built once (building it and its cache key for every
# transaction cost as much CPU as running it).
LOCK_PATIENTS = (patients_with_ward()
                 .where(Patient.hospital_id == bindparam('hospital'),
                        Patient.mrn.in_(bindparam('mrns', expanding=True)))
                 .order_by(Patient.id).with_for_update(of=Patient))


async def _lock_patients(session: AsyncSession, hospital_id: int, mrns: set[str]) -> dict[str, Patient]:
    return {p.mrn: p for p in await session.scalars(LOCK_PATIENTS, {'hospital': hospital_id, 'mrns': sorted(mrns)})}


# NOTE: the token check that counts for readings. The route's check (TokenService.verify) may trust an answer of the
# last seconds; this one runs in the write transaction itself, so a revocation committed by any process (the
# `token revoke` command, another server) refuses every reading committed after it: "at once" means by the
# revocation's commit, not by when the request arrived. A request whose transaction checked just before that commit
# is stored, as if it had come a moment earlier.
LIVE_TOKENS = select(ApiToken.id).where(ApiToken.id.in_(bindparam('ids', expanding=True)),
                                        ApiToken.revoked_at.is_(None))


async def _revoked_tokens(session: AsyncSession, members: list[Member]) -> set[int]:
    """Return the ids of the members' API tokens that are revoked or gone, read in the write transaction."""
    ids = {m.actor.token_id for m in members if m.actor.kind == 'token' and m.actor.token_id is not None}
    if not ids:
        return set()
    return ids - set(await session.scalars(LIVE_TOKENS, {'ids': sorted(ids)}))


def _release(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_result(None)


def _waves(members: list[Member]) -> list[list[Member]]:
    """Split members, in order, into runs that share no patient (each run is written as one batch)."""
    waves: list[list[Member]] = []
    taken: set[str] = set()
    for member in members:
        mrns = {r.patient_mrn for r in member.readings}
        if not waves or taken & mrns:
            waves.append([])
            taken = set()
        waves[-1].append(member)
        taken |= mrns
    return waves


def _member_hooks(owners: list[tuple[Member, int]], hooks: list[tuple[Member, CommitHook]]
                  ) -> Callable[[AsyncSession, Sequence[BaseEvent]], Any]:
    """Return the commit hook that gives each member's idempotency record the events of that member only."""

    async def run(session: AsyncSession, events: Sequence[BaseEvent]) -> None:
        mine: dict[Member, list[BaseEvent]] = defaultdict(list)
        position = 0
        for member, count in owners:
            mine[member].extend(events[position:position + count])
            position += count
        for member, hook in hooks:
            await hook(session, mine[member])

    return run
