"""The tables bench.fanout prints: what one number of open dashboards measured, in the shape of bench.core's."""

import argparse
import math
import statistics
from dataclasses import dataclass, field

from bench.browser import Page


@dataclass
class Run:
    """What one N measured."""

    sessions: int
    page: Page | None = None
    patients_shown: int = 0
    patients_total: int = 0
    open_ms: list[float] = field(default_factory=list)
    from_post_ms: list[float] = field(default_factory=list)
    from_201_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    floor_post_ms: list[float] = field(default_factory=list)
    expected: int = 0
    dropped: int = 0
    failed_loads: int = 0
    rss_idle_kib: int = 0
    rss_open_kib: int = 0
    cpu_idle_share: float = 0.0
    cpu_alert_share: float = 0.0
    cpu_ms_per_alert_session: float = 0.0
    client_cpu_share: float = 0.0
    load_average: float = 0.0
    bare_ms: list[float] = field(default_factory=list)  # bare python-socketio to N sockets: the floor


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile (share 0.99 is p99) of the values, NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ms(values: list[float]) -> str:
    return ' / '.join(f'{percentile(values, q):.0f}' for q in (0.5, 0.99, 1.0))


def print_tables(runs: list[Run], args: argparse.Namespace, cores: tuple[int, int] | None, loop_name: str) -> None:
    """Print the latency table and the resources table, one row per number of open dashboards."""
    pinning = f'server on core {cores[0]}, load client on core {cores[1]}' if cores else 'not pinned'
    print(f'\nDashboard fan-out: {args.alerts} {args.priority} alerts per N through POST /api/v1/alerts, '
          f'users {", ".join(args.users)}; {pinning}; load client on {loop_name}.\n')
    print('| sessions | dashboard: patients shown / elements / HTML KiB | open tab p50 / p99 / max ms (failed loads) '
          '| delivered | from POST p50 / p99 / max ms | from 201 p50 / p99 / max ms '
          '| POST p50 ms: no page open / N open |')
    print('|---|---|---|---|---|---|---|')
    for r in runs:
        page = f'{r.patients_shown} of {r.patients_total} / {len(r.page.elements)} / {r.page.html_bytes / 1024:.0f}' \
            if r.page else '-'
        print(f'| {r.sessions} | {page} | {ms(r.open_ms)} ({r.failed_loads}) | {len(r.from_post_ms)} of {r.expected}'
              f'{f", {r.dropped} tabs dropped" if r.dropped else ""} | {ms(r.from_post_ms)} | {ms(r.from_201_ms)} '
              f'| {median(r.floor_post_ms):.1f} / {median(r.post_ms):.1f} |')
    if any(r.bare_ms for r in runs):
        print('\n| sessions | bare python-socketio p50 / p99 / max ms | Vigil dashboards from POST p50 / p99 / max ms '
              '| p99 vs floor |')
        print('|---|---|---|---|')
        for r in runs:
            ratio = percentile(r.from_post_ms, 0.99) / percentile(r.bare_ms, 0.99) if r.bare_ms else math.nan
            print(f'| {r.sessions} | {ms(r.bare_ms)} | {ms(r.from_post_ms)} | {ratio:.1f}x |')
    print('\n| sessions | server RSS idle MiB | RSS with N open MiB | KiB per session | server CPU, N open idle '
          '| server CPU while alerting | server CPU ms per alert: per session / all sessions | load client CPU '
          '| machine load average |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in runs:
        per_session = (r.rss_open_kib - r.rss_idle_kib) / r.sessions
        print(f'| {r.sessions} | {r.rss_idle_kib / 1024:.0f} | {r.rss_open_kib / 1024:.0f} | {per_session:.0f} '
              f'| {r.cpu_idle_share:.0%} | {r.cpu_alert_share:.0%} | {r.cpu_ms_per_alert_session:.2f} / '
              f'{r.cpu_ms_per_alert_session * r.sessions:.0f} | {r.client_cpu_share:.0%} | {r.load_average:.1f} |')
