"""Where a request of readings spends its time, step by step and SQL statement by SQL statement.

    python -m bench.ingest_profile [--batches 200] [--batch-size 100] [--clients 4] [--idempotency-key] [--cprofile N]

The API routers run in this process on a bare FastAPI app (no NiceGUI middleware, no network: httpx's ASGI
transport), on a fresh demo database with a device token, and batches from the simulator's physiology are posted
by a few concurrent clients (as `bench.ingest` does; with --idempotency-key each with a fresh key), so requests
share transactions as they do in the server, whose garbage-collector tuning (GcTuner) runs here too. The table
divides every step by the number of requests (a shared transaction's cost is spread over its members). The steps of
the write path are timed by wrapping them here (the product is not changed), and every SQL statement by
SQLAlchemy's cursor events (wall time including aiosqlite's thread hop). A sampling profiler (py-spy) cannot split
this path: SQLAlchemy's async layer runs each statement in a greenlet of its own,
so its stacks lose the Vigil function that issued the statement. Complements `python -m bench.ingest`.
"""

import argparse
import asyncio
import cProfile
import functools
import json
import pstats
import re
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

import app.api.vitals
import app.services.ingest
import app.uow
from app.api.routers import api_routers
from app.bootstrap import build, migrate, seed
from app.config import Settings
from app.domain import TokenKind
from app.events.bus import EventBus
from app.gc_tuning import GcTuner
from app.schemas import Actor
from bench.ingest import readings_for

Timings = dict[str, list[float]]


def timed(owner: Any, name: str, label: str, timings: Timings) -> None:
    """Replace owner.name by a wrapper that adds each call's wall time (ms) to timings[label]."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                timings[label].append((time.perf_counter() - began) * 1000)
    else:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings[label].append((time.perf_counter() - began) * 1000)
    setattr(owner, name, wrapper)


def statement_label(sql: str) -> str:
    """Return 'VERB table' for a SQL statement (enough to tell Vigil's statements apart)."""
    text = ' '.join(sql.split())
    verb = text.split(' ', 1)[0].upper()
    table = re.search(r'\b(?:INTO|UPDATE|FROM)\s+"?(\w+)', text, re.I)
    extra = ' ... ON CONFLICT' if 'ON CONFLICT' in text.upper() else ''
    return f'{verb} {table[1] if table else ""}{extra}'.strip()


async def main(args: argparse.Namespace) -> None:
    timings: Timings = defaultdict(list)
    statements: dict[str, list[float]] = defaultdict(list)
    rows_per_statement: dict[str, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), demo=True)
        await migrate(settings)
        vigil = build(settings)
        try:
            await seed(vigil)
            token = (await vigil.tokens.create(hospital_slug='general', kind=TokenKind.DEVICE, name='profile')).secret
            api = FastAPI()
            for router in api_routers(vigil):
                api.include_router(router)
            patients = await vigil.patients.list_patients(Actor.system('profile', hospital_id=1))
            listed = [{'mrn': p.mrn, 'spo2_scale': p.spo2_scale} for p in patients]
            readings = readings_for(listed, (args.batches + 20) * args.batch_size,
                                    datetime.now(UTC) - timedelta(hours=3), seed=0)
            bodies = [json.dumps(readings[i:i + args.batch_size]).encode()
                      for i in range(0, len(readings), args.batch_size)]

            started: dict[int, float] = {}

            @event.listens_for(vigil.engine.sync_engine, 'before_cursor_execute')
            def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
                started[id(cursor)] = time.perf_counter()

            @event.listens_for(vigil.engine.sync_engine, 'after_cursor_execute')
            def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
                label = statement_label(statement)
                statements[label].append((time.perf_counter() - started.pop(id(cursor))) * 1000)
                rows_per_statement[label].append(len(parameters) if many else 1)

            steps: list[tuple[Any, str, str]] = [
                (app.api.vitals, 'parse_batch', 'parse and validate the JSON body (pydantic)'),
                (app.services.patients.PatientService, 'record_vitals', 'PatientService.record_vitals (all of it)'),
                (app.services.ingest.GroupCommit, '_transaction', '  one shared transaction (per request: share)'),
                (app.services.ingest, 'load_context', '    load latest vitals and trigger states'),
                (app.services.ingest, 'upsert_latest_vitals', '    upsert latest_vitals'),
                (app.services.ingest, 'detect', '    detection (NEWS2, limits, persistence)'),
                (app.services.ingest.GroupCommit, '_recorded', '    VitalsRecorded events (patient views, NEWS2)'),
                (app.services.ingest, 'device_seen', '    device heartbeat bookkeeping'),
                (app.uow.UnitOfWork, 'commit', '    UnitOfWork.commit (all of it)'),
                (app.uow.UnitOfWork, '_number_and_log', '      number events, write event_log'),
                (EventBus, 'publish', '      publish events after COMMIT (per event)'),
            ]
            for owner, name, label in steps:
                timed(owner, name, label, timings)
            transport = httpx.ASGITransport(app=api)
            headers = {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}
            async with httpx.AsyncClient(transport=transport, base_url='http://vigil') as client:
                def request(body: bytes) -> Any:
                    keyed = {'Idempotency-Key': str(uuid.uuid4())} if args.idempotency_key else {}
                    return client.post('/api/v1/vitals', content=body, headers={**headers, **keyed})

                for body in bodies[:20]:  # warm-up: statement caches, rules cache, first alerts
                    assert (await request(body)).status_code == 201
                timings.clear()
                statements.clear()
                rows_per_statement.clear()
                queue = iter(bodies[20:])
                commits = vigil.patients.shared_commits

                async def poster() -> None:
                    for body in queue:
                        response = await request(body)
                        assert response.status_code == 201, response.text

                # As the server does: survivors are frozen every few seconds, so full collections stay small (without
                # it, full collections of this process's heap took about a tenth of the CPU measured here).
                tuner = GcTuner()
                tuner.start()
                profiler = cProfile.Profile() if args.cprofile else None
                if profiler is not None:
                    profiler.enable()
                began, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(poster() for _ in range(args.clients)))
                elapsed, cpu = (time.perf_counter() - began) * 1000, (time.process_time() - cpu) * 1000
                if profiler is not None:
                    profiler.disable()
                commits = vigil.patients.shared_commits - commits
                await tuner.stop()
        finally:
            await vigil.close()
    report(args, args.batches, elapsed, cpu, commits, timings, statements, rows_per_statement)
    if profiler is not None:
        print()
        print(f'cProfile, top {args.cprofile} functions by own time (timings above are then inflated):')
        pstats.Stats(profiler).sort_stats('tottime').print_stats(args.cprofile)


