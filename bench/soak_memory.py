"""Where the soak's server memory goes: the soak's hospital in phases, with a probe inside the server.

    python -m bench.soak_memory [--beds 200] [--screens 60] [--quiet 3] [--answered 4] [--held 3]
                                [--episode-every 1200] [--trace-frames 0] [--seed 0]

The hospital, screens, gateways and staff of bench/soak.py (temporary SQLite), the server run by
bench/memory_probe.py, in three phases back to back on the same open screens:
- quiet (--quiet min): vital signs only; nobody deteriorates, no alert is raised.
- answered (--answered min): patients deteriorate often (an episode a patient every --episode-every s on average)
  and staff acknowledge every alert 5-15 s after it appears and resolve it 5-20 s later: alerts come and go, few
  stay open.
- held (--held min): the same patients, nobody answers: open alerts pile up as rows on the dashboards.
Prints a row a minute from a light probe (no collection): readings, alerts, open alerts, RSS, glibc's heap in use
and free, pymalloc blocks, full collections CPython ran, objects the collector tracks (frozen ones included),
NiceGUI clients and elements, asyncio tasks. At each phase's start and end a full probe adds what a collection then
reclaims (app/gc_tuning.py keeps the heap frozen). Per phase: growth a minute before and after that collection,
live objects by type and the containers reachable from the services, the hub and the project's modules that grew
(after collection: what really stays), the garbage the collection found by type, and for the held phase the cost
of one alert row on one dashboard. With --trace-frames N, tracemalloc traces from the end of the quiet phase (N
frames) and the allocation sites that grew are listed; it slows the server down a lot (at 60 screens too much).
Growth after collection in the answered phase, with nothing left open, is kept per reading, alert or event: a leak.
Nothing is asserted.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from app.config import Settings
from bench.server import PROJECT_DIR, ServerProcess, pin
from bench.soak import follow
from bench.soak_hospital import Gateways, seed_hospital
from bench.soak_report import Ledger
from bench.soak_screens import Responders, keep_open, open_screens, plan_screens, wind_down

MIB = 1024
PROBE_SECONDS = 180.0
ANSWERED_EPISODE_EVERY = 20 * 60.0  # much more often than the soak's 100 min: more alerts a minute
TOP = 15
ROW_TYPE = 'components.alert_row.AlertRow'
NOTIFICATION_TYPE = 'nicegui.elements.notification.Notification'


@dataclass
class Totals:
    """Cumulative counts from the client's side, read at every probe."""

    accepted: int = 0
    raised: int = 0
    acknowledged: int = 0
    open_alerts: int = 0


@dataclass
class Run:
    folder: Path
    server: ServerProcess
    ledger: Ledger
    rows: list[tuple[str, int, dict[str, Any], Totals]] = field(default_factory=list)
    full: dict[str, dict[str, Any]] = field(default_factory=dict)

    def totals(self) -> Totals:
        minutes = self.ledger.minutes
        return Totals(sum(m.accepted for m in minutes), sum(len(m.raised) for m in minutes),
                      sum(m.acknowledged for m in minutes), len(self.ledger.open_alerts))

    async def probe(self, label: str, *, collect: bool, trace: int = 0) -> dict[str, Any]:
        """Ask the server's probe for a report and wait for it (tracing allocations from now on with `trace`)."""
        (self.folder / 'request.json').write_text(json.dumps({'label': label, 'collect': collect, 'trace': trace}))
        os.kill(self.server.pid, signal.SIGUSR1)
        done = self.folder / f'{label}.done'
        deadline = time.monotonic() + PROBE_SECONDS
        while not done.exists():
            if (self.folder / 'error.txt').exists():
                raise RuntimeError(f'probe failed: {(self.folder / "error.txt").read_text()}')
            if time.monotonic() > deadline:
                raise RuntimeError(f'probe {label} did not answer within {PROBE_SECONDS:.0f} s')
            await asyncio.sleep(0.2)
        report: dict[str, Any] = json.loads((self.folder / f'{label}.json').read_text())
        return report

    async def minute_row(self, phase: str, minute: int) -> None:
        report = await self.probe(f'{phase}-{minute}', collect=False)
        self.rows.append((phase, minute, report, self.totals()))
        print_row(*self.rows[-1], self.rows[-2] if len(self.rows) > 1 else None)

    async def boundary(self, label: str, trace: int = 0) -> None:
        report = await self.probe(label, collect=True, trace=trace)
        report['open_alerts'] = len(self.ledger.open_alerts)
        self.full[label] = report
        self.rows.append((f'[{label}]', 0, report, self.totals()))
        print_row(*self.rows[-1], self.rows[-2] if len(self.rows) > 1 else None)


