"""The signals rooms: the alarm state and the toasts of every staff page, computed once per hospital and scope.

Every staff page (pages/frame.py) joins the signals room of its hospital and AccessScope. The room holds the open
alerts that scope sees; an alert event changes the room once, in Python: the compact alarm state (alarm.alarm_state)
when it changes, and the toast instruction (which alert to toast, with its text and look, which toasts to take
away). Both go in one `vigil_room` event to every page of the room (live_rooms.py: sequence numbers, a snapshot on a
gap or a reconnect, one reload from the database for all its pages on a resync). The browser (alarm.js) keeps the
state, plays the signals and shows the toasts itself; the per-user choices (sound, browser notifications) stay the
page's own (alarm.AlarmState).

The room also keeps the toasts a page that stayed open shows (`toasts`, with the evictions a page makes): not for the
browser, which keeps its own, but so that the server can tell what a page shows (PageToasts, read by the simulated
test user, which runs no JavaScript).

NOTE: the hub (live.py) feeds every alert event here; a bus resync reloads the rooms.
"""

import logging
from typing import Any

from nicegui import Client, core, ui

from app.domain import AlertStatus, Priority
from app.domain.scope import AccessScope
from app.events.models import AlertEventBase
from app.schemas import AlertView

from .alarm import alarm_state, state_signature
from .live_rooms import EVENT, Loader, RoomBase, RoomKey, Rooms, on_connect
from .toasts import MAX_TOASTS, TOASTED, Toast, toast_of

log = logging.getLogger(__name__)

VIEW = 'signals'
# The page's browser asks for its room's snapshot with this event after it saw a gap (alarm.js).
RESYNC_EVENT = 'vigil_signals_resync'


class SignalsRoom(RoomBase):
    """The open alerts one scope of one hospital sees, reduced to the alarm state and the toasts of its pages."""

    def __init__(self, name: str, key: RoomKey, load: Loader) -> None:
        super().__init__(name, key)  # no page lays anything over the room's signals: no watchers
        self._load = load
        self.alerts: dict[int, AlertView] = {}
        self.state: dict[str, Any] = alarm_state([])
        # The toasts of a page open since the room began (oldest first), each with the room's toast count when made.
        self.toasts: dict[int, tuple[int, Toast]] = {}
        self.toasted = 0
        self._arrived: dict[int, int] | None = None

    # --- state ---------------------------------------------------------------------------------------------------

    def apply(self, event: AlertEventBase) -> dict[str, Any] | None:
        """Apply an alert event; return what the room's pages must change (state, show, hide), or None."""
        alert = event.alert
        if self._arrived is not None:
            self._arrived[alert.id] = max(alert.version, self._arrived.get(alert.id, 0))
        change: dict[str, Any] = {}
        held = self.alerts.get(alert.id)
        if held is not None and alert.version < held.version:
            return None  # older than what the room holds (a reload read the newer state): shown already
        concerned = held is not None or alert.id in self.toasts
        if held is None or alert.version > held.version:
            if alert.is_open and self.key.scope.sees(alert):
                self.alerts[alert.id] = alert
                if held is None or state_signature(held) != state_signature(alert):
                    self._restate(change)
            elif held is not None:
                del self.alerts[alert.id]
                self._restate(change)
        # NOTE: the rules of the toasts, as they were for each page (toasts.py): the browser keeps its own copy.
        if alert.status is not AlertStatus.ACTIVE:
            self.toasts.pop(alert.id, None)
            if concerned:
                change['hide'] = [alert.id]
        elif isinstance(event, TOASTED) and self.key.scope.sees(alert):
            change['show'] = self._toast(toast_of(alert, event))
        return change or None

    def _restate(self, change: dict[str, Any]) -> None:
        state = alarm_state(self.alerts.values())
        if state != self.state:
            self.state = change['state'] = state

    def _toast(self, toast: Toast) -> Toast:
        """Add a toast to the room's own list, with a page's evictions: at most MAX_TOASTS, the oldest passing first."""
        self.toasts.pop(toast['id'], None)
        passing = [i for i, (_, t) in self.toasts.items() if not t['critical']]
        while len(self.toasts) >= MAX_TOASTS and passing:
            del self.toasts[passing.pop(0)]
        self.toasted += 1
        self.toasts[toast['id']] = (self.toasted, toast)
        return toast

    def waiting_critical(self) -> list[Toast]:
        """Return the toasts a page shows again after a load or a reconnect: the unacknowledged critical alerts'."""
        return [toast_of(a, None) for a in self.alerts.values()
                if a.status is AlertStatus.ACTIVE and a.priority is Priority.CRITICAL]

    def snapshot(self) -> dict[str, Any]:
        """Return the whole room as one event (what a page gets once connected, after a gap or a reconnect)."""
        active = [a.id for a in self.alerts.values() if a.status is AlertStatus.ACTIVE]
        return {'room': self.name, 'seq': self.seq, 'snapshot': True, 'state': self.state, 'active': active,
                'critical': self.waiting_critical()}

    # --- loading -------------------------------------------------------------------------------------------------

    async def _run_reload(self) -> bool:
        """Reload the open alerts (one query for all who ask meanwhile: RoomBase); tell if anything changed."""
        self._arrived = {}
        try:
            alerts = await self._load()
            arrived = self._arrived
        finally:
            self._arrived = None
        before = {i: a.version for i, a in self.alerts.items()}
        fresh = {a.id: a for a in alerts if a.is_open and self.key.scope.sees(a)}
        for alert_id in list(self.alerts):
            if alert_id not in fresh and alert_id not in arrived:  # gone, unless an event newer than the query came
                del self.alerts[alert_id]
        for alert in fresh.values():
            held = self.alerts.get(alert.id)
            if alert.version >= arrived.get(alert.id, 0) and (held is None or alert.version >= held.version):
                self.alerts[alert.id] = alert
        # A page that stayed open keeps the toasts of alerts still waiting and shows every waiting critical one.
        for alert_id in [i for i in self.toasts if self._answered(i)]:
            del self.toasts[alert_id]
        for toast in self.waiting_critical():
            if toast['id'] not in self.toasts:
                self._toast(toast)
        self.state = alarm_state(self.alerts.values())
        changed = before != {i: a.version for i, a in self.alerts.items()}
        self.unsent = self.unsent or changed
        return changed

    def _answered(self, alert_id: int) -> bool:
        alert = self.alerts.get(alert_id)
        return alert is None or alert.status is not AlertStatus.ACTIVE


