"""Detection on ingest: NEWS2 triggers and critical limits, with persistence delay, latching and snooze.

Runs inside the transaction that stores the readings, so an accepted reading and the alert it causes commit
together. Per batch it adds no query of its own in the quiet case (load_context fetches the trigger states with the
latest vitals), at most two executemany statements for changed states, and, only when an alert must change, one
query for the alerts and one for the snoozes concerned; per-hospital rules come from RulesService's memory.

Semantics, per patient and trigger (a NEWS2 response level, or one side of a critical limit):
- Readings are taken in measured order; a reading older than the stored latest of its kind is kept in the history
  but does not drive detection (it is not the patient's present).
- A breach alerts once it has lasted the limit's persistence delay (seconds from its first to its latest reading,
  and a number of consecutive readings); one reading back inside the limit ends it, so a short artefact is
  swallowed. NEWS2 counts a delayed parameter (by default SpO2) only at the level that has persisted.
- The start of an episode raises an alert, or counts an occurrence on the open one (a higher NEWS2 level raises
  its priority: single 3 -> medium, 5-6 -> high, 7+ -> critical). While the episode lasts nothing more happens;
  if a person resolved the alert meanwhile, the still-present condition opens a new one: only a snooze silences
  a condition that has not gone away.
- Recovery marks the open alert cleared (latching hospitals: it stays until a person resolves it) or resolves it
  (hospitals that do not latch).
- A snooze stops new alerts and occurrences from re-alerting; they are still counted and the alert still shows
  whether the condition is present. A NEWS2 level above the alert's priority breaks through and ends the snooze.
"""

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, null, select, tuple_, type_coerce, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from app.domain import OPEN_STATUSES, AlertKind, Priority, VitalKind
from app.domain.limits import (
    NEWS2_TRIGGER,
    OBSERVATIONS_TRIGGER,
    CriticalLimit,
    Direction,
    HospitalRules,
    LimitParameter,
    dedup_key,
    limit_parameter,
    limit_trigger,
)
from app.domain.news2 import NEWS2_PARAMETERS, TriggerLevel, explain, news2_condition, sub_score, trigger_level
from app.domain.observations import observation_band
from app.domain.vitals import VITAL_SPECS, describe
from app.schemas import Actor, News2View, VitalValue
from app.uow import UnitOfWork
from data.models import Alert, LatestVital, Patient, Snooze, TriggerState
from data.queries import BulkInsert, alerts_with_context
from data.types import UTCDateTime

from .alert_writes import clear, open_alert, resolve_by_system, retrigger, update_headline

DETECTION = Actor.system('detection')
NO_DELAY = CriticalLimit(None, None)
CRITICAL_VALUE_PRIORITY = Priority.HIGH
NEWS2_PRIORITY = {TriggerLevel.SINGLE_3: Priority.MEDIUM, TriggerLevel.URGENT: Priority.HIGH,
                  TriggerLevel.EMERGENCY: Priority.CRITICAL}
NEWS2_LEVELS = tuple((level, f'news2:{level.name.lower()}')
                     for level in (TriggerLevel.SINGLE_3, TriggerLevel.URGENT, TriggerLevel.EMERGENCY))
# "This parameter has scored at least n points" for n = 1..3, kept for parameters with a persistence delay.
SCORE_TRIGGERS = {kind: tuple((n, f'score:{kind.value}:{n}') for n in (1, 2, 3)) for kind in NEWS2_PARAMETERS}
LIMITS_OF: Mapping[VitalKind, tuple[LimitParameter, ...]] = {
    kind: ((LimitParameter.SPO2, LimitParameter.SPO2_SCALE_2) if kind is VitalKind.SPO2
           else () if kind is VitalKind.ON_OXYGEN else (LimitParameter(kind.value),))
    for kind in VitalKind
}
DIRECTIONS: tuple[Direction, ...] = ('low', 'high')
VITAL_KINDS = frozenset(kind.value for kind in VitalKind)
KIND_OF: Mapping[str, VitalKind] = {kind.value: kind for kind in VitalKind}  # a kind's name, or the kind itself
LIMIT_NAMES = frozenset(parameter.value for parameter in LimitParameter)
Key = tuple[int, str]
STATES = cast(Table, TriggerState.__table__)
LATEST = cast(Table, LatestVital.__table__)


