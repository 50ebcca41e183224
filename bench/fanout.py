"""Dashboard fan-out: how long an alert takes from the HTTP API to every open dashboard, at N open dashboards.

    python -m bench.fanout [--sessions 10,100,300] [--alerts 20] [--users doctor,admin] [--py-spy PATH]

For each N a fresh demo server (its own SQLite under a temporary folder, a free port on 127.0.0.1, quiet patients)
is started; each user signs in once through the real sign-in page and N dashboard tabs are opened the way a browser
opens them (GET /, then NiceGUI's Socket.IO on a new TCP connection, pings answered, acknowledgements sent). Alerts
are then raised one at a time through POST /api/v1/alerts, each with a unique stamp in its message, and every tab
records when the first `update` (or room, `vigil_room`) message carrying that stamp arrives. Latency is counted from
just before the POST and from the 201 response (the alert is committed before the response goes out, so a negative
"from 201" means the pages had it before the device had its answer). The POST time with no page open, measured in
the same run, is the floor of the API itself; the floor of the fan-out (unless --no-floor) is bare python-socketio
broadcasting a small JSON to N sockets on the same core (bench.bare_socketio, as bench.fanout_kiosk measures it). A
tab whose socket the server closes is counted as dropped and not reconnected (a browser would reconnect, or reload
the page).

Server and load client share the machine: each is pinned to its own core where the OS allows it, and both CPU shares
are reported, with the machine's load average. Nothing is asserted; read the numbers beside NiceGUI's own floor,
measured for one label updated on N pages (p50 / p99 ms): 10 pages 3 / 9, 100 pages 26 / 38, 500 pages 164 / 646;
about 0.3-0.4 ms of server CPU per page per update (compare "server CPU ms per alert per session"), about 110 KiB
per open page plus about 4 KiB per element on it. With --py-spy, the server is sampled while the alerts go out and
the collapsed stacks are written to --profile-dir.
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
from pathlib import Path

import aiohttp

from bench.browser import BrowserError, Page, Tab, load_page, sign_in
from bench.fanout_kiosk import measure_floor
from bench.fanout_report import Run, ms, print_tables
from bench.server import ServerProcess, pin

PRIORITIES = ('low', 'medium', 'high', 'critical')
RELOADS = 3
FLOOR_ALERTS = 5  # raised before any dashboard is open: what the API takes on its own


class Stamps:
    """Records, for the alert in flight, when each tab first received an update carrying its stamp."""

    def __init__(self) -> None:
        self.stamp = ''
        self.arrivals: dict[Tab, float] = {}
        self.expected = 0
        self.complete = asyncio.Event()

    def expect(self, stamp: str, tabs: int) -> None:
        self.stamp, self.arrivals, self.expected = stamp, {}, tabs
        self.complete.clear()

    def on_frame(self, tab: Tab, frame: str, received: float) -> None:
        # NOTE: the Alert List's rows come in its room's events (components/live_rooms.py), the rest in NiceGUI's.
        if (self.stamp and frame.startswith(('42["update"', '42["vigil_room"')) and self.stamp in frame
                and tab not in self.arrivals):
            self.arrivals[tab] = received
            if len(self.arrivals) >= self.expected:
                self.complete.set()


async def patients_of(http: aiohttp.ClientSession, base: str, token: str) -> list[dict[str, str]]:
    """Return the hospital's patients (mrn and name) through the API."""
    async with http.get(f'{base}/api/v1/patients', headers={'Authorization': f'Bearer {token}'}) as response:
        if response.status != 200:
            raise BrowserError(f'GET /api/v1/patients: HTTP {response.status} {(await response.text())[:200]}')
        body = await response.json()
    items = body['items'] if isinstance(body, dict) else body
    return [{'mrn': str(p['mrn']), 'name': str(p.get('name') or p.get('display_name') or '')} for p in items]


