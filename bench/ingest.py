"""Ingest throughput through the real HTTP API, with detection on, beside the raw floor: on the embedded SQLite and
on PostgreSQL.

    python -m bench.ingest [--single 2000] [--batches 300] [--batch-size 100] [--clients 4]
                           [--backends sqlite,postgresql] [--postgres-url URL]
                           [--py-spy PATH [--profile-dir bench/out]]

For each backend a fresh demo server (its own SQLite under a temporary folder, or a temporary PostgreSQL database
created on --postgres-url and dropped afterwards; a free port on 127.0.0.1, quiet patients) is started as a child
process and a device token is created with `token create`. Readings come from the simulator's
physiology (full sets for the 24 patients of Vigil General Hospital, two of them deteriorating, so detection sees
a realistic mix) and are POSTed to /api/v1/vitals by a few concurrent keep-alive clients: one reading per request,
batches, and batches with an Idempotency-Key. Every response must be 201 with the right count.

The floor is measured in the same run: the same rows inserted straight through SQLAlchemy Core (one executemany in
one transaction per mode) into a copy of the server's SQLite database, with Vigil's engine settings (WAL, the same
synchronous mode), or into the server's PostgreSQL database once the server has stopped. A second floor inserts
them with one transaction per request (the rows of each request in one executemany and one commit, as the API
must: a device is answered only once its readings are committed): what the API could reach if validation,
detection, events and HTTP cost nothing. Server and load client are pinned to their own cores
where the OS allows; both CPU shares are reported.
With --py-spy (`pip install py-spy`; not a dependency of Vigil) the server is sampled during the plain batch mode
and the time per layer is summarised (raw collapsed stacks land in --profile-dir); `python -m bench.ingest_profile`
splits one batch's time by step and SQL statement. Nothing is asserted; machines are shared and noisy, read the
ratios.
"""

import argparse
import asyncio
import itertools
import json
import os
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select

from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS
from app.simulator import Eventfulness, PatientModel, as_number
from bench.fanout_scale import POSTGRES_URL, fresh_database
from bench.profile import summarise
from bench.server import ServerProcess, pin
from data.engine import create_engine
from data.models import Patient, VitalReading

HOSPITAL = 'general'
QUIET = Eventfulness(episode_every=0, artefact_every=0)


@dataclass(frozen=True)
class Mode:
    name: str
    batch: int
    requests: int
    idempotency_keys: bool


@dataclass
class Result:
    mode: Mode
    readings: int
    seconds: float
    server_cpu: float
    client_cpu: float
    floor_per_second: float = 0.0
    request_floor_per_second: float = 0.0

    @property
    def per_second(self) -> float:
        return self.readings / self.seconds


def readings_for(patients: list[dict[str, Any]], count: int, start: datetime, seed: int) -> list[dict[str, Any]]:
    """Return `count` readings: full sets for every patient, one tick per second, starting at `start`."""
    models = [PatientModel(p['mrn'], int(p.get('spo2_scale') or 1), seed, QUIET) for p in patients]
    for model in models[:2]:
        model.start_episode(peak=1.0)
    readings: list[dict[str, Any]] = []
    for tick in itertools.count(1):
        measured_at = (start + timedelta(seconds=tick)).isoformat()
        for model in models:
            model.advance(tick)
            readings.extend({'patient_mrn': model.mrn, 'kind': kind.value, 'value': model.reading(kind),
                             'unit': VITAL_SPECS[kind].unit, 'measured_at': measured_at} for kind in VitalKind)
        if len(readings) >= count:
            return readings[:count]
    raise AssertionError('unreachable')


async def post_all(base: str, token: str, bodies: list[bytes], clients: int, keys: bool) -> None:
    """POST every body with `clients` concurrent keep-alive connections; every answer must be 201."""
    queue = iter(range(len(bodies)))
    headers = {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}

    async def client() -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(base, connector=connector, headers=headers) as http:
            for index in queue:
                extra = {'Idempotency-Key': str(uuid.uuid4())} if keys else {}
                async with http.post('/api/v1/vitals', data=bodies[index], headers=extra) as response:
                    answer = await response.read()
                    if response.status != 201:
                        raise RuntimeError(f'request {index}: HTTP {response.status}: {answer[:300]!r}')

    await asyncio.gather(*(client() for _ in range(clients)))


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(server: ServerProcess, token: str, mode: Mode, readings: list[dict[str, Any]],
                  clients: int) -> Result:
    bodies = [json.dumps(readings[i] if mode.batch == 1 else readings[i:i + mode.batch]).encode()
              for i in range(0, len(readings), mode.batch)]
    server_before, client_before = server.cpu_seconds(), client_cpu()
    began = time.perf_counter()
    await post_all(server.base, token, bodies, clients, mode.idempotency_keys)
    seconds = time.perf_counter() - began
    return Result(mode, len(readings), seconds, (server.cpu_seconds() - server_before) / seconds,
                  (client_cpu() - client_before) / seconds)