Watched = tuple[tuple[LimitParameter, bool, tuple[tuple[Direction, str], ...]], ...]


def _watched(spo2_scale: int) -> dict[VitalKind, Watched]:
    """Return the limits watched per vital sign on a scale: (parameter, applies, (direction, trigger) per side)."""
    return {kind: tuple((parameter, parameter is limit_parameter(kind, spo2_scale),
                         tuple((direction, limit_trigger(parameter, direction)) for direction in DIRECTIONS))
                        for parameter in LIMITS_OF[kind]) for kind in VitalKind}


# Worked out once for the two SpO2 scales (a batch's Detector only binds the hospital's limits to them).
WATCHED = {scale: _watched(scale) for scale in (1, 2)}


def _upsert_states(insert_into: Any) -> Any:
    statement = insert_into(STATES)
    return statement.on_conflict_do_update(
        index_elements=[STATES.c.patient_id, STATES.c.trigger],
        set_={'breach_since': statement.excluded.breach_since, 'readings': statement.excluded.readings,
              'last_at': statement.excluded.last_at})


# Built once per dialect: building it (and its cache key) for every batch cost more CPU than running it.
STATE_COLUMNS = ('patient_id', 'trigger', 'hospital_id', 'breach_since', 'readings', 'last_at')
UPSERT_STATES = BulkInsert({'sqlite': _upsert_states(sqlite.insert), 'postgresql': _upsert_states(postgresql.insert)},
                           STATE_COLUMNS)


class Transition(Enum):
    QUIET = 'quiet'  # no breach, nothing stored
    PENDING = 'pending'  # breaching, but not yet for long enough
    ONSET = 'onset'  # the breach has just lasted long enough: a new episode
    ONGOING = 'ongoing'  # an episode that already alerted goes on
    RECOVERED = 'recovered'  # an episode ended
    SWALLOWED = 'swallowed'  # a breach ended before it lasted long enough (an artefact)


@dataclass
class _State:
    breach_since: datetime
    readings: int
    last_at: datetime


@dataclass(frozen=True)
class _Watch:
    """One critical limit watched when a vital sign arrives, with the trigger names of its two sides."""

    limit: CriticalLimit
    applies: bool  # False for the other SpO2 scale's limit: observed as "no breach" so a stale episode ends
    triggers: tuple[tuple[Direction, str], ...]


@dataclass(frozen=True)
class _Plan:
    """What to watch for patients on one SpO2 scale, worked out once per batch."""

    watches: Mapping[VitalKind, tuple[_Watch, ...]]
    delays: Mapping[VitalKind, CriticalLimit]  # NEWS2 parameters whose points wait for the persistence delay


@dataclass
class _Action:
    patient: Patient
    trigger: str
    clear: bool
    onset: bool = False
    kind: AlertKind = AlertKind.NEWS2
    priority: Priority = Priority.LOW
    message: str = ''
    condition: str | None = None  # what a NEWS2 headline describes (news2_condition)


class StateWrites:
    """Trigger-state changes of the batches detected in one transaction, written once at its end: at most one
    DELETE and one executemany upsert of plain tuples, however many batches the transaction holds.

    Nothing in the transaction reads trigger_states back after detection (each batch starts from the states the
    previous one left in memory), so only each changed key's final state is written.
    """

    def __init__(self, stored: Collection[Key]) -> None:
        self._stored = set(stored)  # keys with a row in the table when the transaction began
        self._changed: dict[Key, tuple[int, _State | None]] = {}

    def note(self, hospital_id: int, changed: Mapping[Key, _State | None]) -> None:
        """Remember states a batch changed (None: ended); the last note of a key wins, and a state noted is read
        when flushed (a later batch may go on counting the same object)."""
        for key, state in changed.items():
            self._changed[key] = (hospital_id, state)

    async def flush(self, uow: UnitOfWork) -> None:
        """Write the final states: upsert the live ones, delete the ended ones that had a row."""
        upserts: list[tuple[Any, ...]] = []  # STATE_COLUMNS
        deletes: list[Key] = []
        for key, (hospital_id, state) in self._changed.items():
            if state is not None:
                upserts.append((key[0], key[1], hospital_id, state.breach_since, state.readings, state.last_at))
            elif key in self._stored:
                deletes.append(key)
        self._changed.clear()
        if not upserts and not deletes:
            return
        connection = await uow.session.connection()
        if deletes:
            await connection.execute(delete(STATES).where(tuple_(STATES.c.patient_id, STATES.c.trigger).in_(deletes)))
        await UPSERT_STATES.execute(connection, upserts)
        self._stored.update((row[0], row[1]) for row in upserts)
        self._stored.difference_update(deletes)


