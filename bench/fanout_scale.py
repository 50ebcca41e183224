"""Fan-out across processes: N dashboards on one Vigil process versus split over two, and the cost of the Redis hop.

    python -m bench.fanout_scale [--sessions 10,300] [--alerts 20] [--postgres-url URL] [--redis-url URL]

For each N, three set-ups run one after another, each on a fresh PostgreSQL database of its own (created, migrated
and seeded by the first process, dropped afterwards) and, where Redis is used, a Redis key prefix of its own:

- one process, memory bus: N dashboards on one process without Redis (the floor);
- one process, Redis: the same, with VIGIL_REDIS_URL set, so every event goes out to Redis and back;
- two processes, Redis: N/2 dashboards on each of two processes sharing the database and Redis.

Alerts are always posted to the first process, so with two processes half the dashboards hear of an alert from the
other process. Tabs, sign-in and latency are measured exactly as in bench.fanout (same code): latency runs from just
before the POST and from its 201 to the first `update` carrying the alert's stamp on each tab.

Only two cores: the server processes and this load client compete for them, so nothing is pinned (pinning two
servers and a client to two cores would favour one set-up); each process's CPU share while alerting is reported
with the machine's load average. Nothing is asserted; single runs, read as orders of magnitude.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import redis
from sqlalchemy.engine import make_url

from bench import fanout
from bench.browser import Tab, sign_in
from bench.fanout_report import Run, median, ms, percentile
from bench.server import ServerProcess

POSTGRES_URL = os.environ.get('VIGIL_BENCH_POSTGRES_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')
REDIS_URL = os.environ.get('VIGIL_BENCH_REDIS_URL', 'redis://127.0.0.1:6379/0')
STORAGE_SECRET = 'fanout-scale-benchmark'  # every process of one set-up signs sessions alike  # noqa: S105


@dataclass(frozen=True)
class Setup:
    name: str
    processes: int
    redis: bool


SETUPS = (Setup('one process, memory bus', 1, False), Setup('one process, Redis', 1, True),
          Setup('two processes, Redis', 2, True))


@dataclass
class Result:
    setup: Setup
    run: Run
    server_cpu: list[float] = field(default_factory=list)  # each process's CPU share while alerting


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """Create an empty PostgreSQL database for one set-up and drop it afterwards; yield its SQLAlchemy URL."""
    name = f'vigil_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}'
    admin = make_url(url).set(drivername='postgresql').render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def delete_keys(url: str, prefix: str) -> None:
    """Delete every Redis key a set-up left under its prefix (NiceGUI's storage)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f'{prefix}*', count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def measure(setup: Setup, sessions: int, args: argparse.Namespace) -> Result:
    """Start the set-up's processes, open the tabs over them, raise the alerts, stop everything."""
    result = Result(setup, Run(sessions))
    prefix = f'vigil-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}'
    async with fresh_database(args.postgres_url) as database:
        with tempfile.TemporaryDirectory(prefix='vigil-fanout-scale-') as folder:
            servers = []
            for index in range(setup.processes):
                (Path(folder) / str(index)).mkdir()
                server = ServerProcess(Path(folder) / str(index))
                server.env.update(VIGIL_DATABASE_URL=database, VIGIL_STORAGE_SECRET=STORAGE_SECRET)
                if setup.redis:
                    server.env.update(VIGIL_REDIS_URL=args.redis_url, VIGIL_REDIS_PREFIX=prefix)
                servers.append(server)
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            try:
                async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                 timeout=aiohttp.ClientTimeout(total=60)) as http:
                    for server in servers:  # one after another: the first migrates and seeds the database
                        await server.start()
                    await exercise(servers, http, result, args)
            except Exception:
                for server in servers:
                    print(f'server {server.base} log (last lines):\n{server.log_tail()}', file=sys.stderr)
                raise
            finally:
                await asyncio.gather(*(server.stop() for server in servers))
    if setup.redis:
        delete_keys(args.redis_url, prefix)
    return result


