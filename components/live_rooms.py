"""Rooms: one rendering and one socket emit per alert event for all the open pages that may see the same.

A page that shows a hospital's alerts the same way as other pages with the same scope (every wall display of a
hospital, later every dashboard of one role and ward set) joins a room keyed by view, hospital and AccessScope. The
room holds the open alerts that scope sees, renders each changed row once in Python (escaping and the visual
language stay on the server) and sends one `vigil_room` event to its socket.io room: python-socketio serialises it
once for every socket in it. A small client-side store (room_store.js) upserts the rows, sorts them by the
attention key the server sent with each (domain.alerts.attention_key: the order is defined there only) and paints.

- Filtering stays on the server: an event reaches a room only if its scope sees the alert, and the room's sockets
  are the pages whose scope is exactly that one.
- Every room event carries the room's sequence number; a browser that sees a gap asks for the room's snapshot.
- A page's socket joins the room once connected; a socket that comes back (a new socket id) re-joins, the room
  reloads from the database (one query however many pages come back at once) and the page gets the snapshot.
- Each process keeps its own rooms, fed by its own bus subscription (LiveHub), and emits to its own sockets only.

A new kind of page joins with its own RoomView (row HTML, summary slots, row limit, how long resolved rows linger):
the dashboard's Alert List (alert_list.py) keys its room by its user's AccessScope and by whether the user may
snooze (equal scopes and roles share a room). Per-user choices (filters) are applied in the browser, with the
facets each row carries; per-user state (an action being saved, a refusal) is the page's own row HTML laid over the
room's, never in the room's rows: a page that holds such a row watches the room for changes of it.

NOTE: the hub (live.py) feeds every alert event here before the per-page callbacks; a bus resync reloads rooms.
"""

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape
from typing import Any, Generic, Protocol, TypeVar

from nicegui import Client, background_tasks, core

from app.clock import Clock
from app.domain.alerts import attention_key_of
from app.domain.scope import AccessScope
from app.schemas import AlertView

log = logging.getLogger(__name__)

EVENT = 'vigil_room'
Loader = Callable[[], Awaitable[list[AlertView]]]
# One row of a room: {'id', 'v' (version), 'key' (attention key), 'html' (the whole row element),
# 'f' (facets a page filters by in the browser: [ward id, priority, status])}.
Row = dict[str, Any]
# What a room shows beside its rows, per named slot of the page: {'text': ..., 'cls': ..., 'attrs': {...}}.
Slots = dict[str, dict[str, Any]]
# Told which alerts of its room changed (a page whose own row HTML for them must follow).
Watcher = Callable[[set[int]], None]

_TAGS = re.compile(r'<[^>]+>')


class RoomViewLike(Protocol):
    """What a page's store needs of a room's view (live_rooms.RoomView, card_rooms.CardsView)."""

    @property
    def limit(self) -> int | None: ...

    @property
    def empty_html(self) -> str: ...


class RoomView(Protocol):
    """How one kind of page shows a room: its rows (HTML, rendered once per room) and its summary slots."""

    name: str
    limit: int | None  # rows shown; the rest is for the summary to count
    empty_html: str  # shown when there is no row
    linger: timedelta | None  # how long a resolved row stays (greyed) before it goes; None: it goes at once

    def row_html(self, alert: AlertView, now: datetime) -> str:
        """Return the row element of one alert (every value from outside escaped; keeps data-alert="<id>")."""

    def slots(self, ordered: list[AlertView]) -> Slots:
        """Return the summary slots for these open alerts (in attention order)."""


def html_text(html: str) -> str:
    """Return the text an HTML fragment shows (what the simulated test user reads)."""
    return unescape(_TAGS.sub('', html))


@dataclass(frozen=True)
class RoomKey:
    view: str
    hospital_id: int
    scope: AccessScope