class Detector:
    """One batch's detection for one hospital: observe readings, then write states and apply alert changes."""

    def __init__(self, uow: UnitOfWork, rules: HospitalRules, now: datetime, writes: StateWrites | None = None) -> None:
        """`writes`: collect the changed trigger states there for the caller to write (else written per batch)."""
        self._uow = uow
        self._writes = writes
        self._rules = rules
        self._now = now
        self._states: dict[Key, _State | None] = {}
        self._stored: set[Key] = set()
        self._dirty: set[Key] = set()
        self._actions: list[_Action] = []
        self._ongoing: dict[Key, _Action] = {}
        self._plans: dict[int, _Plan] = {}
        # Confirming delays by time (confirm()): no reading arrived, time passed; delayed triggers count no reading.
        self._time_only = False
        self._news2_after: dict[int, News2View] = {}

    def _plan(self, spo2_scale: int) -> _Plan:
        plan = self._plans.get(spo2_scale)
        if plan is None:
            limits = self._rules.limits
            watches = {kind: tuple(_Watch(limits[parameter], applies, triggers)
                                   for parameter, applies, triggers in watched)
                       for kind, watched in (WATCHED.get(spo2_scale) or _watched(spo2_scale)).items()}
            plan = self._plans[spo2_scale] = _Plan(watches, news2_delays(self._rules, spo2_scale))
        return plan

    async def run(self, patients: Sequence[Patient], before: Mapping[int, Mapping[VitalKind, VitalValue]],
                  readings: Mapping[int, Sequence[Mapping[str, Any]]], states: Mapping[Key, _State]) -> None:
        """Detect on one batch: patients (ward loaded), their latest vitals and trigger states before it (see
        load_context), and the batch's readings by patient."""
        if not any(p.id in readings for p in patients):
            return
        self._states.update(states)
        self._stored.update(states)
        for patient in patients:
            if patient.id in readings:
                self._observe_patient(patient, before.get(patient.id, {}), readings[patient.id])
        await self._write_states(patients[0].hospital_id)
        await self._apply()

    async def confirm(self, patient: Patient, before: Mapping[VitalKind, VitalValue],
                      states: Mapping[Key, _State]) -> None:
        """Let time confirm delayed values: a breach that stayed the latest value for its whole delay has lasted.

        A spot check (one SpO2 of 88 % typed in, or sent over FHIR) gets no second reading; without this its delay
        would never pass, and it would never count in NEWS2 nor alert. A delay that also counts readings still
        waits for them. The watchdog calls this for patients with a breach older than its delay and no reading since.
        """
        self._states.update(states)
        self._stored.update(states)
        values = {kind: (vital.value, vital.measured_at) for kind, vital in before.items()}
        oxygen = values.get(VitalKind.ON_OXYGEN, (None,))[0]
        raw = {kind: sub_score(kind, value, patient.spo2_scale, oxygen)
               for kind, (value, _) in values.items() if kind in NEWS2_PARAMETERS}
        self._time_only = True
        try:
            changed = False
            for kind, (value, _) in values.items():
                self._observe_limits(patient, kind, value, self._now)
                if kind in raw:
                    changed = self._observe_score(patient, kind, raw[kind], self._now) or changed
        finally:
            self._time_only = False
        if changed:
            self._observe_news2(patient, values, raw, self._now)
        await self._write_states(patient.hospital_id)
        await self._apply()

    @property
    def states(self) -> Mapping[Key, _State | None]:
        """The trigger states as this batch left them (None: ended)."""
        return self._states

    @property
    def news2_after(self) -> Mapping[int, News2View]:
        """NEWS2 by patient id, where detection scored it on the batch's last reading: the patient's values and the
        score triggers' states are then those the batch leaves (current_news2 of them would give the same)."""
        return self._news2_after

    # --- observing ---------------------------------------------------------------------------------------------

    def _observe(self, patient_id: int, trigger: str, holds: bool, at: datetime, limit: CriticalLimit) -> Transition:
        key = (patient_id, trigger)
        state = self._states.get(key)
        if self._time_only and limit is not NO_DELAY:
            # Only a breach already under way can last; an episode that already alerted has nothing to confirm.
            if not holds or state is None or limit.persisted(state.breach_since, state.last_at, state.readings):
                return Transition.QUIET
            if at > state.last_at:
                state.last_at = at  # the value stayed the latest until now: the breach lasted, no reading counted
                self._dirty.add(key)
            persisted = limit.persisted(state.breach_since, state.last_at, state.readings)
            return Transition.ONSET if persisted else Transition.PENDING
        if not holds:
            if state is None:
                return Transition.QUIET
            self._states[key] = None
            self._dirty.add(key)
            return (Transition.RECOVERED if limit.persisted(state.breach_since, state.last_at, state.readings)
                    else Transition.SWALLOWED)
        if state is None:
            state = self._states[key] = _State(at, 1, at)
            self._dirty.add(key)
        elif limit.persisted(state.breach_since, state.last_at, state.readings):
            return Transition.ONGOING  # nothing to count any more: no write while an episode lasts
        elif at > state.last_at:  # a reading at the same instant adds no evidence
            state.readings += 1
            state.last_at = at
            self._dirty.add(key)
        persisted = limit.persisted(state.breach_since, state.last_at, state.readings)
        return Transition.ONSET if persisted else Transition.PENDING

    def _persisted(self, patient_id: int, trigger: str, limit: CriticalLimit) -> bool:
        state = self._states.get((patient_id, trigger))
        return state is not None and limit.persisted(state.breach_since, state.last_at, state.readings)

    def _observe_patient(self, patient: Patient, before: Mapping[VitalKind, VitalValue],
                         readings: Sequence[Mapping[str, Any]]) -> None:
        self._news2_after.pop(patient.id, None)
        scale = patient.spo2_scale
        plan = self._plan(scale)  # once per patient and batch, not per reading
        values = {kind: (vital.value, vital.measured_at) for kind, vital in before.items()}
        raw = {kind: sub_score(kind, value, scale, values.get(VitalKind.ON_OXYGEN, (None,))[0])
               for kind, (value, _) in values.items() if kind in NEWS2_PARAMETERS}
        ordered = sorted(readings, key=lambda r: r['measured_at'])
        # NEWS2 is re-scored when a (persisted) sub-score changed, and once per batch in any case: that first look
        # also notices a condition that outlived a person resolving its alert.
        rescore, scored = False, False
        for index, reading in enumerate(ordered):
            kind, value, at = KIND_OF[reading['kind']], reading['value'], reading['measured_at']
            previous = values.get(kind)
            if previous is None or at >= previous[1]:  # else a late reading: kept, but not the patient's present
                values[kind] = (value, at)
                self._observe_limits(patient, kind, value, at, plan)
                if kind in NEWS2_PARAMETERS:
                    rescore = rescore or not scored
                    # Oxygen changes how SpO2 scores on scale 2, so both are re-scored when it changes.
                    for changed in (kind, VitalKind.SPO2) if kind is VitalKind.ON_OXYGEN else (kind,):
                        if changed in values:
                            oxygen = values.get(VitalKind.ON_OXYGEN, (None,))[0]
                            points = sub_score(changed, values[changed][0], scale, oxygen)
                            rescore = self._observe_score(patient, changed, points, at, plan) or rescore
                            rescore = rescore or raw.get(changed) != points
                            raw[changed] = points
            # Readings measured at the same instant are one observation: NEWS2 is scored once they are all in.
            if rescore and (index + 1 == len(ordered) or ordered[index + 1]['measured_at'] != at):
                news2 = self._observe_news2(patient, values, raw, at)
                rescore, scored = False, True
                if index + 1 == len(ordered):
                    self._news2_after[patient.id] = news2

    def _observe_limits(self, patient: Patient, kind: VitalKind, value: float, at: datetime,
                        plan: _Plan | None = None) -> None:
        patient_id = patient.id  # an ORM attribute: read once, not per trigger
        for watch in (plan or self._plan(patient.spo2_scale)).watches[kind]:
            breach = watch.limit.breach(kind, value) if watch.applies else None
            for direction, trigger in watch.triggers:
                transition = self._observe(patient_id, trigger, breach == direction, at, watch.limit)
                if transition is Transition.RECOVERED:
                    self._actions.append(_Action(patient, trigger, clear=True))
                elif transition in (Transition.ONSET, Transition.ONGOING):
                    self._alert(patient, trigger, transition, AlertKind.CRITICAL_VALUE, CRITICAL_VALUE_PRIORITY,
                                partial(self._limit_message, kind, value, watch.limit, direction))

    @staticmethod
    def _limit_message(kind: VitalKind, value: float, limit: CriticalLimit, direction: Direction) -> str:
        unit = VITAL_SPECS[kind].shown_unit
        if kind is VitalKind.CONSCIOUSNESS:
            return f'Critical value: {describe(kind, value)}, not alert'
        edge = limit.low if direction == 'low' else limit.high
        side = 'at or below' if direction == 'low' else 'at or above'
        shown = f'{edge:.1f}' if kind is VitalKind.TEMPERATURE else f'{edge:g}'
        return f'Critical value: {describe(kind, value)}, {side} the limit of {shown} {unit}'

    def _observe_score(self, patient: Patient, kind: VitalKind, points: int, at: datetime,
                       plan: _Plan | None = None) -> bool:
        """Track how long a delayed parameter has scored each level; tell whether its counted points changed."""
        limit = (plan or self._plan(patient.spo2_scale)).delays.get(kind)
        if limit is None:
            return False
        changed, patient_id = False, patient.id
        for level, trigger in SCORE_TRIGGERS[kind]:
            transition = self._observe(patient_id, trigger, points >= level, at, limit)
            changed = changed or transition in (Transition.ONSET, Transition.RECOVERED)
        return changed

    def _observe_news2(self, patient: Patient, values: Mapping[VitalKind, tuple[float, datetime]],
                       raw: Mapping[VitalKind, int], at: datetime) -> News2View:
        delays = self._plan(patient.spo2_scale).delays
        news2 = current_news2(self._rules, patient.id, patient.spo2_scale, values, self._states, self._now, delays, raw)
        level = trigger_level(news2.total, news2.sub_scores)
        self._schedule_observations(patient, values, news2, level)
        transitions = [self._observe(patient.id, trigger, level >= each, at, NO_DELAY)
                       for each, trigger in NEWS2_LEVELS]
        if level is not TriggerLevel.NONE:
            onset = Transition.ONSET if Transition.ONSET in transitions else Transition.ONGOING
            self._alert(patient, NEWS2_TRIGGER, onset, AlertKind.NEWS2, NEWS2_PRIORITY[level],
                        lambda: news2.explanation, news2_condition(news2))
        elif transitions[0] is Transition.RECOVERED:
            self._actions.append(_Action(patient, NEWS2_TRIGGER, clear=True, message=news2.explanation,
                                         condition=news2_condition(news2)))
        return news2

    def _schedule_observations(self, patient: Patient, values: Mapping[VitalKind, tuple[float, datetime]],
                               news2: News2View, level: TriggerLevel) -> None:
        """Set when the patient's next full set of observations is due (RCP chart 4, the hospital's intervals).

        A full set is complete once every NEWS2 parameter has a value: the next one is due the band's interval after
        the oldest of them. Until the set is complete it is due from the first reading on.
        """
        measured = [values[kind][1] for kind in NEWS2_PARAMETERS if kind in values]
        if len(measured) == len(NEWS2_PARAMETERS):
            minutes = self._rules.observation_minutes[observation_band(news2.total, level)]
            due = min(measured) + timedelta(minutes=minutes)
        else:
            due = patient.observations_due_at or self._now
        before = patient.observations_due_at
        if before is None or abs((due - before).total_seconds()) >= 60:  # minutes matter, not every second
            patient.observations_due_at = due
            if before is not None and before <= self._now < due:  # a full set ends "overdue"
                self._actions.append(_Action(patient, OBSERVATIONS_TRIGGER, clear=True))

    def _alert(self, patient: Patient, trigger: str, transition: Transition, kind: AlertKind, priority: Priority,
               message: Callable[[], str], condition: str | None = None) -> None:
        if transition is Transition.ONGOING:
            key = (patient.id, trigger)
            earlier = self._ongoing.get(key)
            if earlier is not None:
                if condition is not None:  # the batch's last state is what the headline says
                    earlier.message, earlier.condition, earlier.priority = message(), condition, priority
                return  # a limit: one check per batch is enough (it matters only if a person resolved the alert)
            self._ongoing[key] = action = _Action(patient, trigger, clear=False, kind=kind, priority=priority,
                                                  message=message(), condition=condition)
            self._actions.append(action)
            return
        self._actions.append(_Action(patient, trigger, clear=False, onset=True, kind=kind, priority=priority,
                                     message=message(), condition=condition))

    # --- writing -----------------------------------------------------------------------------------------------

    async def _write_states(self, hospital_id: int) -> None:
        writes = self._writes or StateWrites(self._stored)
        writes.note(hospital_id, {key: self._states.get(key) for key in self._dirty})
        if self._writes is None:
            await writes.flush(self._uow)

    async def _apply(self) -> None:
        if not self._actions:
            return
        session = self._uow.session
        hospital_id = self._actions[0].patient.hospital_id
        keys = {dedup_key(a.trigger, a.patient.id) for a in self._actions}
        # Locked: an escalation or another writer changing one of these alerts waits for this transaction.
        open_alerts = {alert.dedup_key: alert for alert in (await session.scalars(
            alerts_with_context().where(Alert.hospital_id == hospital_id, Alert.dedup_key.in_(keys),
                                        Alert.patient_id.in_({a.patient.id for a in self._actions}),
                                        Alert.status.in_(OPEN_STATUSES)).with_for_update(of=Alert))).unique()}
        snoozed: dict[Key, datetime] = {(row[0], row[1]): row[2] for row in await session.execute(
            select(Snooze.patient_id, Snooze.trigger, func.max(Snooze.until))
            .where(Snooze.patient_id.in_({a.patient.id for a in self._actions}), Snooze.until > self._now)
            .group_by(Snooze.patient_id, Snooze.trigger))}
        policy = self._rules.escalation
        for action in self._actions:
            key = dedup_key(action.trigger, action.patient.id)
            alert = open_alerts.get(key)
            if action.clear:
                if alert is None or alert.cleared_at is not None:
                    continue
                if action.trigger == OBSERVATIONS_TRIGGER:  # a reminder, not an alarm: done once the set is in
                    await resolve_by_system(self._uow, DETECTION, alert, self._now, 'a full set of observations '
                                            'was recorded; resolved by the system')
                    del open_alerts[key]
                elif self._rules.alarms_latch:
                    await clear(self._uow, DETECTION, alert, self._now, 'condition recovered; the alert stays until '
                                'a person resolves it' + self._recovered(action), message=self._recovered_headline(
                                    alert, action), condition=action.condition or alert.condition)
                else:
                    await resolve_by_system(self._uow, DETECTION, alert, self._now, 'condition recovered; resolved '
                                            'by the system because this hospital does not latch alarms'
                                            + self._recovered(action), message=self._recovered_headline(
                                                alert, action), condition=action.condition or alert.condition)
                    del open_alerts[key]
                continue
            until = snoozed.get((action.patient.id, action.trigger))
            if alert is None:
                if until is None:
                    open_alerts[key], _ = await open_alert(
                        self._uow, DETECTION, ward=action.patient.ward, patient=action.patient, kind=action.kind,
                        priority=action.priority, message=action.message, dedup_key=key, now=self._now,
                        policy=policy, condition=action.condition)
                continue
            message = self._headline(alert, action)
            if not action.onset:
                if action.condition is not None and action.condition != alert.condition:
                    await update_headline(self._uow, DETECTION, alert, self._now, message, action.condition,
                                          f'{self._change(alert, action)}: {message}')
                continue
            if until is not None and action.priority.rank >= Priority(alert.priority).rank:
                await retrigger(self._uow, DETECTION, alert, self._now, policy, priority=action.priority,
                                message=message, condition=action.condition,
                                suppressed=f'snoozed until {until:%H:%M} UTC, not re-alerted')
                continue
            if until is not None:  # a worse level than the one snoozed: the snooze ends (retrigger re-alarms)
                await session.execute(
                    update(Snooze).where(Snooze.patient_id == action.patient.id, Snooze.trigger == action.trigger,
                                         Snooze.until > self._now)
                    .values(until=self._now).execution_options(synchronize_session=False))
                snoozed.pop((action.patient.id, action.trigger))
            await retrigger(self._uow, DETECTION, alert, self._now, policy, priority=action.priority,
                            message=message, condition=action.condition, rise=self._change(alert, action))

    @staticmethod
    def _recovered(action: _Action) -> str:
        return f': {action.message}' if action.message else ''

    @staticmethod
    def _recovered_headline(alert: Alert, action: _Action) -> str:
        """A recovered NEWS2 alert's headline: the current score, below every trigger now (others keep theirs)."""
        if not action.message:
            return alert.message
        return f'{action.message}; recovered below the trigger levels (was {alert.priority})'

    @staticmethod
    def _headline(alert: Alert, action: _Action) -> str:
        """The action's text; below the alert's priority it says why the alert stays at the higher one."""
        if action.priority.rank > Priority(alert.priority).rank:
            return (f'{action.message}; the alert stays {alert.priority} (the patient was worse earlier) until a '
                    'person resolves it')
        return action.message

    @staticmethod
    def _change(alert: Alert, action: _Action) -> str:
        """Say what changed, for the audit trail: "NEWS2 5 → 7" (the totals), or that the condition came back."""
        if action.condition is not None and alert.condition is not None:
            before, after = alert.condition.split(';')[0], action.condition.split(';')[0]
            return f'NEWS2 {before} → {after}' if before != after else f'NEWS2 {after}, sub-scores changed'
        return 'condition present again'