class PageToasts:
    """What one page's browser shows of its room's toasts (the simulated test user reads this; no JavaScript runs).

    A page shows the toasts made since it joined and, from its start, the waiting critical alerts (the snapshot).
    """

    def __init__(self, room: SignalsRoom) -> None:
        self.room = room
        self._joined = room.toasted

    def shown(self) -> list[Toast]:
        """Return the toasts this page shows, oldest first."""
        room = self.room
        return [toast if made > self._joined else toast_of(room.alerts[alert_id], None)
                for alert_id, (made, toast) in room.toasts.items()
                if made > self._joined or (toast['critical'] and alert_id in room.alerts)]

    def texts(self) -> list[str]:
        return [t['options']['message'] for t in self.shown()]


class SignalRooms(Rooms[SignalsRoom]):
    """The signals rooms of one process: every staff page joins one; the hub hands them every alert event."""

    async def enter(self, client: Client, hospital_id: int, scope: AccessScope, load: Loader) -> SignalsRoom:
        """Put a page into the signals room of its hospital and scope; a new room first loads from the database.

        Any member's loader serves the room: equal scopes see exactly the same alerts.
        """
        key = RoomKey(VIEW, hospital_id, scope)
        return await self._enter(client, key, lambda name: SignalsRoom(name, key, load))

    async def on_alert(self, event: AlertEventBase) -> None:
        """Apply an alert event to every signals room of its hospital; send each room that changed one event."""
        for room in self.rooms_of(event.hospital_id):
            try:
                change = room.apply(event)
            except Exception:  # one room's failure must not keep the event from the others
                log.exception('room %s could not apply alert %d', room.name, event.alert.id)
                continue
            if change is None:
                continue
            room.seq += 1
            try:
                await core.sio.emit(EVENT, {'room': room.name, 'seq': room.seq, **change}, room=room.name)
            except Exception:
                log.exception('room %s could not send alert %d', room.name, event.alert.id)


def follow(rooms: SignalRooms, client: Client) -> None:
    """Join this page's socket to its signals room once connected (re-joined and reloaded after a reconnect), send
    it the snapshot when its browser saw a gap, and take it out when the tab is gone."""

    async def connected(reconnect: bool) -> None:
        await rooms.connected(client, reload=reconnect)  # nothing once the page left its room

    async def resync() -> None:
        await rooms.send_snapshot(client)

    on_connect(client, connected)
    client.on_delete(lambda: rooms.leave(client))
    with client.layout:
        ui.on(RESYNC_EVENT, resync)