def synchronous() -> str:
    """Return the SQLite synchronous mode the server runs with (VIGIL_SQLITE_SYNCHRONOUS, default full): the floor
    uses the same, so that the comparison is fair."""
    return os.environ.get('VIGIL_SQLITE_SYNCHRONOUS', 'full').upper()


async def floor(url: str, batches: list[list[dict[str, Any]]], sizes: list[int]
                ) -> tuple[list[tuple[float, float]], int]:
    """Insert each list of readings into the database at `url` (a copy of the server's SQLite file, or the server's
    PostgreSQL database once the server stopped), in one transaction and then in one transaction per request of the
    given size; return (rows/s, rows/s) per list and how many readings the server had stored."""
    engine = create_engine(url, sqlite_synchronous=synchronous())
    try:
        async with engine.connect() as connection:
            patients = {mrn: (pid, hid) for mrn, pid, hid in await connection.execute(
                select(Patient.mrn, Patient.id, Patient.hospital_id))}
            stored = await connection.scalar(select(func.count()).select_from(VitalReading)) or 0
            await connection.rollback()
        rates = []
        for readings, size in zip(batches, sizes, strict=True):
            now = datetime.now(UTC)
            rows = [{'hospital_id': patients[r['patient_mrn']][1], 'patient_id': patients[r['patient_mrn']][0],
                     'kind': r['kind'], 'value': as_number(VitalKind(r['kind']), r['value']),
                     'unit': r['unit'], 'measured_at': datetime.fromisoformat(r['measured_at']),
                     'recorded_at': now, 'source': 'floor'} for r in readings]
            began = time.perf_counter()
            async with engine.begin() as connection:
                await connection.execute(insert(VitalReading), rows)
            whole = len(rows) / (time.perf_counter() - began)
            began = time.perf_counter()
            for start in range(0, len(rows), size):
                async with engine.begin() as connection:
                    await connection.execute(insert(VitalReading), rows[start:start + size])
            rates.append((whole, len(rows) / (time.perf_counter() - began)))
        return rates, int(stored)
    finally:
        await engine.dispose()


@asynccontextmanager
async def database_for(backend: str, folder: Path, args: argparse.Namespace) -> AsyncIterator[str | None]:
    """Yield the server's VIGIL_DATABASE_URL: None for its own SQLite file, or a fresh PostgreSQL database (dropped
    afterwards)."""
    if backend == 'sqlite':
        yield None
        return
    async with fresh_database(args.postgres_url) as url:
        yield url


async def run(backend: str, args: argparse.Namespace, cores: tuple[int, int] | None) -> tuple[list[Result], int, int]:
    """Run the three modes against a fresh server on `backend`, then the floors; return results, stored, sent."""
    modes = [Mode('single reading per request', 1, args.single, False),
             Mode(f'batch of {args.batch_size}', args.batch_size, args.batches, False),
             Mode(f'batch of {args.batch_size} + Idempotency-Key', args.batch_size, args.batches, True)]
    results: list[Result] = []
    profile: Path | None = None
    with tempfile.TemporaryDirectory() as folder:
        async with database_for(backend, Path(folder), args) as url:
            server = ServerProcess(Path(folder), core=cores[0] if cores else None)
            if url is not None:
                server.env['VIGIL_DATABASE_URL'] = url
            await server.start()
            try:
                token = await server.create_token(HOSPITAL, 'device', 'ingest benchmark')
                async with (aiohttp.ClientSession(server.base, headers={'Authorization': f'Bearer {token}'}) as http,
                            http.get('/api/v1/patients') as response):
                    patients = await response.json()
                total = sum(m.batch * m.requests for m in modes)
                everything = readings_for(patients, total, datetime.now(UTC) - timedelta(hours=3), args.seed)
                offset = 0
                for mode in modes:
                    readings = everything[offset:offset + mode.batch * mode.requests]
                    offset += len(readings)
                    profiler = None
                    if args.py_spy and mode.batch > 1 and not mode.idempotency_keys:
                        profile = args.profile_dir / f'ingest-server-{backend}.txt'
                        profiler = server.profile(args.py_spy, profile)
                        await asyncio.sleep(1.0)  # py-spy attaches
                    results.append(await measure(server, token, mode, readings, args.clients))
                    if profiler is not None:
                        await profiler.stop()
            finally:
                await server.stop()
            if url is None:
                data = Path(folder) / 'data'
                copy = Path(folder) / 'floor.db'
                for suffix in ('', '-wal', '-shm'):
                    if (data / f'vigil.db{suffix}').exists():
                        shutil.copy(data / f'vigil.db{suffix}', Path(f'{copy}{suffix}'))
                url = f'sqlite+aiosqlite:///{copy}'
            offset = 0
            per_mode = []
            for result in results:
                per_mode.append(everything[offset:offset + result.readings])
                offset += result.readings
            rates, stored = await floor(url, per_mode, [result.mode.batch for result in results])
    for result, (whole, per_request) in zip(results, rates, strict=True):
        result.floor_per_second, result.request_floor_per_second = whole, per_request
    if profile is not None and profile.exists():
        print(summarise(profile.read_text()))
        print()
    return results, stored, total