def print_header() -> None:
    print('| phase | min | readings accepted | alerts raised | acks | open alerts | RSS MiB | RSS change KiB '
          '| C heap in use / free MiB | pymalloc blocks | full collections | gc objects (frozen) | clients '
          '| elements | asyncio tasks | probe s |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|', flush=True)


def print_row(phase: str, minute: int, report: dict[str, Any], totals: Totals,
              previous: tuple[str, int, dict[str, Any], Totals] | None) -> None:
    before = previous[2] if previous else report
    done = previous[3] if previous else Totals()
    gui = report['nicegui']
    collected = ''
    if 'rss_kib_collected' in report:
        collected = f' -> {report["rss_kib_collected"] / MIB:.0f} collected'
    heap = '/'.join(f'{report["malloc"].get(k, 0) / MIB:.0f}' for k in ('in_use', 'free'))
    blocks = f'{report["blocks"]:,}' + (f' -> {report["blocks_collected"]:,}' if 'blocks_collected' in report else '')
    objects = f'{report["gc_objects"]:,} ({report["frozen"]:,})'
    if 'gc_objects_collected' in report:
        objects += f' -> {report["gc_objects_collected"]:,}'
    print(f'| {phase} | {minute or ""} | {totals.accepted - done.accepted:,} | {totals.raised - done.raised} '
          f'| {totals.acknowledged - done.acknowledged} | {totals.open_alerts} '
          f'| {report["rss_kib"] / MIB:.0f}{collected} '
          f'| {report["rss_kib"] - before.get("rss_kib_collected", before["rss_kib"]):+,} '
          f'| {heap} | {blocks} | {report["gc_collections"][2] - before["gc_collections"][2]:+,} | {objects} '
          f'| {gui["clients"]} ({gui["clients_connected"]} connected) | {gui["elements"]:,} '
          f'| {sum(report["tasks"].values())} | {report["probe_seconds"]:.1f} |', flush=True)


def grown(before: dict[str, int], after: dict[str, int], top: int = TOP) -> list[tuple[str, int, int]]:
    """Return (name, before, after) for the entries that grew most."""
    deltas = [(name, before.get(name, 0), after.get(name, 0)) for name in set(before) | set(after)]
    deltas = [d for d in deltas if d[2] != d[1]]
    return sorted(deltas, key=lambda d: d[1] - d[2])[:top]