class RoomBase:
    """What every kind of room keeps: its name and key, the pages in it, its sequence number, and its reload from the
    database (one load at a time, shared by everyone who asks meanwhile)."""

    def __init__(self, name: str, key: RoomKey) -> None:
        self.name = name
        self.key = key
        self.seq = 0
        # A reload changed the room and its pages were not sent the snapshot yet (whoever sends it clears this).
        self.unsent = False
        self.members: set[str] = set()
        # Pages that lay their own HTML over some rows (client id -> callback): told when those rows change.
        self.watchers: dict[str, Watcher] = {}
        self._reload: asyncio.Task[bool] | None = None

    async def reload(self) -> bool:
        """Reload from the database (one load for all who ask meanwhile); tell if anything changed."""
        if self._reload is None or self._reload.done():
            # Kept in self._reload until the next one: several pages may wait for the same load.
            self._reload = asyncio.get_running_loop().create_task(self._run_reload(), name=f'vigil-reload-{self.name}')
        return await asyncio.shield(self._reload)

    async def settled(self) -> None:
        """Wait for a load in flight (a page that joins a room being loaded shows the loaded state)."""
        if self._reload is not None and not self._reload.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._reload)

    async def _run_reload(self) -> bool:
        raise NotImplementedError


class Room(RoomBase):
    """The open alerts one scope of one hospital sees, as one view renders them, and the pages showing them."""

    def __init__(self, name: str, key: RoomKey, view: RoomView, load: Loader, clock: Clock) -> None:
        super().__init__(name, key)
        self.view = view
        self._load = load
        self._clock = clock
        self.alerts: dict[int, AlertView] = {}
        self.rows: dict[int, Row] = {}
        self.slots: Slots = view.slots([])
        # While a reload runs: the versions events brought meanwhile (the reload must not undo them).
        self._arrived: dict[int, int] | None = None

    # --- state ---------------------------------------------------------------------------------------------------

    def ordered(self) -> list[AlertView]:
        return sorted(self.alerts.values(), key=attention_key_of)

    def shown(self) -> list[Row]:
        """Return the rows a page shows, in attention order."""
        ordered = self.ordered()
        if self.view.limit is not None:
            ordered = ordered[:self.view.limit]
        return [self.rows[a.id] for a in ordered]

    def apply(self, alert: AlertView) -> Row | int | None:
        """Apply an event's snapshot: return the new row, the id of a row gone, or None when nothing changed."""
        if self._arrived is not None:
            self._arrived[alert.id] = max(alert.version, self._arrived.get(alert.id, 0))
        held = self.alerts.get(alert.id)
        if held is not None and alert.version <= held.version:
            return None
        if self.key.scope.sees(alert) and (alert.is_open or (held is not None and self._lingers(alert))):
            self.alerts[alert.id] = alert
            row = self.rows[alert.id] = self._row(alert)
            return row
        if held is None:
            return None
        del self.alerts[alert.id]
        del self.rows[alert.id]
        return alert.id

    def _lingers(self, alert: AlertView) -> bool:
        """Tell whether a resolved alert stays shown (greyed) for now."""
        linger = self.view.linger
        return linger is not None and alert.resolved_at is not None and self._clock() - alert.resolved_at <= linger

    def prune(self) -> list[int]:
        """Remove the resolved rows that have lingered long enough; return their ids."""
        gone = [i for i, a in self.alerts.items() if not a.is_open and not self._lingers(a)]
        for alert_id in gone:
            del self.alerts[alert_id]
            del self.rows[alert_id]
        return gone

    def _row(self, alert: AlertView) -> Row:
        return {'id': alert.id, 'v': alert.version, 'key': list(attention_key_of(alert)),
                'html': self.view.row_html(alert, self._clock()),
                'f': [alert.ward_id, alert.priority.value, alert.status.value]}

    def notify(self, changed: set[int]) -> None:
        """Tell the pages watching this room that these alerts changed."""
        for client_id, watcher in list(self.watchers.items()):
            try:
                watcher(changed)
            except Exception:
                log.exception('page %s failed to follow a change of room %s', client_id, self.name)

    def _replace(self, alerts: list[AlertView], arrived: dict[int, int]) -> bool:
        before = {i: a.version for i, a in self.alerts.items()}
        fresh = {a.id: a for a in alerts if a.is_open and self.key.scope.sees(a)}
        for alert_id in list(self.alerts):
            # Gone from the database, unless an event newer than the query brought it meanwhile.
            if alert_id not in fresh and alert_id not in arrived:
                del self.alerts[alert_id]
                del self.rows[alert_id]
        for alert in fresh.values():
            if alert.version < arrived.get(alert.id, 0):
                continue  # an event newer than the query (maybe its resolution) was applied meanwhile
            held = self.alerts.get(alert.id)
            if held is None or alert.version >= held.version:
                self.alerts[alert.id] = alert
                self.rows[alert.id] = self._row(alert)
        return before != {i: a.version for i, a in self.alerts.items()}

    def summarise(self) -> None:
        self.slots = self.view.slots(self.ordered())

    def snapshot(self) -> dict[str, Any]:
        """Return the whole room as one event (what a page loads, or gets after a gap or a reconnect)."""
        return {'room': self.name, 'seq': self.seq, 'snapshot': True, 'rows': self.shown(), 'slots': self.slots}

    def texts(self) -> list[str]:
        """Return what a page of this room shows as text (rows, or the empty message, and the slots)."""
        shown = self.shown()
        texts = [html_text(r['html']) for r in shown] if shown else [html_text(self.view.empty_html)]
        return texts + [str(s['text']) for s in self.slots.values() if s.get('text')]

    # --- loading -------------------------------------------------------------------------------------------------

    async def _run_reload(self) -> bool:
        """Reload the open alerts (one query for all who ask meanwhile: RoomBase); tell if anything changed."""
        self._arrived = {}
        try:
            alerts = await self._load()
            changed = self._replace(alerts, self._arrived)
        finally:
            self._arrived = None
        self.summarise()
        self.unsent = self.unsent or changed
        if changed and self.watchers:
            self.notify(set(self.rows) | {a.id for a in alerts})
        return changed