def news2_delays(rules: HospitalRules, spo2_scale: int) -> dict[VitalKind, CriticalLimit]:
    """Return the NEWS2 parameters whose points wait for a persistence delay, with their limits, on a scale."""
    delays = {}
    for kind in NEWS2_PARAMETERS:
        parameter = limit_parameter(kind, spo2_scale)
        limit = rules.limits[parameter] if parameter is not None else None
        if limit is not None and (limit.persistence_seconds > 0 or limit.persistence_readings > 1):
            delays[kind] = limit
    return delays


def current_news2(rules: HospitalRules, patient_id: int, spo2_scale: int,
                  values: Mapping[VitalKind, tuple[float, datetime]], states: Mapping[Key, _State | None],
                  now: datetime, delays: Mapping[VitalKind, CriticalLimit] | None = None,
                  raw: Mapping[VitalKind, int] | None = None) -> News2View:
    """Return a patient's NEWS2 as detection counts it: stale values missing, delayed values pending until they last.

    Detection (the alert's headline) and every patient view (card, page, API) call this, so they cannot disagree.
    """
    delays = news2_delays(rules, spo2_scale) if delays is None else delays
    oxygen = values.get(VitalKind.ON_OXYGEN, (None, now))[0]
    delayed: dict[VitalKind, tuple[int, float | None]] = {}
    for kind, limit in delays.items():
        if kind not in values:
            continue
        points = raw[kind] if raw is not None and kind in raw else sub_score(kind, values[kind][0], spo2_scale, oxygen)
        if not points:
            continue
        counted = 0
        for level, trigger in SCORE_TRIGGERS[kind]:  # the highest level that has lasted the delay counts
            state = states.get((patient_id, trigger))
            if level <= points and state is not None and limit.persisted(state.breach_since, state.last_at,
                                                                        state.readings):
                counted = level
        seconds_left = None
        state = states.get((patient_id, SCORE_TRIGGERS[kind][points - 1][1]))
        if state is not None and limit.persistence_seconds:  # time confirms it too (Detector.confirm)
            seconds_left = max(limit.persistence_seconds - (now - state.breach_since).total_seconds(), 0.0)
        delayed[kind] = (counted, seconds_left)
    return explain(values, spo2_scale, now, rules.news2_max_age_minutes, delayed)


