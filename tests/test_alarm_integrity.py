"""Clinical alarm integrity, as scenarios with an injected clock on SQLite and PostgreSQL: a worse patient re-alarms
through an acknowledgement or a snooze, a better one never does, the headline is the card's NEWS2, old readings are
history only, values age out of NEWS2, and late observations raise their own alert until the next full set."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from app.bootstrap import Vigil
from app.domain import AlertEventType, AlertKind, AlertStatus, Priority, VitalKind
from app.events import AlertReactivated, AlertUpdated, Event
from app.schemas import Actor, AlertFilter, AlertView, PatientView, VitalReadingIn
from app.services.escalation import Watchdog

from .conftest import FakeClock, World
from .test_detection import NORMAL, UNITS

ALL = AlertFilter(statuses=(AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED))
BED = 'North-1'
FIVE = {**NORMAL, 'resp_rate': 21, 'heart_rate': 111, 'temperature': 38.5}  # 2 + 2 + 1: aggregate 5, high
SEVEN = {**FIVE, 'on_oxygen': 1}  # + 2: aggregate 7, critical


def monitor(world: World) -> Actor:
    return Actor.system('bedside monitor', hospital_id=world.a.hospital_id)


async def send(vigil: Vigil, world: World, clock: FakeClock, measured_at: datetime | None = None,
               **values: float) -> list[bool]:
    """Record readings for the bed; return, per reading, whether it was kept as history only."""
    stored = await vigil.patients.record_vitals(monitor(world), [
        VitalReadingIn(patient_mrn=f'alpha-{BED}', kind=VitalKind(kind), value=value, unit=UNITS[VitalKind(kind)],
                       measured_at=measured_at or clock()) for kind, value in values.items()])
    return [view.history_only for view in stored]


async def news2_alert(vigil: Vigil, world: World) -> AlertView:
    [alert] = [a for a in await vigil.alerts.list_alerts(world.a.actor('admin'), ALL) if a.kind is AlertKind.NEWS2]
    return alert


async def patient(vigil: Vigil, world: World) -> PatientView:
    return await vigil.patients.get(world.a.actor('admin'), world.a.patient_ids[BED])


async def trail(vigil: Vigil, alert_id: int) -> list[tuple[AlertEventType, str]]:
    return [(e.type, e.note or '') for e in await vigil.alerts.audit_trail(Actor.system(), alert_id)]


# --- re-alarm on deterioration ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rise:
    name: str
    respond: str  # what a person did to the NEWS2 5 alert before the patient changed: acknowledge, snooze or nothing
    then: dict[str, float]
    priority: Priority
    realarm: bool
    note: str  # the end of the audit entry of the change


RISES = [
    Rise('acknowledged, then worse', 'acknowledge', SEVEN, Priority.CRITICAL, True,
         'NEWS2 5 → 7: priority high → critical; acknowledgement by Doctor (alpha-doctor) at 08:01 UTC superseded, the '
         'alert is waiting again'),
    Rise('snoozed, then worse', 'snooze', SEVEN, Priority.CRITICAL, True,
         'NEWS2 5 → 7: priority high → critical; snooze until 09:01 UTC ended'),
    Rise('not yet answered, then worse', 'nothing', SEVEN, Priority.CRITICAL, True,
         'NEWS2 5 → 7: priority high → critical'),
    Rise('acknowledged, then better', 'acknowledge', {**NORMAL, 'resp_rate': 25}, Priority.HIGH, False,
         'NEWS2 5 → 3: NEWS2 3 (low-medium risk, urgent ward-based response): respiratory rate 25 /min (3); '
         'the alert stays high (the patient was worse earlier) until a person resolves it'),
]


@pytest.mark.parametrize('case', RISES, ids=[c.name for c in RISES])
async def test_a_worse_patient_re_alarms_and_a_better_one_never_does(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event], case: Rise) -> None:
    await send(vigil, world, clock, **FIVE)
    raised = await news2_alert(vigil, world)
    assert (raised.priority, raised.status) == (Priority.HIGH, AlertStatus.ACTIVE)
    clock.advance(minutes=1)
    doctor = world.a.actor('doctor')
    if case.respond == 'acknowledge':
        await vigil.alerts.acknowledge(doctor, raised.id)
    elif case.respond == 'snooze':
        await vigil.alerts.snooze(doctor, raised.id, 60, 'reviewed, antibiotics started')
    clock.advance(minutes=2)
    await vigil.bus.drain()
    received.clear()

    await send(vigil, world, clock, **case.then)

    after = await news2_alert(vigil, world)
    assert after.priority is case.priority
    assert (await trail(vigil, raised.id))[-1][1].endswith(case.note)
    await vigil.bus.drain()
    reactivated = [e for e in received if isinstance(e, AlertReactivated)]
    if case.realarm:
        # Waiting again: active, nobody's acknowledgement, no snooze, the escalation ladder restarted at critical.
        assert (after.status, after.acknowledged_by, after.snoozed_until) == (AlertStatus.ACTIVE, None, None)
        assert (await trail(vigil, raised.id))[-1][0] is AlertEventType.REACTIVATED
        critical_first_step = timedelta(minutes=2)
        restarted = clock() + critical_first_step
        # An alert nobody answered never waits longer than its old ladder would have made it at the new priority.
        assert after.next_escalation_at == (min(restarted, raised.created_at + critical_first_step)
                                            if case.respond != 'acknowledge' else restarted)
        assert [e.alert.id for e in reactivated] == [raised.id]
        assert (await vigil.metrics.overview(world.a.actor('admin'))).waiting == 1  # waiting
        assert after.message.startswith('NEWS2 7 (high risk, emergency response)')
    else:
        assert reactivated == []
        assert after.status is AlertStatus.ACKNOWLEDGED and after.acknowledged_by == 'Doctor (alpha-doctor)'
        assert [e.alert.id for e in received if isinstance(e, AlertUpdated)] == [raised.id]


async def test_the_escalation_clock_runs_again_after_a_re_alarm(vigil: Vigil, world: World,
                                                                clock: FakeClock) -> None:
    await send(vigil, world, clock, **FIVE)
    alert = await news2_alert(vigil, world)
    await vigil.alerts.acknowledge(world.a.actor('doctor'), alert.id)
    clock.advance(minutes=10)
    watchdog = Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules)
    assert (await watchdog.tick()).escalated == ()  # acknowledged: nothing escalates
    await send(vigil, world, clock, **SEVEN)
    clock.advance(minutes=2)
    [escalated] = (await watchdog.tick()).escalated
    assert (escalated.id, escalated.escalation_level, escalated.priority) == (alert.id, 1, Priority.CRITICAL)
    assert escalated.next_escalation_at == clock() + timedelta(minutes=3)  # critical's second step: 5 min after


# --- one truth per patient --------------------------------------------------------------------------------------------

async def test_the_headline_is_the_cards_news2_on_every_change(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, **FIVE)
    for change in ({'heart_rate': 131}, {'heart_rate': 112}, {'spo2': 93}, {'resp_rate': 12}):
        clock.advance(seconds=30)
        await send(vigil, world, clock, **change)
        card, alert = await patient(vigil, world), await news2_alert(vigil, world)
        assert card.news2 is not None
        assert alert.message.split('; the alert stays')[0].split('; recovered below')[0] == card.news2.explanation
    # A value moving within its band changes no headline (and writes nothing to the trail).
    before = await trail(vigil, alert.id)
    clock.advance(seconds=30)
    await send(vigil, world, clock, heart_rate=113)
    assert await trail(vigil, alert.id) == before


# --- old readings and stale values ------------------------------------------------------------------------------------

async def test_a_reading_measured_long_before_it_arrived_is_history_only(vigil: Vigil, world: World,
                                                                          clock: FakeClock) -> None:
    old = datetime(1990, 1, 1, tzinfo=UTC)
    assert await send(vigil, world, clock, measured_at=old, heart_rate=35) == [True]
    view = await patient(vigil, world)
    assert VitalKind.HEART_RATE not in view.latest  # not the latest value
    assert await vigil.alerts.list_alerts(world.a.actor('admin'), ALL) == []  # and no alert
    # A day old is still history; just under it counts.
    assert await send(vigil, world, clock, measured_at=clock() - timedelta(hours=24, seconds=1), heart_rate=35) == [
        True]
    assert await send(vigil, world, clock, measured_at=clock() - timedelta(hours=23, minutes=59), heart_rate=72) == [
        False]
    assert (await patient(vigil, world)).latest[VitalKind.HEART_RATE].value == 72


async def test_the_stale_reading_age_is_the_hospitals(vigil: Vigil, world: World, clock: FakeClock) -> None:
    async with vigil.db.uow() as uow:
        from data.models import Hospital
        hospital = await uow.session.get(Hospital, world.a.hospital_id)
        assert hospital is not None
        hospital.stale_reading_hours = 2
        await uow.commit()
    vigil.rules.forget(world.a.hospital_id)
    assert await send(vigil, world, clock, measured_at=clock() - timedelta(hours=3), heart_rate=35) == [True]
    assert await vigil.alerts.list_alerts(world.a.actor('admin'), ALL) == []


async def test_a_value_older_than_its_maximum_age_counts_as_missing(vigil: Vigil, world: World,
                                                                     clock: FakeClock) -> None:
    await send(vigil, world, clock, **{**NORMAL, 'resp_rate': 25})  # 3 points: a single 3
    assert (await news2_alert(vigil, world)).priority is Priority.MEDIUM
    clock.advance(hours=13)  # exactly the default maximum age: still counts
    view = await patient(vigil, world)
    assert view.news2 is not None and view.news2.stale == {} and view.news2.total == 3
    clock.advance(hours=1)
    await send(vigil, world, clock, heart_rate=72)  # a new pulse; everything else is 14 h old now
    view = await patient(vigil, world)
    assert view.news2 is not None
    assert view.news2.total == 0 and VitalKind.RESP_RATE in view.news2.missing
    assert view.news2.stale[VitalKind.RESP_RATE] == 14 * 3600
    assert 'stale: respiratory rate (14 h)' in view.news2.explanation
    assert VitalKind.HEART_RATE not in view.news2.stale


# --- observations overdue ---------------------------------------------------------------------------------------------

async def overdue(vigil: Vigil, world: World) -> list[AlertView]:
    return [a for a in await vigil.alerts.list_alerts(world.a.actor('admin'), ALL)
            if a.kind is AlertKind.OBSERVATIONS_OVERDUE]


@pytest.mark.parametrize(('values', 'interval'), [
    (NORMAL, timedelta(hours=12)),  # NEWS2 0: 12-hourly
    ({**NORMAL, 'heart_rate': 95}, timedelta(hours=4)),  # 1-4: 4-hourly
    ({**NORMAL, 'resp_rate': 25}, timedelta(hours=1)),  # a single 3: hourly
    (FIVE, timedelta(hours=1)),  # 5-6: hourly
    (SEVEN, timedelta(minutes=15)),  # 7+: continuous, a full set every 15 min
], ids=['news2 0', 'news2 1-4', 'single 3', 'news2 5-6', 'news2 7+'])
async def test_the_next_full_set_is_due_by_the_score(vigil: Vigil, world: World, clock: FakeClock,
                                                     values: dict[str, float], interval: timedelta) -> None:
    start = clock()
    await send(vigil, world, clock, **values)
    assert (await patient(vigil, world)).observations_due_at == start + interval


async def test_late_observations_alert_low_then_medium_and_the_next_full_set_ends_it(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    start = clock()
    await send(vigil, world, clock, **{**NORMAL, 'heart_rate': 95})  # NEWS2 1: due in 4 h
    watchdog = Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules)
    clock.advance(hours=4, minutes=29)  # within the 30 min grace
    assert (await watchdog.tick()).overdue_observations == ()
    await send(vigil, world, clock, heart_rate=96, spo2=97)  # a partial set does not count as the round
    clock.advance(minutes=2)
    [low] = (await watchdog.tick()).overdue_observations
    assert (low.priority, low.status, low.patient_id) == (Priority.LOW, AlertStatus.ACTIVE,
                                                          world.a.patient_ids[BED])
    assert low.message == 'Observations overdue: a full NEWS2 set was due at 12:00 UTC, 31 min ago'
    assert (await watchdog.tick()).overdue_observations == ()  # once
    await vigil.alerts.acknowledge(world.a.actor('nurse'), low.id)
    clock.advance(minutes=30)
    [medium] = (await watchdog.tick()).overdue_observations
    assert (medium.id, medium.priority, medium.status) == (low.id, Priority.MEDIUM, AlertStatus.ACTIVE)
    assert start + timedelta(hours=4) < clock()
    await send(vigil, world, clock, **NORMAL)  # the full set
    [done] = await overdue(vigil, world)
    assert (done.status, done.resolved_by) == (AlertStatus.RESOLVED, 'detection')
    assert (await patient(vigil, world)).observations_due_at == clock() + timedelta(hours=12)
    clock.advance(hours=1)
    assert (await watchdog.tick()).overdue_observations == ()


async def test_a_patient_never_given_a_full_set_is_overdue_from_the_first_reading(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    start = clock()
    await send(vigil, world, clock, spo2=97, heart_rate=72)  # a monitor alone: no NEWS2 full set
    assert (await patient(vigil, world)).observations_due_at == start
    clock.advance(minutes=31)
    await send(vigil, world, clock, spo2=97, heart_rate=72)
    [alert] = (await Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules).tick()).overdue_observations
    assert alert.priority is Priority.LOW


# --- a spot check outlasts its persistence delay ---------------------------------------------------------------------

async def test_a_spot_check_counts_and_alerts_once_its_delay_has_passed_without_another_reading(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, spo2=88)  # typed in once: no second reading will come
    pending = (await patient(vigil, world)).news2
    assert pending is not None and pending.sub_scores == {VitalKind.SPO2: 0} and VitalKind.SPO2 in pending.pending
    watchdog = Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules)
    clock.advance(seconds=10)
    assert await watchdog.confirm_delays() == 0  # still inside its 15 s
    assert await vigil.alerts.list_alerts(world.a.actor('admin'), ALL) == []
    clock.advance(seconds=5)

    assert await watchdog.confirm_delays() == 1

    confirmed = (await patient(vigil, world)).news2
    assert confirmed is not None and confirmed.sub_scores == {VitalKind.SPO2: 3} and confirmed.pending == {}
    raised = {a.kind: a for a in await vigil.alerts.list_alerts(world.a.actor('admin'), ALL)}
    assert raised[AlertKind.CRITICAL_VALUE].message == 'Critical value: SpO2 88 %, at or below the limit of 91 %'
    assert raised[AlertKind.NEWS2].message == confirmed.explanation  # the card and the headline agree
    assert await watchdog.confirm_delays() == 0  # once


async def test_a_delay_that_counts_readings_still_waits_for_them(vigil: Vigil, world: World,
                                                                  clock: FakeClock) -> None:
    await vigil.rules.set_limit(world.a.actor('admin'), 'resp_rate', low=8, high=25, persistence_seconds=10,
                                persistence_readings=2)
    await send(vigil, world, clock, resp_rate=30)
    clock.advance(minutes=1)
    assert await Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules).confirm_delays() == 0
    assert await vigil.alerts.list_alerts(world.a.actor('admin'), ALL) == []
