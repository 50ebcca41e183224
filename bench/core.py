"""Core throughput on the embedded SQLite database, each figure beside its floor from the same run.

    python -m bench.core [--readings 20000] [--alerts 300] [--subscribers 100] [--events 1000]

Prints a table; nothing is asserted (machines are shared and noisy: read the ratios).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from app.bootstrap import Vigil, build, migrate, seed
from app.config import Settings
from app.domain import Priority, VitalKind
from app.events import AlertRaised, Event
from app.schemas import Actor, NewAlert, VitalReadingIn
from data.models import VitalReading


async def readings_per_second(vigil: Vigil, total: int, batch: int) -> tuple[float, float]:
    """Return (service, raw floor) readings per second for batches of the given size."""
    actor = Actor.system('bench', hospital_id=1)
    patients = await vigil.patients.list_patients(actor)
    start = datetime.now(UTC) - timedelta(hours=1)
    readings = [VitalReadingIn(patient_mrn=patients[i % len(patients)].mrn, kind=VitalKind.HEART_RATE,
                               value=60 + i % 40, unit='/min', measured_at=start + timedelta(milliseconds=i))
                for i in range(total)]
    began = time.perf_counter()
    for offset in range(0, total, batch):
        await vigil.patients.record_vitals(actor, readings[offset:offset + batch])
    service = total / (time.perf_counter() - began)

    rows = [{'hospital_id': 1, 'patient_id': patients[i % len(patients)].id, 'kind': 'heart_rate',
             'value': 60.0, 'unit': '/min', 'measured_at': r.measured_at, 'recorded_at': r.measured_at,
             'source': 'floor'} for i, r in enumerate(readings)]
    began = time.perf_counter()
    for offset in range(0, total, batch):
        async with vigil.db.uow() as uow:
            await uow.session.execute(insert(VitalReading), rows[offset:offset + batch])
            await uow.commit()
    return service, total / (time.perf_counter() - began)


async def alert_cycle(vigil: Vigil, count: int) -> dict[str, float]:
    """Return per-operation milliseconds (median) for raise, acknowledge and resolve."""
    actor = Actor.system('bench', hospital_id=1)
    patients = await vigil.patients.list_patients(actor)
    timings: dict[str, list[float]] = {'raise': [], 'acknowledge': [], 'resolve': []}
    integration = 'bench'
    for i in range(count):
        began = time.perf_counter()
        alert = await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.HIGH, message=f'bench {i}',
                                                               patient_id=patients[i % len(patients)].id))
        timings['raise'].append(time.perf_counter() - began)
        began = time.perf_counter()
        await vigil.alerts.acknowledge(actor, alert.id, expected_version=alert.version, on_behalf_of=integration)
        timings['acknowledge'].append(time.perf_counter() - began)
        began = time.perf_counter()
        await vigil.alerts.resolve(actor, alert.id)
        timings['resolve'].append(time.perf_counter() - began)
    return {k: statistics.median(v) * 1000 for k, v in timings.items()}


async def fan_out(vigil: Vigil, subscribers: int, events: int) -> float:
    """Return the seconds to deliver `events` events to every one of `subscribers` subscribers."""
    alert = (await vigil.alerts.list_alerts(Actor.system('bench', hospital_id=1)) or [None])[0]
    sample = await vigil.alerts.raise_alert(Actor.system('bench', hospital_id=1), NewAlert(
        priority=Priority.LOW, message='fan-out sample', ward_id=1)) if alert is None else alert
    counts = [0] * subscribers

    def counter(index: int) -> object:
        def handle(_: Event) -> None:
            counts[index] += 1
        return handle

    handles = [vigil.bus.subscribe(counter(i), hospital_id=1, queue_size=events) for i in range(subscribers)]
    event = AlertRaised(hospital_id=1, ward_id=1, occurred_at=datetime.now(UTC), actor='bench', alert=sample)
    began = time.perf_counter()
    for seq in range(1, events + 1):
        await vigil.bus.publish(event.model_copy(update={'seq': seq}))
    await vigil.bus.drain()
    elapsed = time.perf_counter() - began
    assert all(c == events for c in counts), 'an event was lost'
    for handle in handles:
        handle()
    return elapsed


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), demo=True)
        await migrate(settings)
        vigil = build(settings)
        try:
            await seed(vigil)
            single, single_floor = await readings_per_second(vigil, args.readings // 20, 1)
            batched, batched_floor = await readings_per_second(vigil, args.readings, 100)
            cycle = await alert_cycle(vigil, args.alerts)
            seconds = await fan_out(vigil, args.subscribers, args.events)
        finally:
            await vigil.close()
    print('| measure | Vigil service | floor | ratio |')
    print('|---|---|---|---|')
    print(f'| readings/s, 1 per transaction | {single:,.0f} | {single_floor:,.0f} (raw insert) '
          f'| {single_floor / single:.1f}x |')
    print(f'| readings/s, 100 per transaction | {batched:,.0f} | {batched_floor:,.0f} (raw insert) '
          f'| {batched_floor / batched:.1f}x |')
    for name, ms in cycle.items():
        print(f'| {name} one alert, median ms | {ms:.2f} | | |')
    deliveries = args.subscribers * args.events
    print(f'| bus deliveries/s ({args.events} events x {args.subscribers} subscribers) '
          f'| {deliveries / seconds:,.0f} | | |')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--readings', type=int, default=20_000)
    parser.add_argument('--alerts', type=int, default=300)
    parser.add_argument('--subscribers', type=int, default=100)
    parser.add_argument('--events', type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
