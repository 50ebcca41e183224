"""The soak benchmark's ledger: every reading, alert and delivery counted per minute, and the tables printed."""

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.alerts import attention_key_of
from app.domain.scope import AccessScope
from app.schemas import AlertView
from bench.soak_hospital import ATTEMPTS
from bench.soak_screens import Screen

MIB = 1024


@dataclass
class Raised:
    view: AlertView
    seen: float  # when the event stream delivered it (time.time())
    expected: list[Screen]
    beyond_board: int  # screens whose scope sees it but whose list was full of more urgent alerts


@dataclass
class Minute:
    sent: int = 0
    accepted: int = 0
    retries: int = 0
    given_up: int = 0
    ingest_ms: list[float] = field(default_factory=list)
    raised: list[Raised] = field(default_factory=list)
    acknowledged: int = 0
    open_alerts: int = 0  # at the minute's end: what the screens hold rows for
    acknowledge_ms: list[float] = field(default_factory=list)
    rss_kib: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    load: float = 0.0


@dataclass
class Ledger:
    hospital_id: int
    screens: list[Screen]
    last: int = 0  # the index of the last minute
    started: float = 0.0
    minutes: list[Minute] = field(default_factory=list)
    open_alerts: dict[int, AlertView] = field(default_factory=dict)
    on_raised: Callable[[AlertView], None] | None = None
    clicked: dict[int, float] = field(default_factory=dict)  # alert id -> when staff pressed Acknowledge
    rss_idle_kib: int = 0
    rss_open_kib: int = 0
    stored_readings: int = 0
    stored_alerts: int = 0
    stream_alerts: set[int] = field(default_factory=set)
    acknowledged_ids: set[int] = field(default_factory=set)
    acknowledge_failures: int = 0
    dropped: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # failed answers by HTTP status

    def start(self) -> None:
        self.started = time.monotonic()

    def minute(self, index: int) -> Minute:
        while len(self.minutes) <= index:
            self.minutes.append(Minute())
        return self.minutes[index]

    def _now_minute(self, ago: float = 0.0) -> Minute:
        # What happens in the grace period after the last minute (the last answers and events) counts in it.
        index = int((time.monotonic() - ago - self.started) // 60)
        return self.minute(min(max(0, index), self.last))

    def ingested(self, seconds: float, readings: int, accepted: int, status: int | None, retry: bool,
                 given_up: bool) -> None:
        """Count one gateway request (in the minute it was sent); a retry's readings were counted as sent before."""
        row = self._now_minute(seconds)
        row.sent += 0 if retry else readings
        row.accepted += accepted
        row.ingest_ms.append(seconds * 1000)
        row.retries += int(retry)
        row.given_up += readings if given_up else 0
        if status != 201:
            self.failures[str(status or 'no answer')] += 1

    def event(self, kind: str, data: str) -> None:
        """Take one event of the hospital's stream: keep the open alerts, note raises and acknowledgements."""
        if not kind.startswith('Alert'):
            return
        seen = time.time()
        view = AlertView.model_validate(json.loads(data)['alert'])
        self.stream_alerts.add(view.id)
        if kind == 'AlertRaised':
            expected, beyond = self._audience(view)
            self._now_minute().raised.append(Raised(view, seen, expected, beyond))
        elif kind == 'AlertAcknowledged':
            row = self._now_minute()
            row.acknowledged += 1
            self.acknowledged_ids.add(view.id)
            if view.id in self.clicked:
                row.acknowledge_ms.append((seen - self.clicked[view.id]) * 1000)
        if view.is_open:
            self.open_alerts[view.id] = view
        else:
            self.open_alerts.pop(view.id, None)
        if kind == 'AlertRaised' and self.on_raised is not None:
            self.on_raised(view)

    def _audience(self, view: AlertView) -> tuple[list[Screen], int]:
        """Return the screens that must show a new alert, and how many see it but have no room for it."""
        key = attention_key_of(view)
        ahead: dict[tuple[AccessScope, int], int] = {}
        expected, beyond = [], 0
        for screen in self.screens:
            if not screen.scope.sees(view):
                continue
            group = (screen.scope, screen.rows)
            if group not in ahead:
                ahead[group] = sum(1 for a in self.open_alerts.values()
                                   if a.id != view.id and screen.scope.sees(a) and attention_key_of(a) < key)
            if ahead[group] < screen.rows:
                expected.append(screen)
            else:
                beyond += 1
        return expected, beyond


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile by rank (nan when there is nothing)."""
    if not values:
        return float('nan')
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fanout(raised: list[Raised]) -> tuple[list[float], int, int]:
    """Return the latencies (ms, from created_at) of the deliveries received, and (expected, received)."""
    latencies, expected, received = [], 0, 0
    for alert in raised:
        created = alert.view.created_at.timestamp()
        for screen in alert.expected:
            expected += 1
            arrived = screen.arrivals.get(alert.view.id)
            if arrived is not None:
                received += 1
                latencies.append((arrived - created) * 1000)
    return latencies, expected, received


def print_header(args: argparse.Namespace, cores: tuple[int, int] | None, ledger: Ledger) -> None:
    where = f'server on core {cores[0]}, client on core {cores[1]}' if cores else 'not pinned'
    roles: dict[str, int] = {}
    for screen in ledger.screens:
        roles[screen.role] = roles.get(screen.role, 0) + 1
    database = 'PostgreSQL' if args.postgres else 'SQLite'
    print(f'Soak: {args.beds} beds, {len(ledger.screens)} screens '
          f'({", ".join(f"{n} {r}" for r, n in sorted(roles.items()))}), {args.minutes} min, {database}, '
          f'seed {args.seed}; {where}.')
    print(f'Server RSS {ledger.rss_idle_kib / MIB:.0f} MiB before the screens opened, '
          f'{ledger.rss_open_kib / MIB:.0f} MiB with them open '
          f'({(ledger.rss_open_kib - ledger.rss_idle_kib) / max(1, len(ledger.screens)):.0f} KiB per screen).')
    print()
    print('| min | readings sent / accepted | retries | ingest p50 / p99 ms | alerts | fan-out p50 / p99 ms '
          '| deliveries expected / received | acks | open alerts | RSS MiB | RSS per screen KiB | server CPU '
          '| client CPU | load |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|', flush=True)


def print_row(ledger: Ledger, index: int) -> None:
    row = ledger.minute(index)
    latencies, expected, received = fanout(row.raised)
    per_screen = (row.rss_kib - ledger.rss_idle_kib) / max(1, len(ledger.screens))
    print(f'| {index + 1} | {row.sent:,} / {row.accepted:,} | {row.retries} | {pct(row.ingest_ms, .5):.0f} / '
          f'{pct(row.ingest_ms, .99):.0f} | {len(row.raised)} | {pct(latencies, .5):.0f} / {pct(latencies, .99):.0f} '
          f'| {expected:,} / {received:,} | {row.acknowledged} | {row.open_alerts} | {row.rss_kib / MIB:.0f} '
          f'| {per_screen:.0f} '
          f'| {row.server_cpu:.0%} | {row.client_cpu:.0%} | {row.load:.2f} |', flush=True)


def print_totals(ledger: Ledger) -> None:
    rows = [r for r in ledger.minutes if r.rss_kib]
    sent = sum(r.sent for r in ledger.minutes)
    accepted = sum(r.accepted for r in ledger.minutes)
    retries = sum(r.retries for r in ledger.minutes)
    given_up = sum(r.given_up for r in ledger.minutes)
    failures = ', '.join(f'{n} x HTTP {status}' for status, n in ledger.failures.most_common()) or 'none'
    raised = [a for r in ledger.minutes for a in r.raised]
    latencies, expected, received = fanout(raised)
    beyond = sum(a.beyond_board for a in raised)
    ingest = [v for r in ledger.minutes for v in r.ingest_ms]
    print()
    print('| total | value |')
    print('|---|---|')
    print(f'| readings sent / accepted / given up after {ATTEMPTS} attempts | {sent:,} / {accepted:,} / {given_up:,} |')
    print(f'| failed requests (HTTP status) / retries | {failures} / {retries:,} |')
    print(f'| readings in the database | {ledger.stored_readings:,} ({ledger.stored_readings - accepted:+,} '
          'against accepted) |')
    print(f'| ingest p50 / p99 / max ms | {pct(ingest, .5):.0f} / {pct(ingest, .99):.0f} / '
          f'{max(ingest, default=float("nan")):.0f} |')
    print(f'| alerts raised (event stream) / alerts in the database | {len(raised)} / {ledger.stored_alerts} |')
    dropped = sum(1 for a in raised for screen in a.expected
                  if a.view.id not in screen.arrivals and (screen.tab is None or screen.tab.closed_by_server))
    print(f'| deliveries expected / received / missed on open screens / missed on screens the server closed '
          f'| {expected:,} / {received:,} / {expected - received - dropped:,} / {dropped:,} |')
    print(f'| in scope but beyond a full list (not expected) | {beyond:,} |')
    print(f'| fan-out p50 / p99 / max ms | {pct(latencies, .5):.0f} / {pct(latencies, .99):.0f} / '
          f'{max(latencies, default=float("nan")):.0f} |')
    taken = sum(1 for alert_id in ledger.clicked if alert_id in ledger.acknowledged_ids)
    print(f'| acknowledgements (stream) / Acknowledge clicks / clicks that took / planned clicks with no row '
          f'| {sum(r.acknowledged for r in ledger.minutes)} / {len(ledger.clicked)} / {taken} '
          f'/ {ledger.acknowledge_failures} |')
    clicks = [v for r in ledger.minutes for v in r.acknowledge_ms]
    print(f'| acknowledge click to its event on the stream p50 / p99 ms | {pct(clicks, .5):.0f} / '
          f'{pct(clicks, .99):.0f} |')
    print(f'| screens whose socket the server closed: reconnected / reloaded / closed at the end '
          f'| {sum(s.reconnects for s in ledger.screens)} / {sum(s.reloads for s in ledger.screens)} '
          f'/ {ledger.dropped} |')
    print(f'| page loads that failed (and were retried) | {sum(s.failed_loads for s in ledger.screens)} |')
    if rows:
        first, last = rows[0], rows[-1]
        growth = last.rss_kib - first.rss_kib
        print(f'| RSS first / last minute MiB (growth) | {first.rss_kib / MIB:.0f} / {last.rss_kib / MIB:.0f} '
              f'({growth / MIB:+.1f} MiB, {growth / max(1, len(rows) - 1):+,.0f} KiB per minute) |')
        half = max(1, len(rows) // 2)
        early = [v for r in ledger.minutes[:half] for v in r.ingest_ms]
        late = [v for r in ledger.minutes[half:] for v in r.ingest_ms]
        print(f'| ingest p50 first / second half ms | {pct(early, .5):.0f} / {pct(late, .5):.0f} |')
        early_f = fanout([a for r in ledger.minutes[:half] for a in r.raised])[0]
        late_f = fanout([a for r in ledger.minutes[half:] for a in r.raised])[0]
        print(f'| fan-out p50 / p99 first half, second half ms | {pct(early_f, .5):.0f} / {pct(early_f, .99):.0f}, '
              f'{pct(late_f, .5):.0f} / {pct(late_f, .99):.0f} |')
    if expected > received:
        print()
        print('Missed deliveries (first 10): alert id, priority, ward, screen')
        shown = 0
        for alert in raised:
            for screen in alert.expected:
                if alert.view.id not in screen.arrivals and shown < 10:
                    shown += 1
                    state = 'closed by the server' if screen.tab is None or screen.tab.closed_by_server else 'open'
                    print(f'- {alert.view.id} {alert.view.priority.value} {alert.view.ward_name}: {screen.name} '
                          f'({state})')
    stamp = datetime.now().astimezone().isoformat(timespec='seconds')
    print()
    print(f'Fan-out: from the alert\'s created_at to the first frame carrying its row on each screen that must show '
          f'it. Finished {stamp}.')
