"""Soak: a simulated hospital on one server process for many minutes; memory, fan-out and ingest per minute.

    python -m bench.soak [--minutes 20] [--beds 500] [--screens 200] [--seed 0] [--postgres URL]

A fresh server (`main.py` without the demo) runs on a temporary SQLite database (with --postgres URL, on a
temporary database created on that PostgreSQL server and dropped afterwards), seeded through Vigil's services with
a hospital of --beds patients in wards of 25, a nurse account per ward, charge nurses, physicians and wall displays
(bench/soak_hospital.py). Then:
- --screens open screens: a tenth wall displays (/kiosk/display, opened with a kiosk token as the kiosk shell
  does), a tenth physicians', a tenth charge nurses', the rest ward nurses' dashboards, each person signed in once
  through the sign-in page; every screen is an emulated browser (bench/browser.py) noting when each alert id first
  reaches it (bench/soak_screens.py, `alert_ids`); a screen whose socket the server closes reconnects, or reloads
  its page, as NiceGUI's browser code does, and a page that does not answer in time is reloaded.
- a gateway per ward posts each bed's full set of NEWS2 observations once a minute through POST /api/v1/vitals,
  the beds spread evenly over the minute; the patients follow the simulator's physiology, a few deteriorating at
  any time, so the server's own detection raises the alerts.
- an integration token reads GET /api/v1/events: every alert as committed, with its snapshot. From the snapshot
  and the app's own access rule (AccessScope) the soak knows which screens must show a new alert: those whose
  scope sees it and whose list (100 rows on a dashboard, 8 on a wall display, in the needs-attention order) has
  room for it. Fan-out is from the alert's created_at to its arrival on each such screen (one clock, one machine).
- emulated staff acknowledge 80 % of the alerts 15-60 s after they appear, from a dashboard that shows them (a
  nurse of the ward, else a charge nurse, else a physician), by sending the click event the alert list's
  JavaScript sends for its Acknowledge button, and resolve them 30-120 s later the same way.
A row per minute, totals at the end, and the loss check: every accepted reading counted in the database, every
alert of the stream counted in the database, every expected delivery received. The server is pinned to one core
and this client to the other where the OS allows; both CPU shares and the load average are printed (the client
competes with the server on a small machine). Nothing is asserted.
"""

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.config import Settings
from bench.server import ServerProcess, pin
from bench.soak_hospital import Gateways, seed_hospital
from bench.soak_report import Ledger, print_header, print_row, print_totals
from bench.soak_screens import Responders, keep_open, open_screens, plan_screens, wind_down
from data.engine import create_engine
from data.models import Alert, VitalReading

GRACE_SECONDS = 15.0  # the last minute's row is printed this long after it ends: its alerts have had time to arrive