async def confirm_delays(uow: UnitOfWork, rules: HospitalRules, now: datetime, patient: Patient,
                         before: Mapping[VitalKind, VitalValue], states: Mapping[Key, _State]) -> None:
    """Run Detector.confirm for one patient (ward loaded) inside the caller's unit of work (the caller commits)."""
    await Detector(uow, rules, now).confirm(patient, before, states)


def waiting_on_time(rules: HospitalRules, spo2_scale: int, trigger: str, breach_since: datetime, last_at: datetime,
                    readings: int, now: datetime) -> bool:
    """Tell whether a breach has not alerted yet but would have lasted its delay by now (a confirm() candidate)."""
    state = _State(breach_since, readings, last_at)
    limit: CriticalLimit | None = None
    parts = trigger.split(':')
    if parts[0] == 'score' and len(parts) == 3:
        limit = news2_delays(rules, spo2_scale).get(VitalKind(parts[1])) if parts[1] in VITAL_KINDS else None
    elif parts[0] == 'limit' and len(parts) == 3 and parts[1] in LIMIT_NAMES:
        limit = rules.limits[LimitParameter(parts[1])]
    if limit is None or limit.persisted(state.breach_since, state.last_at, state.readings):
        return False
    return limit.persisted(state.breach_since, now, state.readings)


