"""HL7 v2 feeds: senders registered to hospitals, each message's control id kept with its write, device alarms.

Readings go through PatientService.record_vitals (the path of the JSON API: limits, detection, NEWS2, events) and
alarms through the alert writes that the alert service uses; the control id (MSH-10) is inserted by the unit of
work's commit hook, in the same transaction, so a message answered AA is stored exactly once however often the
sender repeats it.
"""

import ipaddress
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain import OPEN_STATUSES, AlertKind, Priority
from app.domain.text import check_one_line
from app.errors import InvalidInput, NotFound, PatientNotFound
from app.events import BaseEvent
from app.schemas import Actor, AlertView, View, VitalReadingIn
from app.uow import Database, commit_hook
from data.models import Alert, Hl7Message, Hl7Sender, Hospital, Patient
from data.queries import alerts_with_context, patients_with_ward

from .alert_writes import clear, open_alert, resolve_by_system, retrigger
from .common import add_unique, hospital_by_slug
from .patients import PatientService
from .rules import RulesService

log = logging.getLogger(__name__)
MAX_NAME = 200
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
STARTING_PHASES = frozenset({'start', 'start_only'})
# A control id is remembered this long: a gateway that buffered through a network outage resends within hours, and
# a row per message kept for ever would grow without bound.
CONTROL_IDS_KEPT = timedelta(days=7)
PURGE_EVERY = timedelta(minutes=10)


class Hl7SenderNotFound(NotFound):
    """No sender with this application and facility is registered."""


class SenderView(View):
    id: int
    hospital_id: int
    hospital_slug: str
    application: str
    facility: str
    allowed_from: tuple[str, ...]
    created_at: datetime

    @property
    def actor(self) -> Actor:
        """Return who the record says acted: the feed, as "hl7:APPLICATION^FACILITY"."""
        return Actor.system(f'hl7:{self.application}^{self.facility}'[:100], self.hospital_id)

    def allows(self, address: str | None) -> bool:
        """Tell whether a message from this address may be taken (no allowlist: any address)."""
        if not self.allowed_from:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(network) for network in self.allowed_from)


def parse_networks(values: Sequence[str]) -> tuple[str, ...]:
    """Return addresses or networks (10.20.0.15, 10.20.0.0/24) in their normal form, or raise InvalidInput."""
    networks: list[str] = []
    for value in values:
        for item in (part.strip() for part in value.split(',')):
            if not item:
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise InvalidInput(f'"{item}" is not an address or a network such as 10.20.0.0/24.') from None
    return tuple(dict.fromkeys(networks))


def _name(value: str, what: str) -> str:
    value = value.strip()
    check_one_line(value, what)
    if not 1 <= len(value) <= MAX_NAME or any(separator in value for separator in '|^~\\&'):
        raise InvalidInput(f'{what} has 1-{MAX_NAME} characters and no HL7 separators (| ^ ~ \\ &).')
    return value


class MessageRecord:
    """The commit hook that stores a message's control id in the transaction of the first commit it makes."""

    def __init__(self, sender_id: int, control_id: str, message_type: str, now: datetime) -> None:
        self._row = {'sender_id': sender_id, 'control_id': control_id, 'message_type': message_type,
                     'received_at': now}
        self.stored = False

    async def __call__(self, session: AsyncSession, events: Sequence[BaseEvent]) -> None:
        if not self.stored:
            await session.execute(insert(Hl7Message).values(**self._row))
            self.stored = True

    def forget(self) -> None:
        """The transaction that stored the control id was rolled back: store it with the next attempt."""
        self.stored = False


