"""Metrics Overview: alert load and response times of the user's scope, plus who is online; throttled, shared.

Every page of one scope (hospital, role, wards) shows the same numbers, so the tiles are a block room
(block_rooms.py) per hospital and scope: the numbers are computed once per room and the tiles rendered once, then
sent to all its pages in one socket.io event; after an alert event at once if it has been quiet, otherwise at most
once per `min_interval` however many events and pages there are. A page holds one element and does no work per
alert: the hub tells the feed (alerts, presence, the slow tick, a resync), once per hospital.
"""

import asyncio
import logging
from dataclasses import dataclass

from nicegui import Client, background_tasks

from app.clock import system_clock
from app.domain import Priority
from app.domain.scope import AccessScope
from app.schemas import Actor, MetricsView
from app.services.metrics import MetricsService

from .block_rooms import BlockRoom, BlockRooms
from .live import LiveHub
from .live_rooms import RoomKey
from .session import StaffSession
from .theme import DASH, PRIORITY_LABELS

log = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 3.0
WAITING_LABEL = 'Waiting: critical, high or escalated, not acknowledged'
VIEW = 'metrics'


def scope_key(actor: Actor) -> AccessScope:
    """Return what makes two users' metrics the same: their access scope (equal scopes see the same alerts)."""
    return AccessScope.of(actor)


@dataclass
class _Numbers:
    """One room's numbers: whose scope they are computed for, the latest, and the throttled recomputation."""

    actor: Actor
    latest: MetricsView | None = None
    computed_at: float = float('-inf')
    dirty: bool = False
    task: asyncio.Task[None] | None = None


class MetricsFeed(BlockRooms):
    """The tiles' rooms: each scope's numbers computed at most once per `min_interval`, sent once to its pages."""

    what = 'metrics'

    def __init__(self, service: MetricsService, hub: LiveHub, *, min_interval: float = MIN_INTERVAL_SECONDS) -> None:
        super().__init__(system_clock)
        self._service = service
        self._hub = hub
        self._min_interval = min_interval
        self._numbers: dict[RoomKey, _Numbers] = {}

    @property
    def subscription_count(self) -> int:
        """Return how many pages show metrics (a leak shows here)."""
        return self.member_count

    async def enter(self, client: Client, session: StaffSession) -> BlockRoom:
        """Put a page into the tiles' room of its hospital and scope (a new room first computes its numbers).

        Call it once the page's user is among those online (the staff tile).
        """
        key = RoomKey(VIEW, session.hospital.id, scope_key(session.actor))
        numbers = self._numbers.get(key)
        if numbers is None:
            numbers = self._numbers[key] = _Numbers(session.actor)

        async def render() -> str:
            await self._current(numbers)
            return self._html(key.hospital_id, numbers)

        # NOTE: the staff tile counts this page's user with the hub's next presence flush, as the presence list does.
        return await self.enter_block(client, key, render)

    def leave(self, client: Client) -> None:
        room = self._room_of.get(client.id)
        super().leave(client)
        if room is not None and not room.members:
            self._numbers.pop(room.key, None)  # its last page is gone

    async def _current(self, numbers: _Numbers) -> MetricsView:
        """Return the scope's numbers: the held ones if fresh enough, else newly computed."""
        loop = asyncio.get_running_loop()
        if numbers.latest is not None and loop.time() - numbers.computed_at < self._min_interval:
            return numbers.latest
        view = await self._service.overview(numbers.actor)
        numbers.latest, numbers.computed_at = view, loop.time()
        return view

    def _html(self, hospital_id: int, numbers: _Numbers) -> str:
        return tiles_html(numbers.latest, len(self._hub.online(hospital_id))) if numbers.latest is not None else ''

    # --- what the hub tells (once per hospital, not per page) -------------------------------------------------------

    def alerts_changed(self, hospital_id: int) -> None:
        """Something changed in a hospital: recompute its rooms' numbers soon (once, however many events)."""
        for room in self.rooms_of(hospital_id):
            numbers = self._numbers.get(room.key)
            if numbers is None:
                continue
            numbers.dirty = True
            if numbers.task is None or numbers.task.done():
                numbers.task = background_tasks.create(self._recompute(room, numbers), name='vigil-metrics')

    def presence_changed(self, hospital_id: int) -> None:
        """Someone of the hospital came or went: the staff tile follows (the hub knows; no database work)."""
        for room in self.rooms_of(hospital_id):
            numbers = self._numbers.get(room.key)
            if numbers is not None and numbers.latest is not None:
                self.send(room, self._html(hospital_id, numbers))

    def tick(self) -> None:
        """"Last hour" and "last 24 h" slide even when nothing happens."""
        for hospital_id in {room.key.hospital_id for room in self.rooms_of()}:
            self.alerts_changed(hospital_id)

    def resync(self, hospital_id: int) -> None:
        """Events may have been missed: recompute."""
        self.alerts_changed(hospital_id)

    async def _recompute(self, room: BlockRoom, numbers: _Numbers) -> None:
        loop = asyncio.get_running_loop()
        while numbers.dirty:
            wait = numbers.computed_at + self._min_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            numbers.dirty = False
            try:
                view = await self._service.overview(numbers.actor)
            except Exception:
                log.exception('could not compute the metrics of %s', numbers.actor.name)
                return
            numbers.latest, numbers.computed_at = view, loop.time()
            self.send(room, self._html(room.key.hospital_id, numbers))


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


def tiles_html(view: MetricsView, staff_online: int) -> str:
    """Return the seven tiles of one scope's numbers (each tile's value tagged with its name: data-metric).

    NOTE: trusted HTML: the tiles show numbers and fixed words only.
    """
    split = ''.join(f'<span class="vigil-chip vigil-chip-{p.value}">{view.open_by_priority.get(p, 0)} '
                    f'{PRIORITY_LABELS[p].lower()}</span>' for p in Priority)
    tiles = [
        tile_html('open', str(view.open_total), 'Open alerts', f'<div class="vigil-metric-split">{split}</div>'),
        # NOTE: the same alerts as the count in the tab title and the alarm sound's scope (domain.alerts.is_waiting).
        tile_html('waiting', str(view.waiting), WAITING_LABEL, alarm=view.waiting > 0),
        tile_html('ack', duration_text(view.median_seconds_to_acknowledge), 'Median time to acknowledge (24 h)'),
        tile_html('resolve', duration_text(view.median_seconds_to_resolve), 'Median time to resolve (24 h)'),
        tile_html('hour', str(view.raised_last_hour), 'Alerts in the last hour'),
        tile_html('patients', str(view.patients_monitored), 'Patients monitored'),
        tile_html('staff', str(staff_online), 'Staff online now'),
    ]
    return f'<section class="vigil-metrics w-full" aria-label="Metrics">{"".join(tiles)}</section>'