async def events(http: aiohttp.ClientSession, base: str, token: str) -> AsyncIterator[tuple[str, str]]:
    """Yield (event type, data) from the hospital's server-sent event stream."""
    async with http.get(f'{base}/api/v1/events', headers={'Authorization': f'Bearer {token}'},
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
        if response.status != 200:
            raise RuntimeError(f'GET /api/v1/events: HTTP {response.status} {(await response.text())[:200]}')
        kind, data = '', list[str]()
        async for raw in response.content:
            line = raw.decode().rstrip('\r\n')
            if not line:
                if data:
                    yield kind, '\n'.join(data)
                kind, data = '', []
            elif line.startswith('event:'):
                kind = line[6:].strip()
            elif line.startswith('data:'):
                data.append(line[5:].lstrip())


async def follow(http: aiohttp.ClientSession, base: str, token: str, ledger: Ledger) -> None:
    async for kind, data in events(http, base, token):
        ledger.event(kind, data)


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def report_minutes(server: ServerProcess, ledger: Ledger, minutes: int) -> None:
    """Sample the server at every minute's end; print a minute's row when the next one ends (its alerts have had
    that long to arrive everywhere), the last one's GRACE_SECONDS after its end."""
    cpu, own, wall = server.cpu_seconds(), client_cpu_seconds(), time.monotonic()
    for minute in range(minutes):
        await asyncio.sleep(max(0.0, ledger.started + (minute + 1) * 60 - time.monotonic()))
        row = ledger.minute(minute)
        now = time.monotonic()
        row.rss_kib = server.rss_kib()
        row.server_cpu = (server.cpu_seconds() - cpu) / (now - wall)
        row.client_cpu = (client_cpu_seconds() - own) / (now - wall)
        row.load = os.getloadavg()[0]
        row.open_alerts = len(ledger.open_alerts)
        cpu, own, wall = server.cpu_seconds(), client_cpu_seconds(), now
        if minute > 0:
            print_row(ledger, minute - 1)
    await asyncio.sleep(GRACE_SECONDS)
    print_row(ledger, minutes - 1)


async def soak(args: argparse.Namespace, folder: Path, database_url: str | None) -> None:
    cores = pin()
    settings = Settings(data_dir=folder / 'data', database_url=database_url)
    screens_total = args.screens
    print(f'seeding {args.beds} beds ...', file=sys.stderr, flush=True)
    kiosks = max(1, screens_total // 10)
    hospital = await seed_hospital(settings, args.beds, kiosks)
    server = ServerProcess(folder, core=cores[0] if cores else None, demo=False,
                           env={'VIGIL_DATABASE_URL': database_url} if database_url else None)
    screens = plan_screens(hospital, screens_total)
    ledger = Ledger(hospital.hospital_id, screens, last=args.minutes - 1)
    responders = Responders(screens, args.seed)
    ledger.on_raised, ledger.clicked = responders.raised, responders.clicked
    connector = aiohttp.TCPConnector(force_close=True, limit=0)  # a new TCP connection per page and socket
    tasks: list[asyncio.Task[None]] = []
    try:
        await server.start()
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:
            await asyncio.sleep(2.0)
            ledger.rss_idle_kib = server.rss_kib()
            print(f'opening {len(screens)} screens ...', file=sys.stderr, flush=True)
            await open_screens(http, server.base, hospital, screens, args.parallel)
            await asyncio.sleep(5.0)
            ledger.rss_open_kib = server.rss_kib()
            tasks.append(asyncio.create_task(follow(http, server.base, hospital.integration, ledger)))
            tasks.append(asyncio.create_task(keep_open(http, server.base, screens)))
            await asyncio.sleep(1.0)
            print(f'soaking for {args.minutes} min ...', file=sys.stderr, flush=True)
            print_header(args, cores, ledger)
            ledger.start()
            gateways = Gateways(server.base, hospital, args.seed, ledger.ingested)
            await asyncio.gather(gateways.run(args.minutes * 60.0), report_minutes(server, ledger, args.minutes))
            ledger.dropped = sum(1 for s in screens if s.tab is None or not s.tab.is_open)
            await wind_down(responders, tasks, screens)
    except Exception:
        print(f'server log (last lines):\n{server.log_tail()}', file=sys.stderr)
        raise
    finally:
        for task in tasks:
            task.cancel()
        await responders.stop()
        await server.stop()
    ledger.stored_readings, ledger.stored_alerts = await count_stored(settings.db_url, hospital.hospital_id)
    ledger.acknowledge_failures = responders.failures
    print_totals(ledger)


async def count_stored(url: str, hospital_id: int) -> tuple[int, int]:
    """Count the hospital's readings and alerts in the database (after the server stopped)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            readings = await connection.scalar(
                select(func.count()).select_from(VitalReading).where(VitalReading.hospital_id == hospital_id))
            alerts = await connection.scalar(
                select(func.count()).select_from(Alert).where(Alert.hospital_id == hospital_id))
        return int(readings or 0), int(alerts or 0)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """Create a database of its own on the PostgreSQL server and drop it afterwards; yield its SQLAlchemy URL."""
    import asyncpg  # type: ignore[import-untyped]  # only with --postgres

    url = make_url(server_url)
    name = f'vigil_soak_{uuid.uuid4().hex[:12]}'
    plain = url.set(drivername='postgresql').render_as_string(hide_password=False)
    admin = await asyncpg.connect(plain)
    try:
        await admin.execute(f'CREATE DATABASE {name}')
    finally:
        await admin.close()
    try:
        yield url.set(drivername='postgresql+asyncpg', database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(plain)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        finally:
            await admin.close()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix='vigil-soak-') as folder:
        if args.postgres:
            async with postgres_database(args.postgres) as url:
                await soak(args, Path(folder), url)
        else:
            await soak(args, Path(folder), None)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.soak', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=int, default=20, help='how long the hospital runs')
    parser.add_argument('--beds', type=int, default=500, help='patients, each sending a full set a minute')
    parser.add_argument('--screens', type=int, default=200, help='open screens of mixed roles and wall displays')
    parser.add_argument('--seed', type=int, default=0, help='seeds the physiology and the staff')
    parser.add_argument('--parallel', type=int, default=4, help='screens loading at once while opening')
    parser.add_argument('--postgres', metavar='URL',
                        help='a PostgreSQL server (e.g. postgresql://USER@HOST:5432/postgres) on which a temporary '
                             'database is created and dropped; default: a temporary SQLite file')
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.beds < 1 or args.screens < 4:
        parser.error('need at least 1 minute, 1 bed and 4 screens')
    return args


if __name__ == '__main__':
    asyncio.run(main(parse_args(sys.argv[1:])))