class Hl7FeedService:
    def __init__(self, db: Database, clock: Clock, patients: PatientService, rules: RulesService) -> None:
        self._db = db
        self._clock = clock
        self._patients = patients
        self._rules = rules
        self._last_purge: datetime | None = None

    # --- the registry (CLI) ----------------------------------------------------------------------------------------

    async def register(self, *, hospital_slug: str, application: str, facility: str,
                       allowed_from: Sequence[str] = ()) -> SenderView:
        """Register a sending application and facility (MSH-3, MSH-4) to a hospital."""
        application, facility = _name(application, 'The application'), _name(facility, 'The facility')
        networks = parse_networks(allowed_from)
        async with self._db.uow() as uow:
            hospital = await hospital_by_slug(uow.session, hospital_slug)
            sender = Hl7Sender(hospital_id=hospital.id, application=application, facility=facility,
                               allowed_from=','.join(networks), created_at=self._clock())
            await add_unique(uow.session, sender, f'{application}^{facility} is already registered.')
            view = _view(sender, hospital.slug)
            await uow.commit()
        return view

    async def senders(self, hospital_slug: str | None = None) -> list[SenderView]:
        """Return the registered senders (of one hospital, or all), by hospital, application and facility."""
        async with self._db.read() as session:
            statement = select(Hl7Sender).order_by(Hl7Sender.hospital_id, Hl7Sender.application, Hl7Sender.facility)
            if hospital_slug is not None:
                hospital = await hospital_by_slug(session, hospital_slug)
                statement = statement.where(Hl7Sender.hospital_id == hospital.id)
            rows = list(await session.scalars(statement))
            slugs = await _slugs(session, {row.hospital_id for row in rows})
        return [_view(row, slugs[row.hospital_id]) for row in rows]

    async def remove(self, *, hospital_slug: str, application: str, facility: str) -> None:
        """Remove a sender of this hospital; its messages are refused (AR) from then on."""
        async with self._db.uow() as uow:
            hospital = await hospital_by_slug(uow.session, hospital_slug)
            result = await uow.session.execute(delete(Hl7Sender).where(
                Hl7Sender.hospital_id == hospital.id, Hl7Sender.application == application.strip(),
                Hl7Sender.facility == facility.strip()))
            if not getattr(result, 'rowcount', 0):
                raise Hl7SenderNotFound(f'{hospital.name} has no HL7 sender {application}^{facility}.')
            await uow.commit()

    async def sender(self, application: str, facility: str) -> SenderView | None:
        """Return the registered sender of this MSH-3 and MSH-4, if any."""
        async with self._db.read() as session:
            row = await session.scalar(select(Hl7Sender).where(
                Hl7Sender.application == application, Hl7Sender.facility == facility))
            if row is None:
                return None
            return _view(row, (await _slugs(session, {row.hospital_id}))[row.hospital_id])

    # --- messages --------------------------------------------------------------------------------------------------

    async def seen(self, sender: SenderView, control_id: str) -> bool:
        """Tell whether a message with this control id from this sender was already accepted."""
        await self._purge_now_and_then()
        async with self._db.read() as session:
            return await session.get(Hl7Message, (sender.id, control_id)) is not None

    async def purge_control_ids(self) -> int:
        """Forget the control ids of messages older than CONTROL_IDS_KEPT; return how many went."""
        async with self._db.uow() as uow:
            result = await uow.session.execute(
                delete(Hl7Message).where(Hl7Message.received_at < self._clock() - CONTROL_IDS_KEPT))
            await uow.commit()
        return int(getattr(result, 'rowcount', 0) or 0)

    async def _purge_now_and_then(self) -> None:
        now = self._clock()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        try:
            await self.purge_control_ids()
        except SQLAlchemyError:
            log.exception('could not purge old HL7 control ids')  # housekeeping: tried again later

    async def record_readings(self, sender: SenderView, control_id: str, message_type: str,
                              readings: Sequence[VitalReadingIn]) -> bool:
        """Store a message's readings and its control id in one transaction; False if it was stored before."""
        record = MessageRecord(sender.id, control_id, message_type, self._clock())
        try:
            reset = commit_hook.set(record)
            try:
                if readings:
                    await self._patients.record_vitals(sender.actor, readings)
                else:
                    await self._record_only()
            finally:
                commit_hook.reset(reset)
        except IntegrityError:
            if await self.seen(sender, control_id):
                return False  # the same message, committed by a connection that sent it at the same moment
            raise
        return True

    async def report_alarm(self, sender: SenderView, control_id: str, message_type: str, mrn: str, *,
                           dedup_key: str, priority: Priority | None, ended: bool, latched_at_device: bool,
                           starting: bool, message: str) -> AlertView | None:
        """Raise, count, clear or resolve the patient's alert for a device alarm; store the control id with it."""
        record = MessageRecord(sender.id, control_id, message_type, self._clock())
        reset = commit_hook.set(record)
        try:
            return await self._alarm(sender.actor, mrn, dedup_key=dedup_key, priority=priority, ended=ended,
                                     latched_at_device=latched_at_device, starting=starting, message=message)
        except IntegrityError:
            if await self.seen(sender, control_id):
                return None
            raise
        finally:
            commit_hook.reset(reset)

    async def _record_only(self) -> None:
        async with self._db.uow() as uow:
            await uow.commit()

    async def _alarm(self, actor: Actor, mrn: str, *, dedup_key: str, priority: Priority | None, ended: bool,
                     latched_at_device: bool, starting: bool, message: str) -> AlertView | None:
        hospital_id = actor.hospital_id
        assert hospital_id is not None, 'a sender belongs to a hospital'
        check_one_line(message, 'The alarm text')
        async with self._db.uow() as uow:
            session = uow.session
            patient = await session.scalar(patients_with_ward().where(
                Patient.hospital_id == hospital_id, Patient.mrn == mrn))
            if patient is None:
                raise PatientNotFound(f'No patient with MRN "{mrn}" in this hospital.')
            existing = await session.scalar(alerts_with_context().where(
                Alert.hospital_id == hospital_id, Alert.patient_id == patient.id, Alert.dedup_key == dedup_key,
                Alert.status.in_(OPEN_STATUSES)).with_for_update(of=Alert))
            rules = await self._rules.rules(hospital_id, session)
            now = self._clock()
            view = None
            if ended:
                if existing is not None and existing.cleared_at is None:
                    note = 'the monitor reports the alarm ended'
                    if latched_at_device or rules.alarms_latch:
                        why = 'the monitor latched it' if latched_at_device else 'this hospital latches alarms'
                        view = await clear(uow, actor, existing, now, f'{note}; it stays until a person resolves it '
                                           f'({why})')
                    else:
                        view = await resolve_by_system(uow, actor, existing, now, f'{note}; resolved by the system '
                                                       'because this hospital does not latch alarms')
            elif priority is not None:
                if existing is None:
                    _, view = await open_alert(uow, actor, ward=patient.ward, patient=patient, kind=AlertKind.EXTERNAL,
                                               priority=priority, message=message, dedup_key=dedup_key, now=now,
                                               policy=rules.escalation)
                elif starting or existing.cleared_at is not None or priority.rank < Priority(existing.priority).rank:
                    # A new episode, or a worse one; a "continue" at the same priority is the same alarm going on.
                    view = await retrigger(uow, actor, existing, now, rules.escalation, priority=priority,
                                           message=message)
            await uow.commit()
            return view


async def _slugs(session: AsyncSession, hospital_ids: set[int]) -> dict[int, str]:
    rows = await session.execute(select(Hospital.id, Hospital.slug).where(Hospital.id.in_(hospital_ids)))
    return {hospital_id: slug for hospital_id, slug in rows}


def _view(sender: Hl7Sender, slug: str) -> SenderView:
    return SenderView(id=sender.id, hospital_id=sender.hospital_id, hospital_slug=slug,
                      application=sender.application, facility=sender.facility,
                      allowed_from=tuple(n for n in sender.allowed_from.split(',') if n),
                      created_at=sender.created_at)