class SharedRoom(Protocol):
    """What the registry of rooms needs of a room (alert rooms here, the patient cards' in card_rooms.py)."""

    name: str
    key: RoomKey
    members: set[str]
    watchers: dict[str, Watcher]
    seq: int
    unsent: bool

    def snapshot(self) -> dict[str, Any]:
        """Return the whole room as one event."""

    async def reload(self) -> bool:
        """Reload from the database (one load for all who ask meanwhile); tell if anything changed."""

    async def settled(self) -> None:
        """Wait for a load in flight."""


R = TypeVar('R', bound=SharedRoom)


class Rooms(Generic[R]):
    """Rooms of one kind in one process: pages join and leave them, their sockets enter and leave socket.io rooms."""

    what = 'open alerts'  # what a room loads (for the log)

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._rooms: dict[RoomKey, R] = {}
        self._room_of: dict[str, R] = {}  # client id -> room
        self._names = 0
        self._sending: asyncio.Task[None] | None = None  # the last event being sent (the next waits for it)

    @property
    def member_count(self) -> int:
        """Return how many pages are in a room (a leak shows here)."""
        return len(self._room_of)

    def rooms_of(self, hospital_id: int | None = None) -> list[R]:
        return [r for r in self._rooms.values() if hospital_id is None or r.key.hospital_id == hospital_id]

    async def _enter(self, client: Client, key: RoomKey, make: Callable[[str], R]) -> R:
        """Put a page into the room of this key; a new room (made by `make` from its name) first loads."""
        room = self._rooms.get(key)
        if room is None:
            self._names += 1
            room = self._rooms[key] = make(f'vigil-room-{key.view}-{key.hospital_id}-{self._names}')
            room.members.add(client.id)
            self._room_of[client.id] = room
            try:
                await room.reload()
            except Exception:
                # The page shows what it has; its connection indicator says more, the next reconnect reloads.
                log.exception('room %s could not load its %s', room.name, self.what)
        else:
            room.members.add(client.id)
            self._room_of[client.id] = room
            await room.settled()
        return room

    def leave(self, client: Client) -> None:
        """Take a page out of its room (the tab is gone, or the page no longer shows the room)."""
        room = self._room_of.pop(client.id, None)
        if room is None:
            return
        room.members.discard(client.id)
        room.watchers.pop(client.id, None)
        for sid in _sockets(client):
            background_tasks.create(core.sio.leave_room(sid, room.name), name='vigil-room-leave')
        if not room.members:
            self._rooms.pop(room.key, None)

    async def connected(self, client: Client, *, reload: bool) -> None:
        """Join the page's socket(s) to its room and send it the room's state (reloaded first after a reconnect)."""
        room = self._room_of.get(client.id)
        if room is None:
            return
        if reload:
            try:
                await self.refresh(room)
            except Exception:
                log.exception('room %s could not reload its %s', room.name, self.what)
        for sid in _sockets(client):
            await core.sio.enter_room(sid, room.name)
        await self.send_snapshot(client)

    async def send_snapshot(self, client: Client) -> None:
        """Send one page the whole state of its room (after it connected or saw a gap)."""
        room = self._room_of.get(client.id)
        if room is not None:
            for sid in _sockets(client):
                await core.sio.emit(EVENT, room.snapshot(), to=sid)

    async def refresh(self, room: R) -> None:
        """Reload a room from the database (sharing a load in flight); if it had missed something, every page follows.

        However many pages ask at once (a reconnect of many), the snapshot goes out once.
        """
        await room.reload()
        if room.unsent:
            await self.emit_snapshot(room)

    def send_in_order(self, room: R, payload: dict[str, Any]) -> None:
        """Send one event to every page of the room, after the events sent before it (the sequence number is taken)."""
        self._sending = background_tasks.create(self._emit(self._sending, room, payload), name='vigil-room-send')

    @staticmethod
    async def _emit(previous: 'asyncio.Task[None] | None', room: SharedRoom, payload: dict[str, Any]) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # in sequence order: a page that saw a gap would ask for a snapshot
        try:
            await core.sio.emit(EVENT, payload, room=room.name)
        except Exception:
            log.exception('room %s could not send an update', room.name)

    async def emit_snapshot(self, room: R) -> None:
        room.unsent = False
        room.seq += 1
        await core.sio.emit(EVENT, room.snapshot(), room=room.name)

    async def reload(self, hospital_id: int | None = None) -> None:
        """Reload every room (of one hospital, or all) from the database and send each its snapshot."""
        for room in self.rooms_of(hospital_id):
            try:
                await room.reload()
                await self.emit_snapshot(room)
            except Exception:
                log.exception('room %s could not reload its %s', room.name, self.what)


