"""Vitals fan-out: the server CPU of a ward whose every patient's heart rate changes each second, at N dashboards.

    python -m bench.fanout_vitals [--sessions 100,300] [--seconds 15] [--users doctor,admin]

For each N a fresh demo server (quiet patients) is started and N dashboard tabs are opened as bench.fanout opens them
(the users taking turns). After the tabs have settled, the server's idle CPU is measured; then, once a second for
--seconds, one POST /api/v1/vitals carries a new heart rate for every patient of the hospital (the hub coalesces
them to one update per patient per second, as from a monitored ward). The table shows the server CPU beyond idling
per second of vitals, in all and per open dashboard, and the server's RSS. Nothing is asserted.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.browser import sign_in
from bench.fanout import Stamps, open_tabs, patients_of
from bench.fanout_report import Run
from bench.server import ServerProcess, pin


async def measure(sessions: int, args: argparse.Namespace, core: int | None) -> str:
    """Start a fresh server, open the tabs, post the vitals, and return the table's row."""
    with tempfile.TemporaryDirectory(prefix='vigil-fanout-vitals-') as folder:
        server = ServerProcess(Path(folder), core=core)
        connector = aiohttp.TCPConnector(force_close=True, limit=0)  # a new TCP connection per request and socket
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=60)) as http:
            await server.start()
            try:
                reader = await server.create_token('general', 'integration', 'vitals fan-out benchmark')
                device = await server.create_token('general', 'device', 'vitals fan-out monitor')
                patients = await patients_of(http, server.base, reader)
                cookies = [await sign_in(http, server.base, user, args.password) for user in args.users]
                tabs = await open_tabs(http, server.base, cookies, sessions, Stamps(), Run(sessions), args.parallel)
                try:
                    await asyncio.sleep(args.settle)
                    cpu, wall = server.cpu_seconds(), time.perf_counter()
                    await asyncio.sleep(args.settle)
                    idle = (server.cpu_seconds() - cpu) / (time.perf_counter() - wall)
                    cpu, wall = server.cpu_seconds(), time.perf_counter()
                    for second in range(args.seconds):
                        readings = [{'patient_mrn': p['mrn'], 'kind': 'heart_rate', 'value': 70 + second % 2 + i % 3,
                                     'unit': '/min', 'measured_at': datetime.now(UTC).isoformat()}
                                    for i, p in enumerate(patients)]
                        async with http.post(f'{server.base}/api/v1/vitals', json=readings,
                                             headers={'Authorization': f'Bearer {device}'}) as response:
                            if response.status != 201:
                                raise RuntimeError(f'POST /api/v1/vitals: HTTP {response.status}')
                        await asyncio.sleep(1.0)
                    await asyncio.sleep(1.5)  # the last coalesced flush goes out
                    elapsed, spent = time.perf_counter() - wall, server.cpu_seconds() - cpu
                    beyond = max(0.0, spent - idle * elapsed) * 1000 / args.seconds
                    open_now = sum(1 for t in tabs if t.is_open)
                    return (f'| {sessions} | {len(patients)} | {idle:.0%} | {spent / elapsed:.0%} | {beyond:.0f} | '
                            f'{beyond / sessions:.2f} | {server.rss_kib() // 1024} | {open_now} |')
                finally:
                    await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
            finally:
                await server.stop()


async def main(args: argparse.Namespace) -> None:
    cores = pin()
    rows = []
    for sessions in args.sessions:
        print(f'N={sessions}: starting a server, opening tabs, posting vitals ...', file=sys.stderr, flush=True)
        rows.append(await measure(sessions, args, cores[0] if cores else None))
    print(f'\nVitals fan-out: every patient\'s heart rate once a second for {args.seconds} s, users '
          f'{", ".join(args.users)}.\n')
    print('| sessions | patients | server CPU idle | server CPU with vitals | server CPU ms per vitals second beyond '
          'idle | per dashboard | RSS MiB | tabs open at the end |')
    print('|---|---|---|---|---|---|---|---|')
    print('\n'.join(rows))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.fanout_vitals', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sessions', default='100,300', help='comma-separated numbers of open dashboards')
    parser.add_argument('--seconds', type=int, default=15, help='seconds of vitals')
    parser.add_argument('--users', default='doctor,admin', help='comma-separated demo users whose dashboards open')
    parser.add_argument('--password', default='demo')
    parser.add_argument('--settle', type=float, default=5.0, help='seconds to settle, then to measure idling')
    parser.add_argument('--parallel', type=int, default=20, help='tabs loading at once')
    args = parser.parse_args(argv)
    args.sessions = [int(n) for n in args.sessions.split(',') if n.strip()]
    args.users = [u.strip() for u in args.users.split(',') if u.strip()]
    if not args.sessions or min(args.sessions) < 1 or args.seconds < 1 or not args.users:
        parser.error('need at least one session count >= 1, one second and one user')
    return args


if __name__ == '__main__':
    asyncio.run(main(parse_args(sys.argv[1:])))
