"""Wall-display fan-out: an alert from POST /api/v1/alerts to every open kiosk display, beside bare python-socketio.

    python -m bench.fanout_kiosk [--displays 300,500] [--alerts 20]

For each N two servers run one after the other on the same core, this load client on the other:
- the floor: bare python-socketio (bench.bare_socketio) with N sockets; `POST /emit` broadcasts a small JSON;
- Vigil: a fresh demo server (its own SQLite in a temporary folder); N wall displays open the way the kiosk shell
  opens them (POST /kiosk/session with a kiosk token, GET /kiosk/display, NiceGUI's socket on a new connection).
Alerts are raised one at a time (POST /api/v1/alerts as an integration, a unique stamp in the message; on the floor
`POST /emit` with the stamp); each socket records when the first frame carrying the stamp arrives. Latency runs from
just before the POST. Server memory per open display is (RSS with N open - RSS before any) / N, read after the
displays have been idle for --settle seconds (the server's collector, frozen generation included, has run by then).
Nothing is asserted: single runs on a shared machine, read beside the floor of the same run.
"""

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.browser import BrowserError, Page, Tab, load_page
from bench.fanout_report import ms, percentile
from bench.server import ServerProcess, free_port, pin

Opener = Callable[[], Awaitable[Tab]]
Post = Callable[[str, int], Awaitable[None]]


@dataclass
class Result:
    """What one server measured for one N."""

    sessions: int
    latencies: list[float] = field(default_factory=list)
    expected: int = 0
    rss_idle_kib: int = 0
    rss_open_kib: int = 0
    cpu_ms_per_alert: float = 0.0
    dropped: int = 0

    @property
    def kib_per_session(self) -> float:
        return (self.rss_open_kib - self.rss_idle_kib) / self.sessions


class Arrivals:
    """When each socket first got a frame carrying the stamp of the alert in flight."""

    def __init__(self) -> None:
        self.stamp = ''
        self.seen: dict[Tab, float] = {}
        self.expected = 0
        self.complete = asyncio.Event()

    def expect(self, stamp: str, tabs: int) -> None:
        self.stamp, self.seen, self.expected = stamp, {}, tabs
        self.complete.clear()

    def on_frame(self, tab: Tab, frame: str, received: float) -> None:
        if self.stamp and self.stamp in frame and tab not in self.seen:
            self.seen[tab] = received
            if len(self.seen) >= self.expected:
                self.complete.set()


def rss_kib(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    raise RuntimeError('no VmRSS')


def cpu_seconds(pid: int) -> float:
    fields = Path(f'/proc/{pid}/stat').read_text().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


async def open_all(count: int, parallel: int, opener: Opener) -> list[Tab]:
    gate = asyncio.Semaphore(parallel)
    tabs: list[Tab] = []

    async def one() -> None:
        async with gate:
            tab = await opener()
            tabs.append(tab)

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
        raise BrowserError(f'{len(failures)} of {count} sockets failed to open; first: {failures[0]!r}')
    return tabs


async def alert_round(tabs: list[Tab], arrivals: Arrivals, result: Result, args: argparse.Namespace,
                      post: Post, pid: int) -> None:
    cpu = cpu_seconds(pid)
    for index in range(args.alerts):
        stamp = f'KX{result.sessions}-{index}-{uuid.uuid4().hex[:8]}'
        live = [t for t in tabs if t.is_open]
        arrivals.expect(stamp, len(live))
        posted = time.perf_counter()
        await post(stamp, index)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.timeout):
                await arrivals.complete.wait()
        result.expected += len(live)
        result.latencies.extend((t - posted) * 1000 for t in arrivals.seen.values())
        arrivals.expect('', 0)
        await asyncio.sleep(args.gap)
    result.cpu_ms_per_alert = (cpu_seconds(pid) - cpu) * 1000 / args.alerts
    result.dropped = sum(1 for t in tabs if not t.is_open)


async def measure_floor(sessions: int, args: argparse.Namespace, core: int | None) -> Result:
    result = Result(sessions)
    port = free_port()
    base = f'http://127.0.0.1:{port}'
    own = os.sched_getaffinity(0) if core is not None else None
    if core is not None:
        os.sched_setaffinity(0, {core})
    try:
        process = await asyncio.create_subprocess_exec(sys.executable, '-m', 'bench.bare_socketio', '--port', str(port),
                                                       stdin=asyncio.subprocess.DEVNULL)
    finally:
        if own is not None:
            os.sched_setaffinity(0, own)
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    arrivals = Arrivals()
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
            for _ in range(80):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f'{base}/healthz') as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.25)
            await asyncio.sleep(1)
            result.rss_idle_kib = rss_kib(process.pid)

            async def socket() -> Tab:
                page = Page(path='/', client_id=str(uuid.uuid4()), prefix='', elements={}, cookie=None, html_bytes=0)
                tab = Tab(http, base, page, arrivals.on_frame)
                await tab.connect()
                return tab

            tabs = await open_all(sessions, args.parallel, socket)
            try:
                await asyncio.sleep(args.settle)
                result.rss_open_kib = rss_kib(process.pid)

                async def post(stamp: str, _: int) -> None:
                    async with http.post(f'{base}/emit?stamp={stamp}') as response:
                        assert response.status == 204

                await alert_round(tabs, arrivals, result, args, post, process.pid)
            finally:
                await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
    finally:
        process.terminate()
        await process.wait()
    return result


