"""Per-hospital alarm rules: critical limits, escalation policy, device heartbeat, latching, data age and
observation frequency.

Detection reads these on every batch of readings, so each process keeps them in memory: a change made here is
seen at once by this process and within `cache_seconds` by the others.
"""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain import Priority, Role, TokenKind, VitalKind
from app.domain.alerts import DEFAULT_ESCALATION_MINUTES
from app.domain.limits import (
    DEFAULT_LIMITS,
    CriticalLimit,
    HospitalRules,
    LimitParameter,
    check_device_silence,
    check_escalation_steps,
    check_limit,
)
from app.domain.observations import (
    DEFAULT_NEWS2_MAX_AGE_MINUTES,
    DEFAULT_OBSERVATION_MINUTES,
    ObservationBand,
    check_grace_minutes,
    check_news2_max_age,
    check_observation_minutes,
    check_stale_reading_hours,
)
from app.errors import HospitalNotFound, InvalidInput, NotAllowed
from app.schemas import (
    Actor,
    CriticalLimitView,
    EscalationStepsView,
    HospitalRulesView,
    News2MaxAgeView,
    ObservationIntervalView,
    RuleChangeView,
)
from app.uow import Database, UnitOfWork
from data.models import CriticalLimit as CriticalLimitRow
from data.models import EscalationPolicy, Hospital, RuleChange

from .common import acting_name, require_hospital

log = logging.getLogger(__name__)

DEFAULT_CACHE_SECONDS = 10.0
PARAMETER_NAMES = frozenset(p.value for p in LimitParameter)
# Keyed by name: the stored overrides and the callers' changes are JSON objects.
MAX_AGE_DEFAULTS: Mapping[str, int] = {kind.value: minutes for kind, minutes in DEFAULT_NEWS2_MAX_AGE_MINUTES.items()}
OBSERVATION_DEFAULTS: Mapping[str, int] = {band.value: minutes for band, minutes in DEFAULT_OBSERVATION_MINUTES.items()}


def parse_priority(priority: Priority | str) -> Priority:
    """Return the priority named, or refuse an unknown one."""
    try:
        return Priority(priority)
    except ValueError:
        raise InvalidInput(f'Unknown priority "{priority}".') from None


def check_can_configure(actor: Actor) -> None:
    """Only a hospital's administrators (or the operator, as the system) change its alarm rules.

    An integration token changes them on behalf of an administrator whom it names (see acting_name).
    """
    if actor.kind == 'system' or (actor.kind == 'user' and actor.role is Role.ADMIN):
        return
    if actor.kind == 'token' and actor.token_kind is TokenKind.INTEGRATION:
        return
    raise NotAllowed('Only an administrator of the hospital (or an integration on behalf of one) can change its '
                     'alarm rules.')


def own_overrides(stored: Mapping[str, int] | None, defaults: Mapping[str, int]) -> dict[str, int]:
    """Return a hospital's stored {key: value} overrides that this version knows (others are ignored, never lost)."""
    return {key: int(value) for key, value in (stored or {}).items() if key in defaults}


def apply_overrides(stored: Mapping[str, int] | None, changes: Mapping[str, int | None], defaults: Mapping[str, int],
                    check: Callable[[Mapping[str, object]], object]) -> dict[str, int]:
    """Return stored overrides with changes applied (None: back to the default), or let check refuse them.

    check sees a reset key as its default value: an unknown key is refused even when reset, and rules that relate
    keys to each other (a sicker band observed at least as often) are checked on what will apply.
    """
    check({**own_overrides(stored, defaults),
           **{key: defaults.get(key) if value is None else value for key, value in changes.items()}})
    result = dict(stored or {})
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def describe_overrides(field: str, changes: Mapping[str, int | None], before: Mapping[str, int],
                       after: Mapping[str, int]) -> list[str]:
    """Return what each change of a mapping did, as 'field.key from -> to' (a reset says 'default')."""
    return [f'{field}.{key} {before[key]} -> {"default " if value is None else ""}{after[key]}'
            for key, value in changes.items()]


def parse_parameter(parameter: str) -> LimitParameter:
    """Return the limit parameter with this name or raise InvalidInput listing the known ones."""
    try:
        return LimitParameter(parameter)
    except ValueError:
        raise InvalidInput(f'Unknown limit parameter "{parameter}"; known are '
                           f'{", ".join(p.value for p in LimitParameter)}.') from None