def report(args: argparse.Namespace, batches: int, elapsed: float, cpu: float, commits: int, timings: Timings,
           statements: dict[str, list[float]], rows: dict[str, list[int]]) -> None:
    per_batch = elapsed / batches
    keyed = ', each with an Idempotency-Key' if args.idempotency_key else ''
    print(f'{batches} requests of {args.batch_size} readings{keyed}, posted in-process by {args.clients} concurrent '
          'clients: '
          f'{per_batch:.2f} ms of wall time per request ({args.batch_size * 1000 / per_batch:,.0f} readings/s); '
          f'{commits} shared transactions ({batches / max(commits, 1):.1f} requests per commit); '
          f'{cpu / batches:.2f} ms of CPU per request (this process, clients included: the steadier figure on a '
          'shared machine, where wall times below include waiting for the CPU)')
    print()
    print('| step | ms per request | share | calls per request |')
    print('|---|---|---|---|')
    print(f'| whole request (ASGI, routing, auth, idempotency check, the steps below) | {per_batch:.2f} | 100% | 1 |')
    for label, values in timings.items():
        ms = sum(values) / batches
        print(f'| {label} | {ms:.2f} | {ms / per_batch:.0%} | {len(values) / batches:g} |')
    sql = sum(sum(v) for v in statements.values()) / batches
    print(f'| all SQL statements (cursor execute, incl. the aiosqlite thread hop) | {sql:.2f} | {sql / per_batch:.0%} '
          f'| {sum(len(v) for v in statements.values()) / batches:g} |')
    print()
    print('| SQL statement | per request | ms per request | rows per execution |')
    print('|---|---|---|---|')
    for label, values in sorted(statements.items(), key=lambda item: -sum(item[1])):
        print(f'| {label} | {len(values) / batches:g} | {sum(values) / batches:.2f} '
              f'| {sum(rows[label]) / len(rows[label]):.0f} |')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batches', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=100)
    parser.add_argument('--clients', type=int, default=4, help='concurrent requests (as bench.ingest)')
    parser.add_argument('--idempotency-key', action='store_true', help='send every request with a fresh key')
    parser.add_argument('--cprofile', type=int, default=0, metavar='N', help='also print the N hottest functions')
    asyncio.run(main(parser.parse_args()))
