"""The Alert List: open alerts of the user's scope in the needs-attention order, acted on optimistically.

Each row is one HTML element patched in place: a new alert costs each open page one new element, an acknowledgement
one changed element. See components/alert_row.py for the row itself.
"""

import bisect
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from app.clock import Clock
from app.domain import AlertStatus
from app.domain.alerts import AttentionKey, attention_key_of
from app.errors import DomainError, NotAllowed, NotFound
from app.schemas import AlertFilter, AlertView
from app.services.alerts import AlertService

from .alert_filters import FilterBar
from .alert_row import ACTIONS, CLICK_JS, SNOOZE, AlertRow, can_snooze
from .headings import heading
from .more_below import more_below_cue
from .offline_queue import QueuedOutcome
from .preferences import Preferences
from .session import StaffSession
from .snooze_dialog import SnoozeDialog

log = logging.getLogger(__name__)

# More rows than this per page cost every open page memory and time for alerts nobody scrolls to.
MAX_ROWS = 100
# A resolved alert stays visible (greyed, "Resolved by ...") this long, so nobody wonders where it went.
RESOLVED_LINGER = timedelta(seconds=60)
SortKey = AttentionKey


def sort_key(alert: AlertView) -> SortKey:
    """The needs-attention order (domain.alerts.attention_key); its last item, the id, identifies the row."""
    return attention_key_of(alert)


def patient_ids(*alerts: AlertView | None) -> set[int]:
    """Return the patients these alerts concern (ward alerts concern none)."""
    return {a.patient_id for a in alerts if a is not None and a.patient_id is not None}


