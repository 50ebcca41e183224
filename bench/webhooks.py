"""What webhooks cost the alert path, and how fast one worker sends, each beside its floor from the same run.

    python -m bench.webhooks [--alerts 200] [--webhooks 5]

On a temporary SQLite database: the median time to raise and to resolve an alert with no webhook (the floor) and
with N webhooks that all want every event (N outbox rows per event, in the alert's transaction), and the floor
again after them with the webhooks paused (the database has grown meanwhile); then deliveries
per second of one worker to a receiver on 127.0.0.1, beside plain signed-less POSTs to the same receiver with the
same HTTP client settings (the floor). Prints a table; nothing is asserted (machines are shared: read the ratios).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from app.bootstrap import Vigil, build, migrate, seed
from app.config import Settings
from app.domain import Priority
from app.schemas import Actor, NewAlert
from app.webhooks.dispatcher import WebhookDispatcher
from tests.webhook_receiver import running_receiver


async def cycle(vigil: Vigil, count: int, label: str) -> dict[str, float]:
    """Return the median milliseconds of raise and resolve."""
    actor = Actor.system('bench', hospital_id=1)
    patients = await vigil.patients.list_patients(actor)
    times: dict[str, list[float]] = {'raise': [], 'resolve': []}
    for i in range(count):
        began = time.perf_counter()
        alert = await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.HIGH, message=f'{label} {i}',
                                                               patient_id=patients[i % len(patients)].id))
        times['raise'].append(time.perf_counter() - began)
        began = time.perf_counter()
        await vigil.alerts.resolve(actor, alert.id, on_behalf_of='bench')
        times['resolve'].append(time.perf_counter() - began)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


async def main(alerts: int, webhooks: int) -> None:
    with tempfile.TemporaryDirectory() as folder, running_receiver() as receiver:
        settings = Settings(data_dir=Path(folder), database_url=f'sqlite+aiosqlite:///{folder}/bench.db', demo=True)
        await migrate(settings)
        vigil = build(settings)
        try:
            await seed(vigil)
            admin = Actor.system('bench admin', hospital_id=1)
            await cycle(vigil, 20, 'warm-up')
            floor = await cycle(vigil, alerts, 'floor')
            for n in range(webhooks):
                await vigil.webhooks.create(admin, name=f'bench {n}', url=receiver.url, on_behalf_of='bench')
            worker = WebhookDispatcher(vigil.db, vigil.clock)
            # Send what the floor run queued (nothing) and warm the client up.
            await worker.tick()
            hooked = await cycle(vigil, alerts, 'hooked')
            for each in await vigil.webhooks.subscriptions(admin):  # paused: no outbox rows, a second floor
                await vigil.webhooks.set_enabled(admin, each.id, False, on_behalf_of='bench')
            after = await cycle(vigil, alerts, 'floor again')
            for each in await vigil.webhooks.subscriptions(admin):
                await vigil.webhooks.set_enabled(admin, each.id, True, on_behalf_of='bench')
            queued = alerts * 2 * webhooks
            began = time.perf_counter()
            sent = 0
            while sent < queued:
                done = await worker.tick()
                if not done:
                    break
                sent += len(done)
            sending = sent / (time.perf_counter() - began)
            await worker.stop()
            async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
                gate = asyncio.Semaphore(8)

                async def post() -> None:
                    async with gate:
                        await client.post(receiver.url, content=b'{}', headers={'Content-Type': 'application/json'})

                began = time.perf_counter()
                await asyncio.gather(*(post() for _ in range(queued)))
                raw = queued / (time.perf_counter() - began)
        finally:
            await vigil.close()
    print(f'{alerts} alerts, {webhooks} webhooks each wanting every event ({queued} deliveries), SQLite')
    print(f'{"measure":<34}{"no webhook (floor)":>20}{f"{webhooks} webhooks":>16}{"ratio":>8}{"floor after":>14}')
    for name in ('raise', 'resolve'):
        print(f'{name + " an alert, median ms":<34}{floor[name]:>20.2f}{hooked[name]:>16.2f}'
              f'{hooked[name] / floor[name]:>8.2f}{after[name]:>14.2f}')
    print(f'{"deliveries per second, one worker":<34}{raw:>20.0f}{sending:>16.0f}{sending / raw:>8.2f}'
          '   (floor: unsigned POSTs, same client settings)')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--alerts', type=int, default=200)
    parser.add_argument('--webhooks', type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.alerts, arguments.webhooks))