async def main(args: argparse.Namespace) -> None:
    cores = pin()
    for index, backend in enumerate(args.backends):
        results, stored, sent = await run(backend, args, cores)
        if index:
            print()
        print_table(backend, results, stored, sent, cores, args)


def print_table(backend: str, results: list[Result], stored: int, sent: int, cores: tuple[int, int] | None,
                args: argparse.Namespace) -> None:
    where = f'server on core {cores[0]}, clients on core {cores[1]}' if cores else 'not pinned'
    database = (f'embedded SQLite (synchronous {synchronous()})' if backend == 'sqlite'
                else 'PostgreSQL (a temporary database of its own, on this machine)')
    print(f'Ingest through POST /api/v1/vitals, {database}, detection on; {args.clients} concurrent clients; '
          f'{where}. {stored:,} readings stored for {sent:,} sent.')
    print()
    print('| mode | requests | readings | seconds | readings/s | raw floor readings/s | floor / API '
          '| floor, a transaction per request | that floor / API | server CPU | readings per server CPU-second '
          '| client CPU |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in results:
        print(f'| {r.mode.name} | {r.mode.requests:,} | {r.readings:,} | {r.seconds:.2f} | {r.per_second:,.0f} '
              f'| {r.floor_per_second:,.0f} | {r.floor_per_second / r.per_second:.1f}x '
              f'| {r.request_floor_per_second:,.0f} | {r.request_floor_per_second / r.per_second:.1f}x '
              f'| {r.server_cpu:.0%} | {r.per_second / max(r.server_cpu, 0.01):,.0f} | {r.client_cpu:.0%} |')
    print()
    where = (f'into a copy of the server database (WAL, synchronous {synchronous()}, as the server)'
             if backend == 'sqlite' else 'into the server\'s database after the server stopped')
    print(f'Raw floor: the same rows through SQLAlchemy Core, one executemany in one transaction per mode, {where}; '
          'then one executemany and commit per request\'s rows. '
          'CPU: share of one core during the mode; readings per server CPU-second is the steadier figure when other '
          'work shares the server\'s core.')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--single', type=int, default=2000, help='requests with one reading each')
    parser.add_argument('--batches', type=int, default=300, help='batch requests per batch mode')
    parser.add_argument('--batch-size', type=int, default=100)
    parser.add_argument('--clients', type=int, default=4, help='concurrent keep-alive connections')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--backends', default='sqlite,postgresql',
                        help='comma-separated: sqlite, postgresql (default: %(default)s)')
    parser.add_argument('--postgres-url', default=POSTGRES_URL,
                        help='a PostgreSQL server where a temporary database is created and dropped (default: '
                        '$VIGIL_BENCH_POSTGRES_URL or %(default)s)')
    parser.add_argument('--py-spy', metavar='PATH', help='py-spy executable: sample the server in the batch modes')
    parser.add_argument('--profile-dir', default='bench/out',
                        help='where py-spy writes ingest-server.txt, collapsed stacks (default: %(default)s)')
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(',') if b.strip()]
    if unknown := set(args.backends) - {'sqlite', 'postgresql'}:
        parser.error(f'unknown backends: {", ".join(sorted(unknown))}')
    args.profile_dir = Path(args.profile_dir).resolve()  # the server runs in another working directory
    if args.py_spy:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    return args


if __name__ == '__main__':
    asyncio.run(main(parse_args()))
