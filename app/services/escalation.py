"""The watchdog: escalates unanswered alerts on time, raises a heartbeat alert for devices that went silent, and an
"observations overdue" alert for patients whose next full set of NEWS2 observations is late.

Every process may run one; the database decides who does each piece of work (escalations are claimed row by row,
a silent device by an UPDATE that only one process can win), so each escalation and heartbeat alert happens once.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update

from app.clock import Clock
from app.domain import OPEN_STATUSES, AlertKind, Priority, TokenKind
from app.domain.limits import OBSERVATIONS_TRIGGER, HospitalRules, dedup_key
from app.domain.observations import OBSERVATION_GRACE_RANGE, age_text
from app.schemas import Actor, AlertView
from app.uow import Database, UnitOfWork
from data.models import Alert, ApiToken, Hospital, Patient, TriggerState, Ward
from data.queries import alerts_with_context, patients_with_ward

from .alert_writes import clear, open_alert, resolve_by_system, retrigger
from .alerts import AlertService
from .detection import confirm_delays, load_context, waiting_on_time
from .rules import RulesService

log = logging.getLogger(__name__)

WATCHDOG = Actor.system('device watchdog')
OBSERVATIONS = Actor.system('observations watchdog')
HEARTBEAT_PRIORITY = Priority.HIGH  # a silent monitor hides every alarm it would have sent
DEFAULT_INTERVAL_SECONDS = 5.0


def heartbeat_key(token_id: int) -> str:
    """Return the dedup key of a device's heartbeat alert."""
    return f'heartbeat:{token_id}'


def duration(seconds: float) -> str:
    """Return a silence as staff read it: seconds up to two minutes, then minutes, then hours and minutes."""
    if seconds < 120:
        return f'{seconds:.0f} s'
    minutes = int(seconds // 60)
    return f'{minutes} min' if minutes < 120 else f'{minutes // 60} h {minutes % 60} min'


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


async def _open_heartbeat(uow: UnitOfWork, hospital_id: int, token_id: int) -> Alert | None:
    return await uow.session.scalar(alerts_with_context().where(
        Alert.hospital_id == hospital_id, Alert.dedup_key == heartbeat_key(token_id), Alert.status.in_(OPEN_STATUSES)
    ).with_for_update(of=Alert))


async def device_seen(uow: UnitOfWork, rules: HospitalRules, token_id: int, ward_id: int, now: datetime) -> None:
    """Record that a device token sent readings (one UPDATE); if it was reported silent, clear its heartbeat alert."""
    session = uow.session
    seen = await session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.silent_since.is_(None))
        .values(last_seen_at=now, last_ward_id=ward_id).execution_options(synchronize_session=False))
    if _rowcount(seen):
        return
    token = await session.get(ApiToken, token_id, with_for_update=True)
    if token is None or token.silent_since is None:
        return
    silence = duration((now - (token.last_seen_at or token.silent_since)).total_seconds())
    token.last_seen_at, token.last_ward_id, token.silent_since = now, ward_id, None
    alert = await _open_heartbeat(uow, rules.hospital_id, token_id)
    if alert is None or alert.cleared_at is not None:
        return
    note = f'device "{token.name}" is sending again after {silence} of silence'
    if rules.alarms_latch:
        await clear(uow, WATCHDOG, alert, now, f'{note}; the alert stays until a person resolves it')
    else:
        await resolve_by_system(uow, WATCHDOG, alert, now, f'{note}; resolved by the system because this hospital '
                                'does not latch alarms')


def overdue_priority(late: timedelta, grace_minutes: int) -> Priority | None:
    """Return an "observations overdue" alert's priority: none within the grace, low past it, medium past twice it."""
    if late < timedelta(minutes=grace_minutes):
        return None
    return Priority.MEDIUM if late >= timedelta(minutes=2 * grace_minutes) else Priority.LOW


@dataclass(frozen=True)
class TickResult:
    escalated: tuple[AlertView, ...] = ()
    silent_devices: tuple[AlertView, ...] = ()
    overdue_observations: tuple[AlertView, ...] = ()