# Built once, with the ids as an expanding parameter: building the statement and its cache key anew for every
# batch cost about as much CPU as running it.
_IDS: BindParameter[list[int]] = bindparam('ids', expanding=True)
LOAD_CONTEXT = union_all(
    select(LATEST.c.patient_id, LATEST.c.kind, LATEST.c.value, LATEST.c.unit, LATEST.c.measured_at,
           type_coerce(null(), UTCDateTime()).label('since')).where(LATEST.c.patient_id.in_(_IDS)),
    select(STATES.c.patient_id, STATES.c.trigger, STATES.c.readings, null(), STATES.c.last_at,
           STATES.c.breach_since).where(STATES.c.patient_id.in_(_IDS)))


async def load_context(source: UnitOfWork | AsyncSession, patient_ids: Collection[int]
                       ) -> tuple[dict[int, dict[VitalKind, VitalValue]], dict[Key, _State]]:
    """Return the latest vitals and the trigger states of these patients, in one round trip (it runs per batch)."""
    latest: dict[int, dict[VitalKind, VitalValue]] = defaultdict(dict)
    states: dict[Key, _State] = {}
    if not patient_ids:
        return latest, states
    session = source.session if isinstance(source, UnitOfWork) else source
    connection = await session.connection()  # Core: the ORM's per-statement work is not needed here
    for patient_id, name, number, unit, at, since in await connection.execute(LOAD_CONTEXT,
                                                                                {'ids': sorted(patient_ids)}):
        if since is None:
            # Validated in pydantic's core: less CPU than model_construct, which runs in Python.
            latest[patient_id][KIND_OF[name]] = VitalValue(value=number, unit=unit, measured_at=at)
        else:
            states[(patient_id, name)] = _State(since, int(number), at)
    return latest, states


@dataclass(frozen=True)
class Detected:
    """What a batch's detection leaves: the trigger states (None: ended) and, where it scored it on the batch's last
    reading, each patient's NEWS2 (see Detector.news2_after)."""

    states: Mapping[Key, _State | None]
    news2: Mapping[int, News2View]


async def detect(uow: UnitOfWork, rules: HospitalRules, now: datetime, patients: Sequence[Patient],
                 before: Mapping[int, Mapping[VitalKind, VitalValue]],
                 readings: Mapping[int, Sequence[Mapping[str, Any]]], states: Mapping[Key, _State],
                 writes: StateWrites | None = None) -> Detected:
    """Run detection for one batch of one hospital inside the caller's unit of work (the caller commits).

    Returns the trigger states after the batch, for views that show what is still pending, and the NEWS2 it scored.
    With `writes`, the changed trigger states are left there for the caller to flush before it commits.
    """
    detector = Detector(uow, rules, now, writes)
    await detector.run(patients, before, readings, states)
    return Detected(detector.states, detector.news2_after)
