"""The dashboard's numbers: alert load and response times of one scope, on SQLite and PostgreSQL."""

from app.bootstrap import Vigil
from app.domain import Priority
from app.schemas import Actor, AlertView, NewAlert

from .conftest import FakeClock, World


async def raise_on(vigil: Vigil, world: World, bed: str, priority: Priority, side: str = 'a') -> AlertView:
    hospital = getattr(world, side)
    return await vigil.alerts.raise_alert(Actor.system('test', hospital.hospital_id), NewAlert(
        priority=priority, message=f'{priority} on {bed}', patient_id=hospital.patient_ids[bed]))


async def test_nothing_happened_yet(vigil: Vigil, world: World) -> None:
    view = await vigil.metrics.overview(world.a.actor('admin'))

    assert view.open_total == 0 and view.waiting == 0 and view.raised_last_hour == 0
    assert view.median_seconds_to_acknowledge is None and view.median_seconds_to_resolve is None
    assert view.patients_monitored == 4


async def test_open_alerts_are_counted_by_priority_within_each_scope(vigil: Vigil, world: World) -> None:
    await raise_on(vigil, world, 'North-1', Priority.CRITICAL)
    await raise_on(vigil, world, 'North-2', Priority.MEDIUM)
    south_critical = await raise_on(vigil, world, 'South-1', Priority.CRITICAL)
    await raise_on(vigil, world, 'South-2', Priority.LOW)
    await raise_on(vigil, world, 'East-1', Priority.CRITICAL, side='b')
    await vigil.alerts.acknowledge(world.a.actor('admin'), south_critical.id)

    admin = await vigil.metrics.overview(world.a.actor('admin'))
    nurse = await vigil.metrics.overview(world.a.actor('nurse'))  # North only
    doctor = await vigil.metrics.overview(world.a.actor('doctor'))  # critical and high of the hospital
    other = await vigil.metrics.overview(world.b.actor('admin'))

    assert admin.open_by_priority == {Priority.CRITICAL: 2, Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 1}
    assert (admin.open_total, admin.waiting, admin.raised_last_hour) == (4, 1, 4)
    assert (nurse.open_total, nurse.waiting, nurse.patients_monitored) == (2, 1, 2)
    assert (doctor.open_total, doctor.waiting, doctor.patients_monitored) == (2, 1, 4)
    assert (other.open_total, other.waiting, other.patients_monitored) == (1, 1, 2)


async def test_median_response_times_cover_the_last_24_hours(vigil: Vigil, world: World, clock: FakeClock) -> None:
    admin = world.a.actor('admin')
    old = await raise_on(vigil, world, 'North-1', Priority.HIGH)
    clock.advance(minutes=30)
    await vigil.alerts.acknowledge(admin, old.id)  # 30 min, but more than a day before the question
    await vigil.alerts.resolve(admin, old.id)
    clock.advance(hours=25)
    alerts = [await raise_on(vigil, world, bed, Priority.HIGH) for bed in ('North-2', 'South-1', 'South-2')]
    for alert, minutes in zip(alerts, (1, 2, 6), strict=True):
        clock.advance(minutes=minutes)
        await vigil.alerts.acknowledge(admin, alert.id)
    clock.advance(minutes=1)
    await vigil.alerts.resolve(admin, alerts[0].id)  # 10 min after it was raised

    view = await vigil.metrics.overview(admin)

    assert view.median_seconds_to_acknowledge == 3 * 60  # of 1, 3 and 9 minutes
    assert view.acknowledged_last_24h == 3
    assert view.median_seconds_to_resolve == 10 * 60
    assert view.resolved_last_24h == 1
    assert view.open_total == 2
    assert view.raised_last_hour == 3


async def test_alerts_in_the_last_hour_slide_with_the_clock(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await raise_on(vigil, world, 'North-1', Priority.LOW)
    clock.advance(minutes=40)
    await raise_on(vigil, world, 'North-2', Priority.LOW)
    assert (await vigil.metrics.overview(world.a.actor('admin'))).raised_last_hour == 2

    clock.advance(minutes=30)

    assert (await vigil.metrics.overview(world.a.actor('admin'))).raised_last_hour == 1
    assert (await vigil.metrics.overview(world.a.actor('admin'))).open_total == 2
