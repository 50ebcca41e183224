"""The watchdog with an injected clock: escalation on time and once, across restarts and processes; device heartbeat."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import Vigil, build
from app.config import Settings
from app.domain import AlertEventType, AlertKind, AlertStatus, Priority, TokenKind, VitalKind
from app.events import AlertCleared, Event
from app.schemas import Actor, AlertView, NewAlert, VitalReadingIn
from app.services.escalation import Watchdog
from data.models import ApiToken

from .conftest import FakeClock, World

Factory = Callable[[], Vigil]


def watchdog(vigil: Vigil) -> Watchdog:
    return Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules)


@pytest.fixture
async def other_process(db_url: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Factory]:
    """Build further Vigils on the same database, as another (or a restarted) server process would."""
    built: list[Vigil] = []

    def make() -> Vigil:
        built.append(build(Settings(database_url=db_url, data_dir=tmp_path), clock=clock))
        return built[-1]

    yield make
    for each in built:
        await each.close()


async def raise_critical(vigil: Vigil, world: World, bed: str = 'North-1') -> AlertView:
    return await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.CRITICAL, message='Cardiac arrest', patient_id=world.a.patient_ids[bed]))


async def escalations(vigil: Vigil, alert_id: int) -> list[tuple[int, str]]:
    return [(e.escalation_level, e.note or '') for e in await vigil.alerts.audit_trail(Actor.system(), alert_id)
            if e.type is AlertEventType.ESCALATED]


# --- escalation -----------------------------------------------------------------------------------------------------

async def test_escalation_fires_on_time_and_once(vigil: Vigil, world: World, clock: FakeClock) -> None:
    alert = await raise_critical(vigil, world)
    dog = watchdog(vigil)
    clock.advance(minutes=1, seconds=59)
    assert (await dog.tick()).escalated == ()
    clock.advance(seconds=1)
    [first] = (await dog.tick()).escalated
    assert (first.id, first.escalation_level, first.next_escalation_at) == (
        alert.id, 1, alert.created_at + timedelta(minutes=5))
    assert (await dog.tick()).escalated == ()
    clock.advance(minutes=3)
    [second] = (await dog.tick()).escalated
    assert (second.escalation_level, second.next_escalation_at) == (2, None)
    clock.advance(hours=2)
    assert (await dog.tick()).escalated == ()
    assert await escalations(vigil, alert.id) == [(1, 'not acknowledged within 2 min'),
                                                  (2, 'not acknowledged within 5 min')]


async def test_a_restarted_process_picks_up_the_stored_schedule(
        vigil: Vigil, world: World, clock: FakeClock, other_process: Factory) -> None:
    alert = await raise_critical(vigil, world)
    clock.advance(minutes=2)
    [first] = (await watchdog(vigil).tick()).escalated
    assert first.escalation_level == 1
    await vigil.close()  # the process ends ...
    restarted = other_process()  # ... and a new one starts on the same database
    dog = watchdog(restarted)
    clock.advance(minutes=1)
    assert (await dog.tick()).escalated == ()  # the first step is not repeated
    clock.advance(minutes=2)
    [second] = (await dog.tick()).escalated
    assert (second.id, second.escalation_level) == (alert.id, 2)
    assert [level for level, _ in await escalations(restarted, alert.id)] == [1, 2]


async def test_an_escalation_missed_while_down_happens_once_on_start(
        vigil: Vigil, world: World, clock: FakeClock, other_process: Factory) -> None:
    alert = await raise_critical(vigil, world)
    await vigil.close()
    clock.advance(minutes=3)  # nobody ran while the first step fell due
    [late] = (await watchdog(other_process()).tick()).escalated
    assert (late.id, late.escalation_level) == (alert.id, 1)
    assert late.next_escalation_at == alert.created_at + timedelta(minutes=5)


async def test_acknowledged_and_resolved_alerts_never_escalate(vigil: Vigil, world: World, clock: FakeClock) -> None:
    acked = await raise_critical(vigil, world, 'North-1')
    resolved = await raise_critical(vigil, world, 'North-2')
    await vigil.alerts.acknowledge(world.a.actor('nurse'), acked.id)
    await vigil.alerts.resolve(world.a.actor('nurse'), resolved.id)
    dog = watchdog(vigil)
    for _ in range(4):
        clock.advance(minutes=30)
        assert (await dog.tick()).escalated == ()
    assert await escalations(vigil, acked.id) == [] and await escalations(vigil, resolved.id) == []


async def test_two_processes_ticking_together_escalate_each_alert_once(
        vigil: Vigil, world: World, clock: FakeClock, other_process: Factory) -> None:
    raised = [await raise_critical(vigil, world, bed) for bed in ('North-1', 'North-2', 'South-1', 'South-2')]
    clock.advance(minutes=2)
    one, two = await asyncio.gather(watchdog(vigil).tick(), watchdog(other_process()).tick())
    ids = [a.id for a in one.escalated + two.escalated]
    assert sorted(ids) == sorted(a.id for a in raised)  # every alert, none twice
    for alert in raised:
        assert [level for level, _ in await escalations(vigil, alert.id)] == [1]


async def test_the_hospitals_policy_drives_the_watchdog(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.rules.set_escalation(world.a.actor('admin'), Priority.CRITICAL, [1])
    alert = await raise_critical(vigil, world)
    clock.advance(minutes=1)
    [escalated] = (await watchdog(vigil).tick()).escalated
    assert (escalated.id, escalated.next_escalation_at) == (alert.id, None)


# --- the loop -------------------------------------------------------------------------------------------------------

class Rounds:
    """A sleep the test controls: each call reports a finished round and waits for the test to allow the next."""

    def __init__(self) -> None:
        self.finished = asyncio.Queue[float]()
        self._next = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.finished.put_nowait(seconds)
        await self._next.wait()
        self._next.clear()

    async def one(self) -> float:
        return await asyncio.wait_for(self.finished.get(), timeout=10)

    def go(self) -> None:
        self._next.set()


async def test_the_loop_survives_a_failing_round_and_stops_cleanly(
        vigil: Vigil, world: World, clock: FakeClock, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alert = await raise_critical(vigil, world)
    clock.advance(minutes=2)
    real = vigil.alerts.escalate_due
    calls = 0

    async def flaky(*args: object, **kwargs: object) -> list[AlertView]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError('database went away')
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vigil.alerts, 'escalate_due', flaky)
    rounds = Rounds()
    dog = Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules, interval_seconds=2.5, sleep=rounds.sleep)
    with caplog.at_level(logging.INFO, logger='app.services.escalation'):
        dog.start()
        dog.start()  # a second start does not start a second loop
        assert await rounds.one() == 2.5
        assert dog.running
        assert 'watchdog: the escalation step failed; retrying in 2.5 s' in caplog.text
        assert 'database went away' in caplog.text
        assert (await vigil.alerts.get(Actor.system(), alert.id)).escalation_level == 0
        rounds.go()
        await rounds.one()
        assert (await vigil.alerts.get(Actor.system(), alert.id)).escalation_level == 1
        assert calls == 2
        await dog.stop()
    assert not dog.running
    await dog.stop()  # stopping twice is harmless


async def test_the_running_loop_also_raises_observations_overdue(vigil: Vigil, world: World,
                                                                 clock: FakeClock) -> None:
    await vigil.patients.record_vitals(Actor.system('monitor', hospital_id=world.a.hospital_id), [VitalReadingIn(
        patient_mrn='alpha-North-1', kind=VitalKind.HEART_RATE, value=72, unit='/min', measured_at=clock())])
    clock.advance(minutes=31)  # no full set since the first reading: due then, past the 30 min grace now
    rounds = Rounds()
    dog = Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules, interval_seconds=5, sleep=rounds.sleep)
    dog.start()
    await rounds.one()
    await dog.stop()
    [alert] = await vigil.alerts.list_alerts(world.a.actor('admin'))
    assert (alert.kind, alert.priority, alert.patient_id) == (
        AlertKind.OBSERVATIONS_OVERDUE, Priority.LOW, world.a.patient_ids['North-1'])


# --- device heartbeat -----------------------------------------------------------------------------------------------

async def device(vigil: Vigil, name: str = 'AMU monitor gateway', slug: str = 'alpha') -> Actor:
    created = await vigil.tokens.create(hospital_slug=slug, kind=TokenKind.DEVICE, name=name)
    return await vigil.tokens.verify(created.secret)


async def send(vigil: Vigil, clock: FakeClock, actor: Actor, mrn: str = 'alpha-South-1') -> None:
    await vigil.patients.record_vitals(actor, [VitalReadingIn(
        patient_mrn=mrn, kind=VitalKind.HEART_RATE, value=72, unit='/min', measured_at=clock())])


async def token_row(vigil: Vigil, token_id: int | None) -> ApiToken:
    async with vigil.db.read() as session:
        token = await session.scalar(select(ApiToken).where(ApiToken.id == token_id))
    assert token is not None
    return token


async def test_a_device_that_stops_sending_raises_one_heartbeat_alert(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    monitor = await device(vigil)
    await send(vigil, clock, monitor)
    seen = await token_row(vigil, monitor.token_id)
    assert (seen.last_seen_at, seen.last_ward_id, seen.silent_since) == (clock(), world.a.ward_ids['South'], None)
    start = clock()
    dog = watchdog(vigil)
    clock.advance(seconds=120)
    assert (await dog.tick()).silent_devices == ()  # 120 s is the limit, not beyond it
    clock.advance(seconds=1)
    [alert] = (await dog.tick()).silent_devices
    assert (alert.kind, alert.priority, alert.ward_name, alert.patient_id, alert.dedup_key) == (
        AlertKind.HEARTBEAT, Priority.HIGH, 'South', None, f'heartbeat:{monitor.token_id}')
    assert alert.message == ('Device "AMU monitor gateway" has sent nothing for 2 min (last reading 08:00:00 UTC): '
                             'its patients are not being watched')
    assert alert.next_escalation_at == clock() + timedelta(minutes=5)  # it escalates like any high alert
    assert (await token_row(vigil, monitor.token_id)).silent_since == clock()
    clock.advance(minutes=10)
    assert (await dog.tick()).silent_devices == ()  # once per silence
    # Sending again clears it (the hospital latches: it stays until a person resolves it).
    await send(vigil, clock, monitor)
    cleared = await vigil.alerts.get(Actor.system(), alert.id)
    assert (cleared.status, cleared.cleared_at) == (AlertStatus.ACTIVE, clock())
    trail = await vigil.alerts.audit_trail(Actor.system(), alert.id)
    assert (trail[-1].type, trail[-1].actor) == (AlertEventType.CLEARED, 'device watchdog')
    assert (trail[-1].note or '').startswith('device "AMU monitor gateway" is sending again after 12 min')
    assert (await token_row(vigil, monitor.token_id)).silent_since is None
    await vigil.bus.drain()
    assert [e.alert.id for e in received if isinstance(e, AlertCleared)] == [alert.id]
    # Silent again: the same open alert counts one more occurrence.
    clock.advance(minutes=3)
    [again] = (await dog.tick()).silent_devices
    assert (again.id, again.occurrences, again.cleared_at) == (alert.id, 2, None)
    assert start < again.last_triggered_at


@pytest.mark.parametrize(('silence', 'every'), [(120, 10), (30, 7.5)])
async def test_a_busy_device_has_its_last_seen_time_written_every_few_seconds(
        vigil: Vigil, world: World, clock: FakeClock, silence: int, every: float) -> None:
    await vigil.rules.update_settings(world.a.actor('admin'), device_silence_seconds=silence)
    monitor = await device(vigil)
    await send(vigil, clock, monitor)
    first = clock()
    clock.advance(seconds=every - 0.5)
    await send(vigil, clock, monitor, 'alpha-North-1')
    assert (await token_row(vigil, monitor.token_id)).last_seen_at == first  # a quarter of the timeout at most

    clock.advance(seconds=0.5)
    await send(vigil, clock, monitor, 'alpha-North-1')

    seen = await token_row(vigil, monitor.token_id)
    assert (seen.last_seen_at, seen.last_ward_id) == (clock(), world.a.ward_ids['North'])


async def test_a_hospital_that_does_not_latch_resolves_the_heartbeat_alert(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.rules.update_settings(world.a.actor('admin'), alarms_latch=False, device_silence_seconds=60)
    monitor = await device(vigil)
    await send(vigil, clock, monitor)
    clock.advance(seconds=61)
    [alert] = (await watchdog(vigil).tick()).silent_devices
    clock.advance(seconds=10)
    await send(vigil, clock, monitor)
    resolved = await vigil.alerts.get(Actor.system(), alert.id)
    assert (resolved.status, resolved.resolved_by) == (AlertStatus.RESOLVED, 'device watchdog')


async def test_the_hospitals_silence_time_applies(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.rules.update_settings(world.b.actor('admin'), device_silence_seconds=600)
    alpha, beta = await device(vigil), await device(vigil, 'East monitor', 'beta')
    await send(vigil, clock, alpha)
    await send(vigil, clock, beta, 'beta-East-1')
    clock.advance(seconds=300)
    [alert] = (await watchdog(vigil).tick()).silent_devices
    assert alert.hospital_id == world.a.hospital_id
    clock.advance(seconds=301)
    [other] = (await watchdog(vigil).tick()).silent_devices
    assert (other.hospital_id, other.ward_name) == (world.b.hospital_id, 'East')


async def test_revoked_and_never_sending_tokens_never_alarm(vigil: Vigil, world: World, clock: FakeClock) -> None:
    monitor = await device(vigil)
    await device(vigil, 'spare monitor')  # never sent anything
    await send(vigil, clock, monitor)
    await vigil.tokens.revoke(hospital_slug='alpha', name='AMU monitor gateway')
    clock.advance(hours=1)
    assert (await watchdog(vigil).tick()).silent_devices == ()
    # (The patient's observations are overdue by now: that alert is the patient's, not the device's.)
    assert [a for a in await vigil.alerts.list_alerts(world.a.actor('admin')) if a.kind is AlertKind.HEARTBEAT] == []


async def test_only_device_tokens_are_watched(vigil: Vigil, world: World, clock: FakeClock) -> None:
    created = await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.INTEGRATION, name='lab system')
    integration = await vigil.tokens.verify(created.secret)
    await send(vigil, clock, integration)
    assert (await token_row(vigil, integration.token_id)).last_seen_at is None
    await send(vigil, clock, Actor.system('import', hospital_id=world.a.hospital_id))
    clock.advance(hours=1)
    assert (await watchdog(vigil).tick()).silent_devices == ()


async def test_two_processes_report_a_silent_device_once(
        vigil: Vigil, world: World, clock: FakeClock, other_process: Factory) -> None:
    monitors = [await device(vigil, f'monitor {n}') for n in range(3)]
    for monitor in monitors:
        await send(vigil, clock, monitor)
    clock.advance(minutes=5)
    one, two = await asyncio.gather(watchdog(vigil).check_devices(), watchdog(other_process()).check_devices())
    assert sorted(a.dedup_key or '' for a in one + two) == sorted(f'heartbeat:{m.token_id}' for m in monitors)
    assert len(await vigil.alerts.list_alerts(world.a.actor('admin'))) == 3


async def test_a_device_heard_between_the_check_and_the_claim_is_not_reported(
        vigil: Vigil, world: World, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monitor = await device(vigil)
    await send(vigil, clock, monitor)
    clock.advance(minutes=5)
    dog = watchdog(vigil)
    report = dog._report_silent

    async def send_first(*args: object) -> AlertView | None:
        await send(vigil, clock, monitor)  # the device speaks up just before the claim
        return await report(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(dog, '_report_silent', send_first)
    assert await dog.check_devices() == []
    assert (await token_row(vigil, monitor.token_id)).silent_since is None