async def exercise(servers: list[ServerProcess], http: aiohttp.ClientSession, result: Result,
                   args: argparse.Namespace) -> None:
    """Measure the API floor, open the tabs split over the processes, then raise the alerts on the first one."""
    run, first = result.run, servers[0]
    token = await first.create_token('general', 'integration', 'fan-out scale benchmark')
    patients = await fanout.patients_of(http, first.base, token)
    for index in range(fanout.FLOOR_ALERTS):
        mrn = patients[index]['mrn']
        posted, created = await fanout.post_alert(http, first.base, token, mrn, f'floor-{index}', args)
        run.floor_post_ms.append((created - posted) * 1000)
    stamps = fanout.Stamps()
    tabs: list[Tab] = []
    try:
        for index, server in enumerate(servers):
            cookies = [await sign_in(http, server.base, user, args.password) for user in args.users]
            count = run.sessions // len(servers) + (1 if index < run.sessions % len(servers) else 0)
            tabs += await fanout.open_tabs(http, server.base, cookies, count, stamps, run, args.parallel)
        await asyncio.sleep(args.settle)
        cpu = [s.cpu_seconds() for s in servers]
        own, wall = fanout.client_cpu_seconds(), time.perf_counter()
        await fanout.raise_alerts(http, first.base, token, patients, tabs, stamps, run, args)
        elapsed = time.perf_counter() - wall
        result.server_cpu = [(s.cpu_seconds() - before) / elapsed for s, before in zip(servers, cpu, strict=True)]
        run.client_cpu_share = (fanout.client_cpu_seconds() - own) / elapsed
        run.load_average = os.getloadavg()[0]
        run.dropped = sum(1 for t in tabs if not t.is_open)
    finally:
        await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)


def print_tables(results: list[Result], args: argparse.Namespace, loop_name: str) -> None:
    """Print latency and CPU per set-up, then the Redis hop and the split side by side for each N."""
    print(f'\nFan-out over processes: {args.alerts} {args.priority} alerts per set-up through POST /api/v1/alerts '
          f'on the first process, users {", ".join(args.users)}; PostgreSQL, fresh database per set-up; '
          f'nothing pinned; load client on {loop_name}.\n')
    print('| set-up | sessions | delivered | from POST p50 / p99 / max ms | from 201 p50 / p99 / max ms '
          '| POST p50 ms: no page open / N open | open tab p50 / p99 ms | server CPU while alerting '
          '| load client CPU | load average |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in results:
        run = r.run
        dropped = f', {run.dropped} dropped' if run.dropped else ''
        print(f'| {r.setup.name} | {run.sessions} | {len(run.from_post_ms)} of {run.expected}{dropped} '
              f'| {ms(run.from_post_ms)} | {ms(run.from_201_ms)} '
              f'| {median(run.floor_post_ms):.1f} / {median(run.post_ms):.1f} '
              f'| {percentile(run.open_ms, 0.5):.0f} / {percentile(run.open_ms, 0.99):.0f} '
              f'| {" + ".join(f"{share:.0%}" for share in r.server_cpu)} | {run.client_cpu_share:.0%} '
              f'| {run.load_average:.1f} |')
    print('\n| sessions | Redis hop: from POST p50 / p99 ms, Redis minus memory bus (one process) '
          '| split: from POST p50 / p99 ms, two processes minus one (both Redis) |')
    print('|---|---|---|')
    for sessions in args.sessions:
        by_name = {r.setup.name: r.run.from_post_ms for r in results if r.run.sessions == sessions}
        memory, one, two = (by_name.get(s.name, []) for s in SETUPS)
        print(f'| {sessions} | {difference(one, memory)} | {difference(two, one)} |')


def difference(values: list[float], baseline: list[float]) -> str:
    return ' / '.join(f'{percentile(values, q) - percentile(baseline, q):+.0f}' for q in (0.5, 0.99))


async def main(args: argparse.Namespace, loop_name: str) -> None:
    results = []
    for sessions in args.sessions:
        for setup in SETUPS:
            print(f'N={sessions}, {setup.name}: starting, signing in, opening tabs ...', file=sys.stderr, flush=True)
            results.append(await measure(setup, sessions, args))
            print(f'N={sessions}, {setup.name}: from POST p50/p99/max {ms(results[-1].run.from_post_ms)} ms',
                  file=sys.stderr, flush=True)
    print_tables(results, args, loop_name)


def parse_scale_args(argv: list[str]) -> argparse.Namespace:
    """Read bench.fanout's options (the defaults differ) plus the PostgreSQL and Redis servers to use."""
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument('--postgres-url', default=POSTGRES_URL,
                       help='PostgreSQL server (any database: set-ups create their own); VIGIL_BENCH_POSTGRES_URL')
    extra.add_argument('--redis-url', default=REDIS_URL, help='Redis server; VIGIL_BENCH_REDIS_URL')
    own, rest = extra.parse_known_args(argv)
    args = fanout.parse_args(rest if any(a.startswith('--sessions') for a in rest) else ['--sessions', '10,300', *rest])
    args.postgres_url, args.redis_url = own.postgres_url, own.redis_url
    return args


if __name__ == '__main__':
    options = parse_scale_args(sys.argv[1:])
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(options, 'asyncio'))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(options, 'uvloop'))
