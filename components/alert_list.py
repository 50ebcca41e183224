"""The Alert List: open alerts of the user's scope in the needs-attention order, acted on optimistically.

The rows live in a room (components/live_rooms.py) shared by every open dashboard of the same hospital, scope and
role: each row is rendered once per room and sent to all of them in one socket emit; the browser's store
(room_store.js) keeps, sorts, filters and counts them and patches changed rows in place. What is this page's own
stays on this page: the user's filters (applied in the browser, to the facets each row carries) and the rows of
actions being saved or refused (the page's own HTML laid over the room's rows). See components/alert_row.py for
the row itself.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nicegui import background_tasks, ui
from nicegui.events import GenericEventArguments

from app.clock import Clock
from app.domain import AlertStatus, Role
from app.domain.alerts import AttentionKey, attention_key_of
from app.errors import DomainError, NotAllowed, NotFound
from app.schemas import AlertView
from app.services.alerts import AlertService

from .alert_filters import FilterBar
from .alert_row import ACTIONS, CLICK_JS, SNOOZE, can_snooze, may_snooze, row_element, snoozable
from .live_rooms import LiveRooms, Room, Slots
from .more_below import more_below_cue
from .offline_queue import QueuedOutcome
from .preferences import Preferences
from .room_store import PanelTitle, RoomSlot, RoomStore
from .session import StaffSession
from .snooze_dialog import SnoozeDialog

log = logging.getLogger(__name__)

# More rows than this per page cost every open page memory and time for alerts nobody scrolls to.
MAX_ROWS = 100
# A resolved alert stays visible (greyed, "Resolved by ...") this long, so nobody wonders where it went.
RESOLVED_LINGER = timedelta(seconds=60)
SortKey = AttentionKey
NONE_OPEN = 'No open alerts in your scope.'
NONE_MATCH = 'No alert matches the filters.'


def sort_key(alert: AlertView) -> SortKey:
    """The needs-attention order (domain.alerts.attention_key); its last item, the id, identifies the row."""
    return attention_key_of(alert)


class AlertsView:
    """How a room of dashboards shows its alerts: the Alert List's rows, with Snooze for the roles that may."""

    limit: int | None = None  # every row goes to the browser, which shows the first MAX_ROWS its filters admit
    empty_html = ''  # the page says it beside the list (alerts-empty), in words that depend on its filters
    linger: timedelta | None = RESOLVED_LINGER

    def __init__(self, *, snooze: bool) -> None:
        self.snooze = snooze
        self.name = 'alerts-snooze' if snooze else 'alerts'

    def row_html(self, alert: AlertView, now: datetime) -> str:
        return row_element(alert, now, snooze=self.snooze and snoozable(alert))

    def slots(self, ordered: list[AlertView]) -> Slots:
        return {}


# The Snooze button depends on the role, not only on the scope: the room is keyed by it too.
ALERTS_VIEWS = {True: AlertsView(snooze=True), False: AlertsView(snooze=False)}


def alerts_view(role: Role) -> AlertsView:
    """Return the view of the Alert List for someone of this role."""
    return ALERTS_VIEWS[may_snooze(role)]


def summary(alerts: list[AlertView], admitted: list[AlertView]) -> tuple[str, str]:
    """Return the count line and the empty message of a list holding `alerts` whose filters admit `admitted`.

    NOTE: room_store.js (count) says the same in the browser; this copy tells what the page shows.
    """
    total = sum(1 for a in alerts if a.is_open)
    shown = sum(1 for a in admitted if a.is_open)
    count = f'{total} open' if shown == total else f'{shown} of {total} open shown'
    if len(admitted) > MAX_ROWS:
        count += f' · first {MAX_ROWS} listed'
    empty = '' if admitted else NONE_MATCH if total else NONE_OPEN
    return count, empty