class Watchdog:
    """Run `tick(now)` every few seconds: escalate what is due, report devices that went silent."""

    def __init__(self, db: Database, clock: Clock, alerts: AlertService, rules: RulesService, *,
                 interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._db = db
        self._clock = clock
        self._alerts = alerts
        self._rules = rules
        self._interval = interval_seconds
        self._sleep = sleep  # tests hand in one they control
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def tick(self, now: datetime | None = None) -> TickResult:
        """Do one round of work: escalate every due alert, raise heartbeat alerts for silent devices and observations
        overdue alerts for patients whose next full set is late."""
        now = now or self._clock()
        escalated = await self._alerts.escalate_due(now)
        silent = await self.check_devices(now)
        overdue = await self.check_observations(now)
        await self.confirm_delays(now)
        return TickResult(tuple(escalated), tuple(silent), tuple(overdue))

    async def confirm_delays(self, now: datetime | None = None, limit: int = 2000) -> int:
        """Let time confirm delayed values that got no further reading (detection.Detector.confirm); return for how
        many patients it ran. Monitors sending every second confirm their own; this is for spot checks."""
        now = now or self._clock()
        async with self._db.read() as session:
            rows = (await session.execute(
                select(TriggerState.patient_id, TriggerState.hospital_id, TriggerState.trigger,
                       TriggerState.breach_since, TriggerState.last_at, TriggerState.readings, Patient.spo2_scale)
                .join(Patient, Patient.id == TriggerState.patient_id)
                .where(TriggerState.last_at <= now - timedelta(seconds=1),
                       or_(TriggerState.trigger.like('score:%'), TriggerState.trigger.like('limit:%')))
                .order_by(TriggerState.last_at).limit(limit))).all()
        due: set[tuple[int, int]] = set()
        for patient_id, hospital_id, trigger, since, last_at, readings, scale in rows:
            if (hospital_id, patient_id) not in due and waiting_on_time(
                    await self._rules.rules(hospital_id), scale, trigger, since, last_at, readings, now):
                due.add((hospital_id, patient_id))
        for hospital_id, patient_id in sorted(due):
            async with self._db.uow() as uow:
                # Locked: a reading arriving meanwhile detects first, or after this, never beside it.
                patient = await uow.session.scalar(patients_with_ward().where(Patient.id == patient_id)
                                                   .with_for_update(of=Patient))
                if patient is None:
                    continue
                rules = await self._rules.rules(hospital_id, uow.session)
                before, states = await load_context(uow, [patient_id])
                await confirm_delays(uow, rules, now, patient, before.get(patient_id, {}), states)
                await uow.commit()
        return len(due)

    async def check_observations(self, now: datetime | None = None, limit: int = 500) -> list[AlertView]:
        """Raise, or raise to medium, the "observations overdue" alert of each patient late past the grace period.

        The next full set is due at Patient.observations_due_at (detection sets it from the last full set and its
        NEWS2); past the hospital's grace period the patient gets a low alert, past twice the grace a medium one (a
        rise re-alarms, like any other). The next full set resolves it (detection).
        """
        now = now or self._clock()
        async with self._db.read() as session:
            rows = (await session.execute(
                select(Patient.id, Patient.hospital_id, Patient.observations_due_at,
                       Hospital.observation_grace_minutes, Alert.priority)
                .join(Hospital, Hospital.id == Patient.hospital_id)
                .outerjoin(Alert, and_(Alert.patient_id == Patient.id, Alert.kind == AlertKind.OBSERVATIONS_OVERDUE,
                                       Alert.status.in_(OPEN_STATUSES)))
                .where(Patient.observations_due_at <= now - timedelta(minutes=OBSERVATION_GRACE_RANGE[0]))
                .order_by(Patient.observations_due_at).limit(limit))).all()
        raised = []
        for patient_id, hospital_id, due, grace, current in rows:
            target = overdue_priority(now - due, grace) if due is not None else None
            if target is None or (current is not None and Priority(current).rank <= target.rank):
                continue
            view = await self._report_overdue(patient_id, hospital_id, target, now)
            if view is not None:
                raised.append(view)
        return raised

    async def _report_overdue(self, patient_id: int, hospital_id: int, target: Priority,
                              now: datetime) -> AlertView | None:
        async with self._db.uow() as uow:
            session = uow.session
            # Locked: a full set arriving meanwhile, or another process doing the same, waits for this and re-checks.
            patient = await session.scalar(patients_with_ward().where(Patient.id == patient_id)
                                           .with_for_update(of=Patient))
            if patient is None or patient.observations_due_at is None:
                return None
            rules = await self._rules.rules(hospital_id, session)
            due = patient.observations_due_at
            if overdue_priority(now - due, rules.observation_grace_minutes) != target:
                return None  # a full set came in meanwhile
            key = dedup_key(OBSERVATIONS_TRIGGER, patient.id)
            alert = await session.scalar(alerts_with_context().where(
                Alert.hospital_id == hospital_id, Alert.patient_id == patient.id, Alert.dedup_key == key,
                Alert.status.in_(OPEN_STATUSES)).with_for_update(of=Alert))
            if alert is not None and Priority(alert.priority).rank <= target.rank:
                return None  # another process raised it first
            message = (f'Observations overdue: a full NEWS2 set was due at {due:%H:%M} UTC, '
                       f'{age_text((now - due).total_seconds())} ago')
            if alert is not None:
                late = age_text((now - due).total_seconds())
                view = await retrigger(uow, OBSERVATIONS, alert, now, rules.escalation, priority=target,
                                       message=message, rise=f'still no full set {late} after it was due')
            else:
                _, view = await open_alert(uow, OBSERVATIONS, ward=patient.ward, patient=patient,
                                           kind=AlertKind.OBSERVATIONS_OVERDUE, priority=target, message=message,
                                           dedup_key=key, now=now, policy=rules.escalation)
            await uow.commit()
            return view

    async def check_devices(self, now: datetime | None = None) -> list[AlertView]:
        """Raise one heartbeat alert for each device token that stopped sending for longer than its hospital allows."""
        now = now or self._clock()
        async with self._db.read() as session:
            candidates = (await session.execute(
                select(ApiToken.id, ApiToken.hospital_id, ApiToken.last_seen_at, Hospital.device_silence_seconds)
                .join(Hospital, Hospital.id == ApiToken.hospital_id)
                .where(ApiToken.kind == TokenKind.DEVICE, ApiToken.revoked_at.is_(None),
                       ApiToken.last_seen_at.is_not(None), ApiToken.silent_since.is_(None)))).all()
        raised = []
        for token_id, hospital_id, last_seen_at, silence_seconds in candidates:
            if last_seen_at is not None and (now - last_seen_at).total_seconds() > silence_seconds:
                view = await self._report_silent(token_id, hospital_id, last_seen_at, now)
                if view is not None:
                    raised.append(view)
        return raised

    async def _report_silent(self, token_id: int, hospital_id: int, last_seen_at: datetime,
                             now: datetime) -> AlertView | None:
        async with self._db.uow() as uow:
            session = uow.session
            # The claim: only one process turns this silence into an alert; a reading in between changed last_seen_at.
            claimed = await session.execute(
                update(ApiToken).where(ApiToken.id == token_id, ApiToken.silent_since.is_(None),
                                       ApiToken.revoked_at.is_(None), ApiToken.last_seen_at == last_seen_at)
                .values(silent_since=now).execution_options(synchronize_session=False))
            if _rowcount(claimed) != 1:
                return None
            token = await session.get(ApiToken, token_id)
            assert token is not None
            ward = await session.get(Ward, token.last_ward_id) if token.last_ward_id is not None else None
            ward = ward or await session.scalar(select(Ward).where(Ward.hospital_id == hospital_id).order_by(Ward.id))
            if ward is None:
                log.warning('device %s of hospital %d went silent, but the hospital has no ward to alert',
                            token.name, hospital_id)
                return None
            policy = (await self._rules.rules(hospital_id, session)).escalation
            message = (f'Device "{token.name}" has sent nothing for {duration((now - last_seen_at).total_seconds())} '
                       f'(last reading {last_seen_at:%H:%M:%S} UTC): its patients are not being watched')
            alert = await _open_heartbeat(uow, hospital_id, token_id)
            if alert is not None:
                view = await retrigger(uow, WATCHDOG, alert, now, policy, priority=HEARTBEAT_PRIORITY, message=message)
            else:
                _, view = await open_alert(uow, WATCHDOG, ward=ward, patient=None, kind=AlertKind.HEARTBEAT,
                                           priority=HEARTBEAT_PRIORITY, message=message,
                                           dedup_key=heartbeat_key(token_id), now=now, policy=policy)
            await uow.commit()
            return view

    async def run(self, interval_seconds: float | None = None) -> None:
        """Tick forever; a failing step is logged and retried on the next round, never the end of the loop."""
        interval = self._interval if interval_seconds is None else interval_seconds
        log.info('watchdog started: escalation, device heartbeat and observations due every %g s', interval)
        while True:
            now = self._clock()
            # NOTE: the same steps as tick(), each guarded on its own.
            for name, step in (('escalation', self._alerts.escalate_due), ('device heartbeat', self.check_devices),
                               ('observations due', self.check_observations),
                               ('persistence delays', self.confirm_delays)):
                try:
                    await step(now)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception('watchdog: the %s step failed; retrying in %g s', name, interval)
            await self._sleep(interval)

    def start(self) -> None:
        """Start the loop as a task of the running event loop (a second call while it runs does nothing)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self.run(), name='vigil-watchdog')
        self._task.add_done_callback(self._ended)

    @staticmethod
    def _ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error('watchdog stopped unexpectedly: escalation and device heartbeat no longer run',
                      exc_info=task.exception())

    async def stop(self) -> None:
        """Stop the loop and wait until it has ended."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})  # never raises: a failure was logged by _ended already