class AlertList:
    """The open alerts of one page's user; `receive` takes event snapshots, `reload` the database's state."""

    def __init__(self, service: AlertService, session: StaffSession, clock: Clock, prefs: Preferences, *,
                 on_patient_alerts: Callable[[int], None], on_raise: Callable[[], Any]) -> None:
        self._service = service
        self._session = session
        self._clock = clock
        self._on_patient_alerts = on_patient_alerts
        self._alerts: dict[int, AlertView] = {}
        self._order: list[SortKey] = []
        self._keys: dict[int, SortKey] = {}
        self._rows: dict[int, AlertRow] = {}
        self._pending: dict[int, AlertStatus] = {}
        self._errors: dict[int, str] = {}
        self._loading = False
        self._buffer: list[AlertView] = []
        # The wards whose alerts may reach this person: nurses their own, everyone else any (by priority or
        # escalation).
        wards = session.scope.alert_wards(session.wards)

        with ui.element('section').classes('vigil-panel column gap-2').props('aria-label="Alerts"'):
            with ui.row().classes('w-full items-center gap-2'):
                heading('Alerts', 2).classes('vigil-panel-title')
                self._count = ui.label().classes('text-grey-8').mark('alert-count')
                ui.space()
                ui.button('Raise alert', icon='campaign', on_click=on_raise) \
                    .props('unelevated no-caps color=negative').classes('vigil-touch vigil-online-only') \
                    .mark('raise-alert')
            self._filter_bar = FilterBar(prefs, wards, on_change=lambda: self._rebuild(set()))
            self._empty = ui.label().classes('text-grey-7 q-pa-md text-center w-full').mark('alerts-empty')
            self._list = ui.element('div').classes('vigil-alerts w-full').props('role=list').mark('alert-rows') \
                .on('click', self._clicked, js_handler=CLICK_JS)
            more_below_cue()
        self._snooze = SnoozeDialog(service, session, latest=self._alerts.get, on_snoozed=self._snoozed)
        self._paint_summary()

    # --- state in, from events and from the database ----------------------------------------------------------

    def receive(self, alert: AlertView) -> None:
        """Take the snapshot an event carries (the caller checked the user's scope)."""
        if self._loading:
            self._buffer.append(alert)  # applied after the snapshot, if newer than it
        else:
            self._upsert(alert)

    async def reload(self) -> None:
        """Replace the state with the database's; events that arrive meanwhile are applied after it if newer."""
        self._loading, self._buffer = True, []
        try:
            snapshot = await self._service.list_alerts(self._session.actor, AlertFilter())
        except Exception:
            log.exception('could not load the alerts of %s', self._session.user.username)
            ui.notify('Could not load the alerts; they will reload when the connection is back.', type='negative')
            snapshot = None
        finally:
            buffered, self._loading, self._buffer = self._buffer, False, []
        changed: set[int] = set()
        patients: set[int] = set()
        if snapshot is not None:
            fresh = {a.id: a for a in snapshot}
            for alert_id in [i for i in self._alerts if i not in fresh]:
                changed.add(alert_id)  # resolved or gone from the scope while we were not looking
                patients |= patient_ids(self._forget(alert_id))
        for alert in [*(snapshot or ()), *buffered]:
            held = self._alerts.get(alert.id)
            if self._take(alert):
                changed.add(alert.id)
                patients |= patient_ids(alert, held)
        self._rebuild(changed)
        for patient_id in patients:
            self._on_patient_alerts(patient_id)

    def open_alerts_of(self, patient_id: int) -> list[AlertView]:
        """Return the open alerts of one patient in this user's scope, highest priority first (the card's colour)."""
        return sorted((a for a in self._alerts.values() if a.patient_id == patient_id and a.is_open),
                      key=lambda a: (a.priority.rank, sort_key(a)))

    def prune(self) -> None:
        """Remove resolved rows that have lingered long enough (called on the shared slow tick)."""
        now = self._clock()
        for alert in [a for a in self._alerts.values() if a.resolved_at and now - a.resolved_at > RESOLVED_LINGER]:
            self._drop(alert.id)

    def _take(self, alert: AlertView) -> bool:
        """Hold a snapshot if it is newer than the one held; tell whether it was."""
        held = self._alerts.get(alert.id)
        if held is not None and alert.version <= held.version:
            return False  # an older or the same snapshot
        if held is None and not alert.is_open:
            return False  # resolved before this page ever showed it
        self._alerts[alert.id] = alert
        return True

    def _forget(self, alert_id: int) -> AlertView | None:
        self._pending.pop(alert_id, None)
        self._errors.pop(alert_id, None)
        return self._alerts.pop(alert_id, None)

    def _upsert(self, alert: AlertView) -> None:
        held = self._alerts.get(alert.id)
        if self._take(alert):
            self._place(alert.id)
            self._patients_changed(held, alert)

    def _drop(self, alert_id: int) -> None:
        alert = self._forget(alert_id)
        self._place(alert_id)
        self._patients_changed(alert)

    def _patients_changed(self, *alerts: AlertView | None) -> None:
        for patient_id in patient_ids(*alerts):
            self._on_patient_alerts(patient_id)

    # --- rows -----------------------------------------------------------------------------------------------------

    def _place(self, alert_id: int) -> None:
        """Put one alert where it belongs in the sorted, filtered order and patch the rows to match."""
        old = self._keys.pop(alert_id, None)
        if old is not None:
            del self._order[bisect.bisect_left(self._order, old)]
        alert = self._alerts.get(alert_id)
        if alert is not None and self._filter_bar.filters.admits(alert):
            key = self._keys[alert_id] = sort_key(alert)
            bisect.insort(self._order, key)
        self._sync_rows(alert_id)
        self._paint_summary()

    def _rebuild(self, changed: set[int]) -> None:
        """Recompute the whole order (after a reload or a filter change) and patch the rows to match."""
        self._order = sorted(sort_key(a) for a in self._alerts.values() if self._filter_bar.filters.admits(a))
        self._keys = {key[-1]: key for key in self._order}
        self._sync_rows(changed)
        self._paint_summary()

    def _sync_rows(self, changed: set[int] | int | None = None) -> None:
        changed = {changed} if isinstance(changed, int) else set(changed or ())
        wanted = [key[-1] for key in self._order[:MAX_ROWS]]
        wanted_set = set(wanted)
        for alert_id in [i for i in self._rows if i not in wanted_set]:
            self._rows.pop(alert_id).element.delete()
        now = self._clock()
        children = self._list.default_slot.children
        for index, alert_id in enumerate(wanted):
            row = self._rows.get(alert_id)
            if row is None:
                with self._list:
                    row = self._rows[alert_id] = AlertRow(alert_id, self._session.channel.texts)
                changed.add(alert_id)
            if alert_id in changed:
                self._show(row, self._alerts[alert_id], now)
            if children[index] is not row.element:
                row.element.move(target_index=index)

    def _paint_summary(self) -> None:
        if self._loading:
            return
        total = sum(1 for a in self._alerts.values() if a.is_open)
        shown = sum(1 for key in self._order if self._alerts[key[-1]].is_open)
        count = f'{total} open' if shown == total else f'{shown} of {total} open shown'
        if len(self._order) > MAX_ROWS:
            count += f' · first {MAX_ROWS} listed'
        if self._count.text != count:
            self._count.set_text(count)
        if self._order:
            empty = ''
        elif total:
            empty = 'No alert matches the filters.'
        else:
            empty = 'No open alerts in your scope.'
        if self._empty.text != empty:
            self._empty.set_text(empty)
        self._empty.set_visibility(bool(empty))

    # --- optimistic actions ---------------------------------------------------------------------------------------

    async def _clicked(self, event: GenericEventArguments) -> None:
        """A row's button was pressed (the browser sends which one; anything else is ignored)."""
        args = event.args if isinstance(event.args, dict) else {}
        action, alert_id = args.get('action'), args.get('alert')
        if not isinstance(alert_id, int):
            return
        if action == SNOOZE:
            alert = self._alerts.get(alert_id)
            # Only for rows that show the button; the service checks the role again when the snooze is saved.
            if alert is not None and alert_id not in self._pending and can_snooze(self._session.user.role, alert):
                self._snooze.open(alert)
            return
        target = ACTIONS.get(action) if isinstance(action, str) else None
        if target is not None:
            await self._act(alert_id, target)

    def _snoozed(self, view: AlertView) -> None:
        self._upsert(view)
        self._refresh_row(view.id)
        # The row shows the time in the browser's time zone; the server's may differ, so this says how long.
        minutes = round((view.snoozed_until - self._clock()).total_seconds() / 60) if view.snoozed_until else 0
        ui.notify(f'Snoozed for {minutes} min: this condition raises no new alert meanwhile.', type='positive')

    async def _act(self, alert_id: int, target: AlertStatus) -> None:
        """Show the outcome at once, ask the service, and roll back with the service's reason if it refuses."""
        alert = self._alerts.get(alert_id)
        if alert is None or alert_id in self._pending:
            return
        self._pending[alert_id] = target
        self._errors.pop(alert_id, None)
        self._refresh_row(alert_id)
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
        self._pending.pop(alert_id, None)
        self._upsert(view)
        self._refresh_row(alert_id)

    def queued_outcome(self, outcome: QueuedOutcome) -> None:
        """Show on its row what became of an action queued while offline (a notification says it as well)."""
        if outcome.view is not None:
            self.receive(outcome.view)  # buffered if a reload is under way
        if outcome.applied:
            self._errors.pop(outcome.alert_id, None)
        else:
            self._errors[outcome.alert_id] = outcome.message
        self._refresh_row(outcome.alert_id)

    def _refused(self, alert_id: int, message: str) -> None:
        self._pending.pop(alert_id, None)
        self._errors[alert_id] = message
        self._refresh_row(alert_id)
        ui.notify(message, type='warning', multi_line=True)

    async def _refresh_alert(self, alert_id: int) -> None:
        """Load one alert's current state after a refusal (its event may still be on the way)."""
        try:
            actor = await self._session.acting()
        except NotAllowed:
            return  # the sign-in ended: the row keeps the reason, nothing more is shown
        try:
            self._upsert(await self._service.get(actor, alert_id))
        except (NotFound, NotAllowed):
            self._drop(alert_id)
        except Exception:
            log.exception('could not reload alert %d', alert_id)

    def _refresh_row(self, alert_id: int) -> None:
        row = self._rows.get(alert_id)
        alert = self._alerts.get(alert_id)
        if row is not None and alert is not None:
            self._show(row, alert, self._clock())

    def _show(self, row: AlertRow, alert: AlertView, now: datetime) -> None:
        row.show(alert, now, self._pending.get(alert.id), self._errors.get(alert.id),
                 snooze=can_snooze(self._session.user.role, alert))