class AlertList:
    """The Alert List of one page: the room's rows as this user filters them, and this user's actions on them."""

    def __init__(self, service: AlertService, session: StaffSession, clock: Clock, prefs: Preferences,
                 rooms: LiveRooms, room: Room, *, on_raise: Callable[[], Any]) -> None:
        self._service = service
        self._session = session
        self._clock = clock
        self._rooms = rooms
        self._room = room
        # This page's own state, never in the room's rows: actions being saved, and refusals.
        self._pending: dict[int, AlertStatus] = {}
        self._errors: dict[int, str] = {}
        self._overrides: dict[int, str] = {}
        # The wards whose alerts may reach this person: nurses their own, everyone else any (by priority or
        # escalation).
        wards = session.scope.alert_wards(session.wards)

        # The title line's two parts (the title with its count, the button) are the panel's first children, every
        # later one a line of its own (.vigil-alerts-panel): no row element, no ui.space (each element costs every
        # open page memory).
        self.element = ui.element('section').classes('vigil-panel vigil-alerts-panel row items-center gap-2') \
            .props('aria-label="Alerts"')
        with self.element:
            PanelTitle('Alerts', 'alerts-count', lambda: self.summary()[0]).mark('alert-count')
            ui.button('Raise alert', icon='campaign', on_click=on_raise) \
                .props('unelevated no-caps color=negative').classes('vigil-touch vigil-online-only ml-auto') \
                .mark('raise-alert')
            self._filter_bar = FilterBar(prefs, wards, on_change=self._filters_changed)
            RoomSlot('alerts-empty', lambda: self.summary()[1]) \
                .classes('text-grey-7 q-pa-md text-center w-full').mark('alerts-empty')
            self._store = RoomStore(rooms, room, slot_prefix='alerts-', limit=MAX_ROWS, morph=True,
                                    summary={'none': NONE_OPEN, 'filtered': NONE_MATCH}, page=self) \
                .classes('vigil-alerts w-full').props('role=list').mark('alert-rows') \
                .on('click', self._clicked, js_handler=CLICK_JS)
            self._store.props['filter'] = self._filter_bar.filters.dump()
            more_below_cue()
        self._snooze = SnoozeDialog(service, session, latest=room.alerts.get, on_snoozed=self._snoozed)

    # --- what the page shows (the browser computes the same from the room's rows) ----------------------------------

    def _admitted(self) -> tuple[list[AlertView], list[AlertView]]:
        alerts = self._room.ordered()
        filters = self._filter_bar.filters
        return alerts, [a for a in alerts if filters.admits(a)]

    def summary(self) -> tuple[str, str]:
        """Return the count line and the empty message the page shows."""
        return summary(*self._admitted())

    def shown(self) -> list[int]:
        """Return the ids of the rows the page shows, in order."""
        return [a.id for a in self._admitted()[1][:MAX_ROWS]]

    def row_html(self, alert_id: int) -> str | None:
        """Return the HTML of one row as this page shows it (its own state laid over the room's), None if not shown."""
        if alert_id not in self.shown():
            return None
        return self._overrides.get(alert_id) or self._room.rows[alert_id]['html']

    def _filters_changed(self) -> None:
        self._store.show_filter(self._filter_bar.filters.dump())

    async def reload(self) -> None:
        """Reload the room from the database (one query for all its pages that ask meanwhile); pages follow."""
        try:
            await self._rooms.refresh(self._room)
        except Exception:
            log.exception('could not load the alerts of %s', self._session.user.username)
            ui.notify('Could not load the alerts; they will reload when the connection is back.', type='negative')
        self._paint()

    async def _apply(self, view: AlertView) -> None:
        """Show a state the service returned at once, to everyone of the room (its event brings the same version)."""
        await self._rooms.on_alert(self._session.hospital.id, view)

    # --- this page's own rows --------------------------------------------------------------------------------------

    def _paint(self) -> None:
        """Lay this page's own HTML over the rows with an action being saved or refused; follow the room's changes."""
        for alert_id in [i for i in {*self._pending, *self._errors} if i not in self._room.alerts]:
            self._pending.pop(alert_id, None)  # gone from the room (resolved and pruned, or out of scope)
            self._errors.pop(alert_id, None)
        now = self._clock()
        role = self._session.user.role
        overrides = {}
        for alert_id in {*self._pending, *self._errors}:
            alert = self._room.alerts[alert_id]
            overrides[alert_id] = row_element(alert, now, self._pending.get(alert_id), self._errors.get(alert_id),
                                              snooze=can_snooze(role, alert))
        if overrides != self._overrides:
            self._overrides = overrides
            self._store.show_overrides(overrides)
        client_id = self._store.client.id
        if overrides:
            self._room.watchers[client_id] = self._room_changed
        else:
            self._room.watchers.pop(client_id, None)

    def _room_changed(self, changed: set[int]) -> None:
        if changed & self._overrides.keys():
            self._paint()

    # --- optimistic actions ---------------------------------------------------------------------------------------

    async def _clicked(self, event: GenericEventArguments) -> None:
        """A row's button was pressed (the browser sends which one; anything else is ignored)."""
        args = event.args if isinstance(event.args, dict) else {}
        action, alert_id = args.get('action'), args.get('alert')
        if not isinstance(alert_id, int):
            return
        if action == SNOOZE:
            alert = self._room.alerts.get(alert_id)
            # Only for rows that show the button; the service checks the role again when the snooze is saved.
            if alert is not None and alert_id not in self._pending and can_snooze(self._session.user.role, alert):
                self._snooze.open(alert)
            return
        target = ACTIONS.get(action) if isinstance(action, str) else None
        if target is not None:
            await self._act(alert_id, target)

    def _snoozed(self, view: AlertView) -> None:
        background_tasks.create(self._apply(view), name='vigil-snoozed')
        # The row shows the time in the browser's time zone; the server's may differ, so this says how long.
        minutes = round((view.snoozed_until - self._clock()).total_seconds() / 60) if view.snoozed_until else 0
        ui.notify(f'Snoozed for {minutes} min: this condition raises no new alert meanwhile.', type='positive')

    async def _act(self, alert_id: int, target: AlertStatus) -> None:
        """Show the outcome at once, ask the service, and roll back with the service's reason if it refuses."""
        alert = self._room.alerts.get(alert_id)
        if alert is None or alert_id in self._pending:
            return
        self._pending[alert_id] = target
        self._errors.pop(alert_id, None)
        self._paint()
        verb = 'acknowledged' if target is AlertStatus.ACKNOWLEDGED else 'resolved'
        try:
            actor = await self._session.acting()
            if target is AlertStatus.ACKNOWLEDGED:
                view = await self._service.acknowledge(actor, alert_id, expected_version=alert.version)
            else:
                view = await self._service.resolve(actor, alert_id, expected_version=alert.version)
        except DomainError as error:
            self._refused(alert_id, f'Not {verb}: {error.message}')
            await self._refresh_alert(alert_id)
            return
        except Exception:
            log.exception('could not %s alert %d', 'acknowledge' if target is AlertStatus.ACKNOWLEDGED else 'resolve',
                          alert_id)
            self._refused(alert_id, f'Not {verb}: the server could not save it. Try again.')
            return
        await self._apply(view)
        self._pending.pop(alert_id, None)
        self._paint()

    def queued_outcome(self, outcome: QueuedOutcome) -> None:
        """Show on its row what became of an action queued while offline (a notification says it as well)."""
        if outcome.applied:
            self._errors.pop(outcome.alert_id, None)
        else:
            self._errors[outcome.alert_id] = outcome.message
        view = outcome.view
        if view is None:
            self._paint()
            return

        async def apply() -> None:
            await self._apply(view)
            self._paint()

        background_tasks.create(apply(), name='vigil-queued-outcome')

    def _refused(self, alert_id: int, message: str) -> None:
        self._pending.pop(alert_id, None)
        self._errors[alert_id] = message
        self._paint()
        ui.notify(message, type='warning', multi_line=True)

    async def _refresh_alert(self, alert_id: int) -> None:
        """Load one alert's current state after a refusal (its event may still be on the way)."""
        try:
            actor = await self._session.acting()
        except NotAllowed:
            return  # the sign-in ended: the row keeps the reason, nothing more is shown
        try:
            await self._apply(await self._service.get(actor, alert_id))
        except (NotFound, NotAllowed):
            self._errors.pop(alert_id, None)  # no longer this user's to see: the room's events take it away
        except Exception:
            log.exception('could not reload alert %d', alert_id)
        self._paint()