def print_phase(run: Run, phase: str, start: dict[str, Any], end: dict[str, Any], minutes: float,
                traced: bool) -> None:
    print()
    print(f'### {phase}: {minutes:.1f} min')
    rss = (end['rss_kib'] - start['rss_kib_collected']) / minutes
    live = (end['rss_kib_collected'] - start['rss_kib_collected']) / minutes
    objects = (end['gc_objects_collected'] - start['gc_objects_collected']) / minutes
    elements = end['nicegui']['elements'] - start['nicegui']['elements']
    heap = ', '.join(f'{k} {(end["malloc_collected"][k] - start["malloc_collected"][k]) / minutes:+,.0f}'
                     for k in end.get('malloc_collected', {}))
    print(f'RSS {rss:+,.0f} KiB a minute before the collection, {live:+,.0f} KiB a minute after it (C heap KiB a '
          f'minute: {heap or "unknown"}); live objects '
          f'{objects:+,.0f} a minute; NiceGUI elements {elements:+,} in the phase; the collection at its end reclaimed '
          f'{end["collected"]:,} objects in {end.get("collect_seconds", 0):.2f} s '
          f'({(end["rss_kib"] - end["rss_kib_collected"]) / MIB:+.1f} MiB RSS, '
          f'{end["blocks"] - end["blocks_collected"]:,} pymalloc blocks).')
    traced = traced and (run.folder / f'{start["label"]}.tracemalloc').exists()
    if traced:
        growth = end['traced_kib'] - start['traced_kib']
        print(f'tracemalloc: {growth:+,} KiB traced ({growth / minutes:+,.0f} KiB a minute)', end='')
        if elements:
            print(f', {growth * 1024 / elements:,.0f} bytes per element added', end='')
        print('.')
    rows = end['types'].get(ROW_TYPE, 0) - start['types'].get(ROW_TYPE, 0)
    if phase == 'held' and rows > 0:
        live_kib = end['rss_kib_collected'] - start['rss_kib_collected']
        heap = ''
        if 'pymalloc_kib_collected' in end and 'pymalloc_kib_collected' in start:
            in_use = (end['pymalloc_kib_collected'] - start['pymalloc_kib_collected']
                      + end['malloc_collected']['in_use'] - start['malloc_collected']['in_use'])
            heap = f'; Python objects and C heap in use {in_use:+,} KiB: {in_use / rows:,.1f} KiB per row'
        print(f'Alert rows on dashboards {rows:+,} (open alerts {start["open_alerts"]} -> {end["open_alerts"]}); RSS '
              f'after collection {live_kib:+,} KiB, {live_kib / rows:,.1f} KiB per row (freed memory is reused '
              f'first){heap}; live objects {(end["gc_objects_collected"] - start["gc_objects_collected"]) / rows:,.0f}'
              f' per row. Toasts the emulated browsers never dismiss (at most {5} a page besides critical ones) are '
              f'in these numbers: notifications {notifications(start, end):+,}.')
    print()
    print('| live objects by type (after collection) | start | end | change |')
    print('|---|---|---|---|')
    for name, a, b in grown(start['types'], end['types']):
        print(f'| {name} | {a:,} | {b:,} | {b - a:+,} |')
    print()
    print('| garbage the collection reclaimed at the end, by type | objects |')
    print('|---|---|')
    garbage = Counter(end['types_before_collect'])
    garbage.subtract(end['types'])
    for name, count in garbage.most_common(10):
        print(f'| {name} | {count:,} |')
    print()
    print('| container (path from the services, hub and modules; [*] sums over items) | start | end | change |')
    print('|---|---|---|---|')
    for name, a, b in grown(start['containers'], end['containers']):
        print(f'| {name} | {a:,} | {b:,} | {b - a:+,} |')
    if traced:
        first = tracemalloc.Snapshot.load(str(run.folder / f'{start["label"]}.tracemalloc'))
        last = tracemalloc.Snapshot.load(str(run.folder / f'{end["label"]}.tracemalloc'))
        print()
        print('| allocation site that grew (innermost project or library frames) | KiB | blocks |')
        print('|---|---|---|')
        for stat in last.compare_to(first, 'traceback')[:TOP]:
            print(f'| {where(stat.traceback)} | {stat.size_diff / 1024:+,.0f} | {stat.count_diff:+,} |')
    print(flush=True)


def notifications(start: dict[str, Any], end: dict[str, Any]) -> int:
    return int(end['types'].get(NOTIFICATION_TYPE, 0) - start['types'].get(NOTIFICATION_TYPE, 0))


def where(traceback: tracemalloc.Traceback) -> str:
    """Return the innermost three frames of an allocation and the innermost three of the project's own."""
    frames = list(traceback)  # innermost first
    own = [f for f in frames[3:] if Path(f.filename).is_relative_to(PROJECT_DIR) and '.venv' not in f.filename]
    return ' < '.join(f'{Path(f.filename).name}:{f.lineno}' for f in frames[:3] + own[:3])


async def run_phase(run: Run, gateways: Gateways, phase: str, minutes: int) -> None:
    work = asyncio.create_task(gateways.run(minutes * 60.0))
    began = time.monotonic()
    try:
        for minute in range(1, minutes + 1):
            await asyncio.sleep(max(0.0, began + minute * 60.0 - time.monotonic()))
            await run.minute_row(phase, minute)
    finally:
        await work