class LiveRooms(Rooms[Room]):
    """The alert rooms of one process: pages join and leave them; the hub hands them every alert event."""

    async def enter(self, client: Client, view: RoomView, hospital_id: int, scope: AccessScope,
                    load: Loader) -> Room:
        """Put a page into the room of its view, hospital and scope; a new room first loads from the database.

        Any member's loader serves the room: equal scopes see exactly the same alerts.
        """
        key = RoomKey(view.name, hospital_id, scope)
        return await self._enter(client, key, lambda name: Room(name, key, view, load, self._clock))

    async def on_alert(self, hospital_id: int, alert: AlertView) -> None:
        """Apply an alert event to every room of its hospital and send each room that changed one event."""
        for room in self.rooms_of(hospital_id):
            change = room.apply(alert)
            if change is None:
                continue
            if room.watchers:
                room.notify({alert.id})
            room.summarise()
            room.seq += 1
            payload: dict[str, Any] = {'room': room.name, 'seq': room.seq, 'slots': room.slots}
            if isinstance(change, int):
                payload['remove'] = [change]
            else:
                payload['upsert'] = [change]
            try:
                await core.sio.emit(EVENT, payload, room=room.name)
            except Exception:
                log.exception('room %s could not send alert %d', room.name, alert.id)

    async def prune(self) -> None:
        """Take the resolved rows that have lingered long enough off every room (on the shared slow tick)."""
        for room in self.rooms_of():
            gone = room.prune()
            if not gone:
                continue
            if room.watchers:
                room.notify(set(gone))
            room.summarise()
            room.seq += 1
            try:
                await core.sio.emit(EVENT, {'room': room.name, 'seq': room.seq, 'slots': room.slots, 'remove': gone},
                                    room=room.name)
            except Exception:
                log.exception('room %s could not send the rows that went', room.name)


def on_connect(client: Client, connected: Callable[[bool], Awaitable[None]]) -> None:
    """Call `connected(reconnect)` each time the page's socket connects; `reconnect` tells a socket that came back
    (events may have been missed meanwhile) from the page's first one."""
    lost = False

    def disconnected() -> None:
        nonlocal lost
        lost = True

    async def connect() -> None:
        nonlocal lost
        reconnect, lost = lost, False
        await connected(reconnect)

    # NOTE: on_disconnect fires on every socket drop, also one that reconnects; on_connect also on the first.
    client.on_disconnect(disconnected)
    client.on_connect(connect)


def _sockets(client: Client) -> Iterable[str]:
    """Return the socket ids of a page's live sockets (NiceGUI puts each into a socket.io room named after it)."""
    return [sid for sid, _ in core.sio.manager.get_participants('/', client.id)]
