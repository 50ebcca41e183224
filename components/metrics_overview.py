"""Metrics Overview: alert load and response times of the user's scope, plus who is online; throttled, shared.

Every page of one scope (hospital, role, wards) shows the same numbers, so the MetricsFeed computes them once
per scope and hands the result to all those pages: after an alert event at once if it has been quiet, otherwise
at most once per `min_interval` however many events and pages there are.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from nicegui import Event, background_tasks

from app.domain import Priority
from app.domain.scope import AccessScope
from app.schemas import Actor, MetricsView
from app.services.metrics import MetricsService

from .live import LiveHub
from .morph_html import MorphHtml
from .session import StaffSession
from .theme import DASH, PRIORITY_LABELS

log = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 3.0
WAITING_LABEL = 'Waiting: critical, high or escalated, not acknowledged'


def scope_key(actor: Actor) -> AccessScope:
    """Return what makes two users' metrics the same: their access scope (equal scopes see the same alerts)."""
    return AccessScope.of(actor)


@dataclass
class _Scope:
    actor: Actor
    updated: Event[MetricsView] = field(default_factory=Event)
    latest: MetricsView | None = None
    computed_at: float = float('-inf')
    dirty: bool = False
    task: asyncio.Task[None] | None = None


class MetricsFeed:
    """Computes each scope's metrics at most once per `min_interval` and shares them among its pages."""

    def __init__(self, service: MetricsService, *, min_interval: float = MIN_INTERVAL_SECONDS) -> None:
        self._service = service
        self._min_interval = min_interval
        self._scopes: dict[AccessScope, _Scope] = {}

    @property
    def subscription_count(self) -> int:
        """Return how many pages listen for metrics (a leak shows here)."""
        return sum(len(s.updated.callbacks) for s in self._scopes.values())

    def updates(self, actor: Actor) -> Event[MetricsView]:
        """Return the event a page of this actor subscribes to for new numbers."""
        key = scope_key(actor)
        scope = self._scopes.get(key)
        if scope is None:
            scope = self._scopes[key] = _Scope(actor)
        return scope.updated

    async def current(self, actor: Actor) -> MetricsView:
        """Return the scope's numbers: the shared ones if fresh enough, else newly computed."""
        scope = self._scopes.get(scope_key(actor)) or _Scope(actor)
        loop = asyncio.get_running_loop()
        if scope.latest is not None and loop.time() - scope.computed_at < self._min_interval:
            return scope.latest
        view = await self._service.overview(actor)
        scope.latest, scope.computed_at = view, loop.time()
        return view

    def invalidate(self, hospital_id: int) -> None:
        """Something changed in a hospital: recompute its scopes soon (once, however many pages call this)."""
        for key, scope in list(self._scopes.items()):
            if key.hospital_id != hospital_id:
                continue
            if not scope.updated.callbacks:
                del self._scopes[key]  # its last page is gone
                continue
            scope.dirty = True
            if scope.task is None or scope.task.done():
                scope.task = background_tasks.create(self._recompute(scope), name='vigil-metrics')

    async def _recompute(self, scope: _Scope) -> None:
        loop = asyncio.get_running_loop()
        while scope.dirty:
            wait = scope.computed_at + self._min_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            scope.dirty = False
            try:
                view = await self._service.overview(scope.actor)
            except Exception:
                log.exception('could not compute the metrics of %s', scope.actor.name)
                return
            scope.latest, scope.computed_at = view, loop.time()
            scope.updated.emit(view)


def duration_text(seconds: float | None) -> str:
    """Return a response time the way staff say it ("45 s", "3 min 20 s", "2 h 5 min"), or a dash."""
    if seconds is None:
        return DASH
    seconds = round(seconds)
    if seconds < 60:
        return f'{seconds} s'
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f'{minutes} min {rest} s' if rest and minutes < 10 else f'{minutes} min'
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes} min' if minutes else f'{hours} h'


TILES = ('open', 'waiting', 'ack', 'resolve', 'hour', 'patients', 'staff')


def tile_html(name: str, value: str, label: str, extra: str = '', *, alarm: bool = False) -> str:
    """Return one tile: its value (tagged with the tile's name, data-metric), its words, any extra line."""
    css = f'vigil-metric vigil-metric-{name}' + (' vigil-metric-alarm' if alarm else '')
    return (f'<div class="{css}"><div class="vigil-metric-value" data-metric="{name}">{value}</div>'
            f'<div class="vigil-metric-label">{label}</div>{extra}</div>')


class MetricsOverview:
    """Seven tiles in one HTML element, patched in place (only the nodes of a changed number change)."""

    def __init__(self, feed: MetricsFeed, hub: LiveHub, session: StaffSession) -> None:
        self._feed = feed
        self._hub = hub
        self._session = session
        self._tiles = dict.fromkeys(TILES, '')  # what each tile shows (tests find a tile by its data-metric)
        # One element rather than a section and seven (each costs the server ~4 KB per open page); each tile's
        # marker stays on it.
        # NOTE: the element is trusted HTML: tiles show numbers and fixed words only.
        self.element = MorphHtml(tag='section').classes('vigil-metrics w-full') \
            .props('aria-label="Metrics"').mark(' '.join(['metrics', *(f'metric-{name}' for name in TILES)]))
        self.staff_changed()

    def subscribe(self) -> None:
        """Listen for new numbers of this page's scope (dropped with the page)."""
        self._feed.updates(self._session.actor).subscribe(self.show)

    async def load(self) -> None:
        """Show the scope's current numbers."""
        self.show(await self._feed.current(self._session.actor))

    def alerts_changed(self) -> None:
        """An alert of the hospital changed: the shared numbers will be recomputed soon."""
        self._feed.invalidate(self._session.hospital.id)

    def show(self, view: MetricsView) -> None:
        """Show a set of numbers."""
        split = ''.join(f'<span class="vigil-chip vigil-chip-{p.value}">{view.open_by_priority.get(p, 0)} '
                        f'{PRIORITY_LABELS[p].lower()}</span>' for p in Priority)
        tiles = self._tiles
        tiles['open'] = tile_html('open', str(view.open_total), 'Open alerts',
                                  f'<div class="vigil-metric-split">{split}</div>')
        # NOTE: the same alerts as the count in the tab title and the alarm sound's scope (domain.alerts.is_waiting).
        tiles['waiting'] = tile_html('waiting', str(view.waiting), WAITING_LABEL, alarm=view.waiting > 0)
        tiles['ack'] = tile_html('ack', duration_text(view.median_seconds_to_acknowledge),
                                 'Median time to acknowledge (24 h)')
        tiles['resolve'] = tile_html('resolve', duration_text(view.median_seconds_to_resolve),
                                     'Median time to resolve (24 h)')
        tiles['hour'] = tile_html('hour', str(view.raised_last_hour), 'Alerts in the last hour')
        tiles['patients'] = tile_html('patients', str(view.patients_monitored), 'Patients monitored')
        self._paint()

    def staff_changed(self) -> None:
        """Show how many people of the hospital are online (the hub knows; no database work)."""
        self._tiles['staff'] = tile_html('staff', str(len(self._hub.online(self._session.hospital.id))),
                                         'Staff online now')
        self._paint()

    def _paint(self) -> None:
        html = ''.join(self._tiles.values())
        if html != self.element.content:
            self.element.set_content(html)