async def diagnose(args: argparse.Namespace, folder: Path) -> None:
    cores = pin()
    settings = Settings(data_dir=folder / 'data')
    print(f'seeding {args.beds} beds ...', file=sys.stderr, flush=True)
    hospital = await seed_hospital(settings, args.beds, max(1, args.screens // 10))
    env = {'PYTHONPATH': str(PROJECT_DIR)}
    probes = folder / 'probes'
    server = ServerProcess(folder, core=cores[0] if cores else None, demo=False, env=env,
                           launcher=('-m', 'bench.memory_probe', str(probes)))
    screens = plan_screens(hospital, args.screens)
    total = args.quiet + args.answered + args.held
    ledger = Ledger(hospital.hospital_id, screens, last=total + 1)
    responders = Responders(screens, args.seed, share=1.0, acknowledge_after=(5.0, 15.0),
                            resolve_after=(5.0, 20.0))
    ledger.clicked = responders.clicked
    run = Run(probes, server, ledger)
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    tasks: list[asyncio.Task[None]] = []
    try:
        await server.start()
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:
            print(f'opening {len(screens)} screens ...', file=sys.stderr, flush=True)
            await open_screens(http, server.base, hospital, screens, 4)
            tasks.append(asyncio.create_task(follow(http, server.base, hospital.integration, ledger)))
            tasks.append(asyncio.create_task(keep_open(http, server.base, screens)))
            await asyncio.sleep(args.settle)
            roles = Counter(s.role for s in screens)
            print(f'Memory soak: {args.beds} beds, {len(screens)} screens '
                  f'({", ".join(f"{n} {r}" for r, n in sorted(roles.items()))}), phases quiet {args.quiet} / '
                  f'answered {args.answered} / held {args.held} min, tracemalloc frames {args.trace_frames}, seed '
                  f'{args.seed}; {f"server on core {cores[0]}, client on core {cores[1]}" if cores else "not pinned"}.')
            print()
            print_header()
            ledger.start()
            marks = ['quiet-start']
            # Allocations are traced from the end of the quiet phase (its first minute warms caches up).
            await run.boundary('quiet-start', trace=0 if args.quiet else args.trace_frames)
            if args.quiet:
                quiet = Gateways(server.base, hospital, args.seed, ledger.ingested, episode_every=0.0,
                                 already_deteriorating=0.0)
                await run_phase(run, quiet, 'quiet', args.quiet)
                await run.boundary('quiet-end', trace=args.trace_frames)
                marks.append('quiet-end')
            eventful = Gateways(server.base, hospital, args.seed, ledger.ingested,
                                episode_every=args.episode_every, already_deteriorating=0.05)
            if args.answered:
                ledger.on_raised = responders.raised
                await run_phase(run, eventful, 'answered', args.answered)
                ledger.on_raised = None
                await asyncio.sleep(40.0)  # the last alerts answered: acknowledged within 15 s, resolved 20 s later
                await run.boundary('answered-end')
                marks.append('answered-end')
            if args.held:
                await run_phase(run, eventful, 'held', args.held)
                await run.boundary('held-end')
                marks.append('held-end')
            await wind_down(responders, tasks, screens)
    except Exception:
        print(f'server log (last lines):\n{server.log_tail()}', file=sys.stderr)
        raise
    finally:
        for task in tasks:
            task.cancel()
        await responders.stop()
        await server.stop()
    times = {label: report['time'] for label, report in run.full.items()}
    for first, last in itertools.pairwise(marks):
        phase = last.removesuffix('-end')
        print_phase(run, phase, run.full[first], run.full[last], (times[last] - times[first]) / 60,
                    bool(args.trace_frames))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix='vigil-soak-memory-') as folder:
        await diagnose(args, Path(folder))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.soak_memory', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--beds', type=int, default=200, help='patients, each sending a full set a minute')
    parser.add_argument('--screens', type=int, default=60, help='open screens of mixed roles and wall displays')
    parser.add_argument('--quiet', type=int, default=3, help='minutes of vital signs only')
    parser.add_argument('--answered', type=int, default=4, help='minutes of alerts answered within a minute')
    parser.add_argument('--held', type=int, default=3, help='minutes of alerts nobody answers')
    parser.add_argument('--episode-every', type=float, default=ANSWERED_EPISODE_EVERY,
                        help='mean seconds between deteriorations of one patient in the alert phases')
    parser.add_argument('--trace-frames', type=int, default=0, help='trace allocations with this many frames')
    parser.add_argument('--settle', type=float, default=20.0, help='seconds between opening the screens and starting')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.screens < 4 or args.beds < 1:
        parser.error('need at least 1 bed and 4 screens')
    return args


if __name__ == '__main__':
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parse_args(sys.argv[1:])))
