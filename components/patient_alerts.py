"""The patient page's open alerts: the dashboard's rows, acknowledged and resolved from here as from the Alert List.

The rows are components/alert_row.py's (one element each, one delegated click listener), so the buttons carry the
same markup as on the dashboard, the offline queue's included (components/offline_queue.py). Each action sends the
version the row shows: an alert that changed meanwhile is refused with the service's reason, shown in the row.
"""

import logging

from nicegui import ui
from nicegui.events import GenericEventArguments

from app.clock import Clock
from app.domain import AlertStatus
from app.domain.alerts import attention_key_of
from app.errors import DomainError, NotAllowed, NotFound
from app.schemas import AlertFilter, AlertView
from app.services.alerts import AlertService

from .alert_row import ACTIONS, CLICK_JS, AlertRow
from .headings import heading
from .session import StaffSession

log = logging.getLogger(__name__)


class PatientAlerts:
    """The open alerts of one patient in the page user's scope in the needs-attention order, to act on."""

    def __init__(self, service: AlertService, session: StaffSession, clock: Clock, patient_id: int) -> None:
        self._service = service
        self._session = session
        self._clock = clock
        self._patient_id = patient_id
        self._alerts: dict[int, AlertView] = {}
        self._rows: dict[int, AlertRow] = {}
        self._pending: dict[int, AlertStatus] = {}
        self._errors: dict[int, str] = {}
        with ui.element('section').classes('vigil-patient-alerts vigil-panel column gap-2') \
                .props('aria-label="Open alerts"').mark('patient-alerts'):
            heading('Open alerts', 2).classes('vigil-panel-title')
            self._empty = ui.label('No open alerts for this patient in your scope.').classes('text-grey-8')
            self._list = ui.element('div').classes('vigil-alerts w-full').props('role=list') \
                .mark('patient-alert-rows').on('click', self._clicked, js_handler=CLICK_JS)

    async def reload(self) -> None:
        """Load the patient's open alerts in the user's scope from the database."""
        alerts = await self._service.list_alerts(self._session.actor, AlertFilter(patient_id=self._patient_id))
        self._alerts = {a.id: a for a in alerts}
        self._errors = {i: e for i, e in self._errors.items() if i in self._alerts}
        self._sync()

    def receive(self, alert: AlertView) -> None:
        """Take an alert event's snapshot of this patient's alert (newer versions only; resolved ones go)."""
        held = self._alerts.get(alert.id)
        if held is not None and alert.version <= held.version:
            return
        if not alert.is_open or not self._session.scope.sees(alert):
            self._alerts.pop(alert.id, None)
        else:
            self._alerts[alert.id] = alert
        self._sync()

    def _sync(self) -> None:
        now = self._clock()
        for alert_id in [i for i in self._rows if i not in self._alerts]:
            self._rows.pop(alert_id).element.delete()
            self._pending.pop(alert_id, None)
        for index, alert in enumerate(sorted(self._alerts.values(), key=attention_key_of)):
            row = self._rows.get(alert.id)
            if row is None:
                with self._list:
                    row = self._rows[alert.id] = AlertRow(alert.id, self._session.channel.texts)
            row.show(alert, now, self._pending.get(alert.id), self._errors.get(alert.id))
            if self._list.default_slot.children[index] is not row.element:
                row.element.move(target_index=index)
        self._empty.set_visibility(not self._alerts)

    async def _clicked(self, event: GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        action, alert_id = args.get('action'), args.get('alert')
        target = ACTIONS.get(action) if isinstance(action, str) else None
        alert = self._alerts.get(alert_id) if isinstance(alert_id, int) else None
        if target is None or alert is None or alert.id in self._pending:
            return
        self._pending[alert.id] = target
        self._errors.pop(alert.id, None)
        self._sync()
        verb = 'acknowledged' if target is AlertStatus.ACKNOWLEDGED else 'resolved'
        try:
            actor = await self._session.acting()
            if target is AlertStatus.ACKNOWLEDGED:
                view = await self._service.acknowledge(actor, alert.id, expected_version=alert.version)
            else:
                view = await self._service.resolve(actor, alert.id, expected_version=alert.version)
        except DomainError as error:
            await self._refused(alert.id, f'Not {verb}: {error.message}')
            return
        except Exception:
            log.exception('could not act on alert %d from the patient page', alert.id)
            await self._refused(alert.id, f'Not {verb}: the server could not save it. Try again.')
            return
        self._pending.pop(alert.id, None)
        self.receive(view)

    async def _refused(self, alert_id: int, message: str) -> None:
        """Show why in the row and as a notification, then show the alert as it is now."""
        self._pending.pop(alert_id, None)
        self._errors[alert_id] = message
        ui.notify(message, type='warning', multi_line=True)
        try:
            current = await self._service.get(await self._session.acting(), alert_id)
        except (NotFound, NotAllowed):
            current = None
        except Exception:
            log.exception('could not reload alert %d', alert_id)
            self._sync()
            return
        if current is None:
            self._alerts.pop(alert_id, None)
        else:
            self._alerts[alert_id] = current
            if not current.is_open:
                self._alerts.pop(alert_id, None)
        self._sync()