async def measure_vigil(sessions: int, args: argparse.Namespace, core: int | None) -> Result:
    result = Result(sessions)
    arrivals = Arrivals()
    with tempfile.TemporaryDirectory(prefix='vigil-kiosk-fanout-') as folder:
        server = ServerProcess(Path(folder), core=core)
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        try:
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             timeout=aiohttp.ClientTimeout(total=60)) as http:
                await server.start()
                integration = await server.create_token('general', 'integration', 'kiosk fan-out benchmark')
                kiosk = await server.create_token('general', 'kiosk', 'Benchmark corridor')
                headers = {'Authorization': f'Bearer {integration}'}
                async with http.get(f'{server.base}/api/v1/patients', headers=headers) as response:
                    body = await response.json()
                mrns = [str(p['mrn']) for p in (body['items'] if isinstance(body, dict) else body)]
                await asyncio.sleep(args.settle)
                result.rss_idle_kib = server.rss_kib()

                async def display() -> Tab:
                    async with http.post(f'{server.base}/kiosk/session', json={'token': kiosk}) as response:
                        if response.status != 204 or 'session' not in response.cookies:
                            raise BrowserError(f'POST /kiosk/session: HTTP {response.status}')
                        cookie = response.cookies['session'].value
                    page = await load_page(http, server.base, '/kiosk/display', cookie)
                    tab = Tab(http, server.base, page, arrivals.on_frame)
                    await tab.connect()
                    return tab

                tabs = await open_all(sessions, args.parallel, display)
                try:
                    await asyncio.sleep(args.settle)
                    result.rss_open_kib = server.rss_kib()

                    async def post(stamp: str, index: int) -> None:
                        body = {'patient_mrn': mrns[index % len(mrns)], 'priority': 'high',
                                'message': f'Fan-out check {stamp}'}
                        async with http.post(f'{server.base}/api/v1/alerts', json=body, headers=headers) as response:
                            if response.status != 201:
                                raise BrowserError(f'POST /api/v1/alerts: HTTP {response.status}')

                    await alert_round(tabs, arrivals, result, args, post, server.pid)
                finally:
                    await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
        except Exception:
            print(f'server log (last lines):\n{server.log_tail()}', file=sys.stderr)
            raise
        finally:
            await server.stop()
    return result


def p(values: list[float], share: float) -> float:
    return percentile(values, share)


async def main(args: argparse.Namespace) -> None:
    cores = pin()
    rows = []
    for sessions in args.displays:
        print(f'N={sessions}: bare python-socketio ...', file=sys.stderr, flush=True)
        floor = await measure_floor(sessions, args, cores[0] if cores else None)
        print(f'N={sessions}: Vigil wall displays ...', file=sys.stderr, flush=True)
        vigil = await measure_vigil(sessions, args, cores[0] if cores else None)
        rows.append((floor, vigil))
        print(f'N={sessions}: floor {ms(floor.latencies)}, Vigil {ms(vigil.latencies)}', file=sys.stderr, flush=True)
    pinning = f'servers on core {cores[0]}, load client on core {cores[1]}' if cores else 'not pinned'
    print(f'\nWall-display fan-out: {args.alerts} alerts per N, from just before the POST to arrival on every '
          f'socket (ms); {pinning}; machine load average {os.getloadavg()[0]:.1f}.\n')
    print('| displays | bare python-socketio p50 / p99 / max | Vigil kiosk p50 / p99 / max | p99 vs floor '
          '| delivered (floor / Vigil) | server CPU ms per alert (floor / Vigil) '
          '| RSS KiB per socket / per display |')
    print('|---|---|---|---|---|---|---|')
    for floor, vigil in rows:
        ratio = p(vigil.latencies, 0.99) / p(floor.latencies, 0.99)
        dropped = f', {vigil.dropped} dropped' if vigil.dropped else ''
        print(f'| {vigil.sessions} | {ms(floor.latencies)} | {ms(vigil.latencies)} | {ratio:.1f}x '
              f'| {len(floor.latencies)} of {floor.expected} / {len(vigil.latencies)} of {vigil.expected}{dropped} '
              f'| {floor.cpu_ms_per_alert:.1f} / {vigil.cpu_ms_per_alert:.1f} '
              f'| {floor.kib_per_session:.0f} / {vigil.kib_per_session:.0f} |')


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.fanout_kiosk', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--displays', default='300,500', help='comma-separated numbers of open wall displays')
    parser.add_argument('--alerts', type=int, default=20, help='alerts raised per N, one at a time')
    parser.add_argument('--gap', type=float, default=0.5, help='seconds between one alert arriving and the next')
    parser.add_argument('--timeout', type=float, default=15.0, help='seconds to wait for an alert on every socket')
    parser.add_argument('--settle', type=float, default=5.0, help='seconds to let a server settle before RSS')
    parser.add_argument('--parallel', type=int, default=8, help='displays opening at once')
    args = parser.parse_args(argv)
    args.displays = [int(n) for n in args.displays.split(',') if n.strip()]
    if not args.displays or min(args.displays) < 1 or args.alerts < 1:
        parser.error('need at least one display count >= 1 and one alert')
    return args


if __name__ == '__main__':
    asyncio.run(main(parse_args(sys.argv[1:])))