async def open_tabs(http: aiohttp.ClientSession, base: str, cookies: list[str], count: int, stamps: Stamps,
                    run: Run, parallel: int) -> list[Tab]:
    """Open `count` dashboard tabs, the users taking turns, at most `parallel` loading at once.

    A page that fails to load is reloaded after a second, as NiceGUI's browser code does, at most RELOADS times;
    each failed load is counted.
    """
    gate = asyncio.Semaphore(parallel)
    tabs: list[Tab] = []

    async def one(index: int) -> None:
        async with gate:
            began = time.perf_counter()
            for attempt in range(RELOADS + 1):
                try:
                    page = await load_page(http, base, '/', cookies[index % len(cookies)])
                    break
                except BrowserError:
                    run.failed_loads += 1
                    if attempt == RELOADS:
                        raise
                    await asyncio.sleep(1.0)
            tab = Tab(http, base, page, stamps.on_frame)
            tabs.append(tab)
            await tab.connect()
            run.open_ms.append((time.perf_counter() - began) * 1000)
            run.page = run.page or page

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
        raise BrowserError(f'{len(failures)} of {count} tabs failed to open; first: {failures[0]!r}')
    return tabs


async def raise_alerts(http: aiohttp.ClientSession, base: str, token: str, patients: list[dict[str, str]],
                       tabs: list[Tab], stamps: Stamps, run: Run, args: argparse.Namespace) -> None:
    """Raise the alerts one after another and record every tab's latency for each."""
    for index in range(args.alerts):
        stamp = f'FX{run.sessions}-{index}-{uuid.uuid4().hex[:8]}'
        live = [t for t in tabs if t.is_open]
        stamps.expect(stamp, len(live))
        posted, created = await post_alert(http, base, token, patients[index % len(patients)]['mrn'], stamp, args)
        run.post_ms.append((created - posted) * 1000)
        with contextlib.suppress(TimeoutError):  # tabs that did not get it count as not delivered
            async with asyncio.timeout(args.timeout):
                await stamps.complete.wait()
        run.expected += len(live)
        for arrived in stamps.arrivals.values():
            run.from_post_ms.append((arrived - posted) * 1000)
            run.from_201_ms.append((arrived - created) * 1000)
        stamps.expect('', 0)
        await asyncio.sleep(args.gap)


async def post_alert(http: aiohttp.ClientSession, base: str, token: str, mrn: str, stamp: str,
                     args: argparse.Namespace) -> tuple[float, float]:
    """Raise one alert through the API; return the clock just before the request and when the 201 arrived."""
    body = {'patient_mrn': mrn, 'priority': args.priority, 'message': f'Fan-out check {stamp}'}
    posted = time.perf_counter()
    async with http.post(f'{base}/api/v1/alerts', json=body, headers={'Authorization': f'Bearer {token}'}) as response:
        created = time.perf_counter()
        if response.status != 201:
            raise BrowserError(f'POST /api/v1/alerts: HTTP {response.status} {(await response.text())[:200]}')
    return posted, created


def shown(page: Page | None, patients: list[dict[str, str]]) -> int:
    """Return how many of the patients a page shows (by name or MRN) in its initial element tree."""
    text = repr(page.elements) if page else ''
    return sum(1 for p in patients if p['mrn'] in text or (p['name'] and p['name'] in text))


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(sessions: int, args: argparse.Namespace, cores: tuple[int, int] | None) -> Run:
    """Start a fresh server, open the sessions, raise the alerts, stop the server, and return what was measured."""
    run = Run(sessions)
    with tempfile.TemporaryDirectory(prefix='vigil-fanout-') as folder:
        server = ServerProcess(Path(folder), core=cores[0] if cores else None)
        connector = aiohttp.TCPConnector(force_close=True, limit=0)  # a new TCP connection per request and socket
        try:
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             timeout=aiohttp.ClientTimeout(total=60)) as http:
                await server.start()
                await exercise(server, http, run, args)
        except Exception:
            print(f'server log (last lines):\n{server.log_tail()}', file=sys.stderr)
            raise
        finally:
            await server.stop()
    return run