class RulesService:
    def __init__(self, db: Database, clock: Clock, cache_seconds: float = DEFAULT_CACHE_SECONDS) -> None:
        self._db = db
        self._clock = clock
        self._ttl = timedelta(seconds=cache_seconds)
        self._cache: dict[int, tuple[datetime, HospitalRules]] = {}

    async def rules(self, hospital_id: int, session: AsyncSession | None = None) -> HospitalRules:
        """Return the effective rules of a hospital, from memory when fresh (inside the caller's session if given)."""
        now = self._clock()
        cached = self._cache.get(hospital_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        if session is None:
            async with self._db.read() as own:
                rules = await self._load(own, hospital_id)
        else:
            rules = await self._load(session, hospital_id)
        self._cache[hospital_id] = (now, rules)
        return rules

    def forget(self, hospital_id: int) -> None:
        """Drop a hospital's rules from memory (the next use reloads them)."""
        self._cache.pop(hospital_id, None)

    async def _load(self, session: AsyncSession, hospital_id: int) -> HospitalRules:
        hospital = await session.get(Hospital, hospital_id)
        if hospital is None:
            raise HospitalNotFound(f'Hospital {hospital_id} not found.')
        limits = dict(DEFAULT_LIMITS)
        for row in await session.scalars(select(CriticalLimitRow).where(CriticalLimitRow.hospital_id == hospital_id)):
            if row.kind in PARAMETER_NAMES:  # a parameter this version no longer knows is ignored
                limits[LimitParameter(row.kind)] = CriticalLimit(row.low, row.high, row.persistence_seconds,
                                                                 row.persistence_readings)
        escalation = dict(DEFAULT_ESCALATION_MINUTES)
        policies = await session.scalars(select(EscalationPolicy).where(EscalationPolicy.hospital_id == hospital_id))
        for policy in policies:
            escalation[Priority(policy.priority)] = tuple(policy.minutes)
        # Stored overrides were checked when they were set; one this version no longer knows is ignored.
        max_age = dict(DEFAULT_NEWS2_MAX_AGE_MINUTES)
        max_age.update({VitalKind(k): int(v) for k, v in (hospital.news2_max_age_minutes or {}).items()
                        if k in max_age})
        observation = dict(DEFAULT_OBSERVATION_MINUTES)
        observation.update({ObservationBand(k): int(v) for k, v in (hospital.observation_minutes or {}).items()
                            if k in observation})
        return HospitalRules(hospital_id=hospital_id, limits=limits, escalation=escalation,
                             alarms_latch=hospital.alarms_latch, device_silence_seconds=hospital.device_silence_seconds,
                             stale_reading_hours=hospital.stale_reading_hours, news2_max_age_minutes=max_age,
                             observation_minutes=observation,
                             observation_grace_minutes=hospital.observation_grace_minutes)

    async def get(self, actor: Actor) -> HospitalRulesView:
        """Return the actor's hospital's rules, each marked as the default or the hospital's own."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            return await self._view(session, hospital_id)

    async def _view(self, session: AsyncSession, hospital_id: int) -> HospitalRulesView:
        hospital = await session.get(Hospital, hospital_id)
        if hospital is None:
            raise HospitalNotFound(f'Hospital {hospital_id} not found.')
        rows = {row.kind: row for row in await session.scalars(
            select(CriticalLimitRow).where(CriticalLimitRow.hospital_id == hospital_id))}
        policies = {row.priority: row for row in await session.scalars(
            select(EscalationPolicy).where(EscalationPolicy.hospital_id == hospital_id))}
        limits = []
        for parameter, default in DEFAULT_LIMITS.items():
            row = rows.get(parameter.value)
            limits.append(CriticalLimitView(
                parameter=parameter.value, is_default=False, low=row.low, high=row.high,
                persistence_seconds=row.persistence_seconds, persistence_readings=row.persistence_readings,
                updated_at=row.updated_at, updated_by=row.updated_by,
            ) if row is not None else CriticalLimitView(
                parameter=parameter.value, is_default=True, low=default.low, high=default.high,
                persistence_seconds=default.persistence_seconds, persistence_readings=default.persistence_readings))
        escalation = []
        for priority, minutes in DEFAULT_ESCALATION_MINUTES.items():
            policy = policies.get(priority.value)
            escalation.append(EscalationStepsView(
                priority=priority, minutes=tuple(policy.minutes), is_default=False, updated_at=policy.updated_at,
                updated_by=policy.updated_by,
            ) if policy is not None else EscalationStepsView(priority=priority, minutes=minutes, is_default=True))
        own_ages = own_overrides(hospital.news2_max_age_minutes, MAX_AGE_DEFAULTS)
        own_intervals = own_overrides(hospital.observation_minutes, OBSERVATION_DEFAULTS)
        return HospitalRulesView(
            hospital_id=hospital_id, limits=tuple(limits), escalation=tuple(escalation),
            device_silence_seconds=hospital.device_silence_seconds, alarms_latch=hospital.alarms_latch,
            stale_reading_hours=hospital.stale_reading_hours,
            news2_max_age_minutes=tuple(
                News2MaxAgeView(parameter=kind, minutes=own_ages.get(kind.value, minutes),
                                is_default=kind.value not in own_ages)
                for kind, minutes in DEFAULT_NEWS2_MAX_AGE_MINUTES.items()),
            observation_minutes=tuple(
                ObservationIntervalView(band=band, minutes=own_intervals.get(band.value, minutes),
                                        is_default=band.value not in own_intervals)
                for band, minutes in DEFAULT_OBSERVATION_MINUTES.items()),
            observation_grace_minutes=hospital.observation_grace_minutes)

    async def set_limit(self, actor: Actor, parameter: str, *, low: float | None, high: float | None,
                        persistence_seconds: int, persistence_readings: int = 1,
                        on_behalf_of: str | None = None) -> HospitalRulesView:
        """Override one parameter's critical limits and persistence delay for the actor's hospital."""
        check_can_configure(actor)
        name = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        key = parse_parameter(parameter)
        limit = CriticalLimit(low, high, persistence_seconds, persistence_readings)
        check_limit(key, limit)
        async with self._db.uow() as uow:
            await self._hospital(uow.session, hospital_id)
            row = await uow.session.get(CriticalLimitRow, (hospital_id, key.value))
            if row is None:
                row = CriticalLimitRow(hospital_id=hospital_id, kind=key.value)
                uow.session.add(row)
            row.low, row.high = low, high
            row.persistence_seconds, row.persistence_readings = persistence_seconds, persistence_readings
            row.updated_at, row.updated_by = self._clock(), name
            change = (f'{key.value} limits set to low {low}, high {high}, delay {persistence_seconds} s and '
                      f'{persistence_readings} readings')
            return await self._commit(uow, hospital_id, change, name)

    async def reset_limit(self, actor: Actor, parameter: str, *, on_behalf_of: str | None = None
                          ) -> HospitalRulesView:
        """Return one parameter to the default limits."""
        check_can_configure(actor)
        name = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        key = parse_parameter(parameter)
        async with self._db.uow() as uow:
            await self._hospital(uow.session, hospital_id)
            await uow.session.execute(delete(CriticalLimitRow).where(
                CriticalLimitRow.hospital_id == hospital_id, CriticalLimitRow.kind == key.value))
            return await self._commit(uow, hospital_id, f'{key.value} limits reset to the default', name)

    async def set_escalation(self, actor: Actor, priority: Priority | str, minutes: tuple[int, ...] | list[int], *,
                             on_behalf_of: str | None = None) -> HospitalRulesView:
        """Set the escalation steps of one priority; they apply to alerts raised or escalated from now on."""
        check_can_configure(actor)
        name = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        level = parse_priority(priority)
        steps = tuple(minutes)
        check_escalation_steps(level, steps)
        async with self._db.uow() as uow:
            await self._hospital(uow.session, hospital_id)
            row = await uow.session.get(EscalationPolicy, (hospital_id, level.value))
            if row is None:
                row = EscalationPolicy(hospital_id=hospital_id, priority=level.value)
                uow.session.add(row)
            row.minutes = list(steps)
            row.updated_at, row.updated_by = self._clock(), name
            return await self._commit(uow, hospital_id, f'{level.value} escalation set to {list(steps)} min', name)

    async def reset_escalation(self, actor: Actor, priority: Priority | str, *, on_behalf_of: str | None = None
                               ) -> HospitalRulesView:
        """Return one priority to the default escalation steps."""
        check_can_configure(actor)
        name = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        level = parse_priority(priority)
        async with self._db.uow() as uow:
            await self._hospital(uow.session, hospital_id)
            await uow.session.execute(delete(EscalationPolicy).where(
                EscalationPolicy.hospital_id == hospital_id, EscalationPolicy.priority == level.value))
            return await self._commit(uow, hospital_id, f'{level.value} escalation reset to the default', name)

    async def update_settings(self, actor: Actor, *, device_silence_seconds: int | None = None,
                              alarms_latch: bool | None = None, on_behalf_of: str | None = None) -> HospitalRulesView:
        """Change the device heartbeat timeout and whether detected alarms latch (a hospital-wide decision)."""
        check_can_configure(actor)
        name = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        if device_silence_seconds is not None:
            check_device_silence(device_silence_seconds)
        if alarms_latch is not None and not isinstance(alarms_latch, bool):
            raise InvalidInput(f'alarms_latch is true or false, not {alarms_latch!r}.')
        async with self._db.uow() as uow:
            hospital = await self._hospital(uow.session, hospital_id)
            if device_silence_seconds is not None:
                hospital.device_silence_seconds = device_silence_seconds
            if alarms_latch is not None:
                hospital.alarms_latch = alarms_latch
            change = f'device_silence_seconds {hospital.device_silence_seconds}, alarms_latch {hospital.alarms_latch}'
            return await self._commit(uow, hospital_id, change, name)

    async def update_observation_settings(
            self, actor: Actor, *, stale_reading_hours: int | None = None,
            news2_max_age_minutes: Mapping[str, int | None] | None = None,
            observation_minutes: Mapping[str, int | None] | None = None,
            observation_grace_minutes: int | None = None, on_behalf_of: str | None = None) -> HospitalRulesView:
        """Change data age and observation frequency; in the mappings a key set to None returns to the default.

        All or nothing: every value is checked, the bands also against each other, before anything is stored.
        """
        check_can_configure(actor)
        name = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        ages = {str(key): value for key, value in (news2_max_age_minutes or {}).items()}
        intervals = {str(key): value for key, value in (observation_minutes or {}).items()}
        if stale_reading_hours is None and observation_grace_minutes is None and not ages and not intervals:
            raise InvalidInput('Name at least one observation setting to change.')
        if stale_reading_hours is not None:
            check_stale_reading_hours(stale_reading_hours)
        if observation_grace_minutes is not None:
            check_grace_minutes(observation_grace_minutes)
        async with self._db.uow() as uow:
            # Locked: two administrators changing different bands at once must not end in an order nobody checked.
            hospital = await uow.session.get(Hospital, hospital_id, with_for_update=True)
            if hospital is None:
                raise HospitalNotFound(f'Hospital {hospital_id} not found.')
            new_ages = apply_overrides(hospital.news2_max_age_minutes, ages, MAX_AGE_DEFAULTS, check_news2_max_age)
            new_intervals = apply_overrides(hospital.observation_minutes, intervals, OBSERVATION_DEFAULTS,
                                            check_observation_minutes)
            changes = []
            if stale_reading_hours is not None:
                changes.append(f'stale_reading_hours {hospital.stale_reading_hours} -> {stale_reading_hours}')
                hospital.stale_reading_hours = stale_reading_hours
            for field, given, defaults, before, after in (
                    ('news2_max_age_minutes', ages, MAX_AGE_DEFAULTS, hospital.news2_max_age_minutes, new_ages),
                    ('observation_minutes', intervals, OBSERVATION_DEFAULTS, hospital.observation_minutes,
                     new_intervals)):
                changes += describe_overrides(field, given, {**defaults, **own_overrides(before, defaults)},
                                              {**defaults, **own_overrides(after, defaults)})
            # A new object, never an in-place edit: SQLAlchemy notices a changed JSON value only by assignment.
            if ages:
                hospital.news2_max_age_minutes = new_ages or None
            if intervals:
                hospital.observation_minutes = new_intervals or None
            if observation_grace_minutes is not None:
                changes.append(f'observation_grace_minutes {hospital.observation_grace_minutes} -> '
                               f'{observation_grace_minutes}')
                hospital.observation_grace_minutes = observation_grace_minutes
            return await self._commit(uow, hospital_id, ', '.join(changes), name)

    @staticmethod
    async def _hospital(session: AsyncSession, hospital_id: int) -> Hospital:
        hospital = await session.get(Hospital, hospital_id)
        if hospital is None:
            raise HospitalNotFound(f'Hospital {hospital_id} not found.')
        return hospital

    async def history(self, actor: Actor, limit: int = 100) -> list[RuleChangeView]:
        """Return the latest changes of the actor's hospital's alarm rules, newest first (administrators only)."""
        check_can_configure(actor)
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            rows = await session.scalars(select(RuleChange).where(RuleChange.hospital_id == hospital_id)
                                         .order_by(RuleChange.id.desc()).limit(max(1, min(limit, 1000))))
            return [RuleChangeView.model_validate(row) for row in rows]

    async def _commit(self, uow: UnitOfWork, hospital_id: int, change: str, name: str) -> HospitalRulesView:
        # Who changed an alarm limit, and when, is part of the record: an append-only row in the same transaction.
        uow.session.add(RuleChange(hospital_id=hospital_id, at=self._clock(), actor=name, change=change))
        await uow.session.flush()
        view = await self._view(uow.session, hospital_id)
        await uow.commit()
        self.forget(hospital_id)
        log.info('hospital %d alarm rules: %s, by %s', hospital_id, change, name)
        return view