async def exercise(server: ServerProcess, http: aiohttp.ClientSession, run: Run, args: argparse.Namespace) -> None:
    """Sign in, measure the floor with no page open, open the tabs, measure them idle, then raise the alerts."""
    token = await server.create_token('general', 'integration', 'fan-out benchmark')
    patients = await patients_of(http, server.base, token)
    cookies = [await sign_in(http, server.base, user, args.password) for user in args.users]
    for index in range(FLOOR_ALERTS):  # the API alone: nothing is open that would have to show the alert
        posted, created = await post_alert(http, server.base, token, patients[index]['mrn'], f'floor-{index}', args)
        run.floor_post_ms.append((created - posted) * 1000)
    await asyncio.sleep(args.settle)
    run.rss_idle_kib = server.rss_kib()

    stamps = Stamps()
    tabs = await open_tabs(http, server.base, cookies, run.sessions, stamps, run, args.parallel)
    try:
        run.patients_total, run.patients_shown = len(patients), shown(run.page, patients)
        await asyncio.sleep(args.settle)
        run.rss_open_kib = server.rss_kib()
        cpu, wall = server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(args.idle)
        idle_rate = run.cpu_idle_share = (server.cpu_seconds() - cpu) / (time.perf_counter() - wall)

        cpu, own, wall = server.cpu_seconds(), client_cpu_seconds(), time.perf_counter()
        profile = Path(args.profile_dir) / f'fanout-{run.sessions}.txt'
        profiler = server.profile(args.py_spy, profile) if args.py_spy else None
        try:
            await raise_alerts(http, server.base, token, patients, tabs, stamps, run, args)
        finally:
            if profiler is not None:
                await profiler.stop()
                print(f'N={run.sessions}: py-spy wrote {profile}', file=sys.stderr)
        elapsed, spent = time.perf_counter() - wall, server.cpu_seconds() - cpu
        run.cpu_alert_share = spent / elapsed
        # What the alerts cost beyond idling, per alert and open page (comparable to NiceGUI's floor per page).
        run.cpu_ms_per_alert_session = max(0.0, spent - idle_rate * elapsed) * 1000 / args.alerts / run.sessions
        run.client_cpu_share = (client_cpu_seconds() - own) / elapsed
        run.load_average = os.getloadavg()[0]
        run.dropped = sum(1 for t in tabs if not t.is_open)
    finally:
        await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)


async def main(args: argparse.Namespace, loop_name: str) -> None:
    cores = pin()
    runs = []
    for sessions in args.sessions:
        print(f'N={sessions}: starting a server, signing in, opening tabs ...', file=sys.stderr, flush=True)
        runs.append(await measure(sessions, args, cores))
        r = runs[-1]
        print(f'N={sessions}: from POST p50/p99/max {ms(r.from_post_ms)} ms', file=sys.stderr, flush=True)
        if args.floor:
            print(f'N={sessions}: bare python-socketio ...', file=sys.stderr, flush=True)
            r.bare_ms = (await measure_floor(sessions, args, cores[0] if cores else None)).latencies
            print(f'N={sessions}: bare python-socketio p50/p99/max {ms(r.bare_ms)} ms', file=sys.stderr, flush=True)
    print_tables(runs, args, cores, loop_name)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.fanout', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sessions', default='10,100,300', help='comma-separated numbers of open dashboards')
    parser.add_argument('--alerts', type=int, default=20, help='alerts raised per N, one at a time')
    parser.add_argument('--priority', choices=PRIORITIES, default='high',
                        help='priority of the raised alerts (physicians see high and critical)')
    parser.add_argument('--users', default='doctor,admin', help='demo users whose dashboards show every patient')
    parser.add_argument('--password', default=os.environ.get('VIGIL_DEMO_PASSWORD', 'demo'))
    parser.add_argument('--gap', type=float, default=1.0, help='seconds between one alert arriving and the next')
    parser.add_argument('--timeout', type=float, default=15.0, help='seconds to wait for an alert on every tab')
    parser.add_argument('--settle', type=float, default=3.0, help='seconds to let the server settle between phases')
    parser.add_argument('--idle', type=float, default=5.0, help='seconds over which idle server CPU is measured')
    parser.add_argument('--parallel', type=int, default=4, help='tabs loading at once while opening')
    parser.add_argument('--py-spy', metavar='PATH', help='py-spy executable: record the server while alerting')
    parser.add_argument('--profile-dir', default=tempfile.gettempdir(),
                        help='where py-spy writes fanout-N.txt (collapsed stacks)')
    parser.add_argument('--floor', action=argparse.BooleanOptionalAction, default=True,
                        help='also measure bare python-socketio broadcasting to N sockets on the same core, the same '
                             'way (bench.bare_socketio), and print p99 against it')
    args = parser.parse_args(argv)
    args.sessions = [int(n) for n in args.sessions.split(',') if n.strip()]
    args.users = [u.strip() for u in args.users.split(',') if u.strip()]
    if not args.sessions or min(args.sessions) < 1 or args.alerts < 1 or not args.users:
        parser.error('need at least one session count >= 1, one alert and one user')
    return args


if __name__ == '__main__':
    options = parse_args(sys.argv[1:])
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(options, 'asyncio'))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(options, 'uvloop'))
