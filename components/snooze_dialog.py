"""Snoozing a detected alert: how long re-alerting of its condition pauses, and why (for the audit trail)."""

import logging
from collections.abc import Callable
from html import escape

from nicegui import context, ui

from app.errors import DomainError
from app.schemas import AlertView
from app.services.alerts import AlertService

from .session import StaffSession
from .theme import PRIORITY_LABELS

log = logging.getLogger(__name__)

# The choices staff get; the service accepts 5-240 minutes (app/services/alerts.py SNOOZE_MINUTES).
DURATIONS = {15: '15 min', 30: '30 min', 60: '1 h', 120: '2 h'}
DEFAULT_MINUTES = 30


class SnoozeDialog:
    """One dialog per page, built the first time someone opens it (most pages never do)."""

    def __init__(self, service: AlertService, session: StaffSession, *, latest: Callable[[int], AlertView | None],
                 on_snoozed: Callable[[AlertView], None]) -> None:
        self._service = service
        self._session = session
        self._latest = latest  # the newest snapshot the page holds: a change it has shown is no conflict
        self._on_snoozed = on_snoozed
        self._client = context.client
        self._dialog: ui.dialog | None = None
        self._alert: AlertView | None = None

    def open(self, alert: AlertView) -> None:
        """Open the dialog for one alert, with the default duration and an empty reason."""
        if self._dialog is None:
            self._build()
        assert self._dialog is not None
        self._alert = alert
        where = f'{alert.bed} {alert.patient_name}' if alert.patient_id else alert.ward_name
        self._about.set_content(f'<b>{escape(PRIORITY_LABELS[alert.priority])} · {escape(where)}</b><br>'
                                f'{escape(alert.message)}')
        self._minutes.set_value(DEFAULT_MINUTES)
        self._reason.set_value('')
        self._error.set_text('')
        self._submit.set_enabled(True)
        self._dialog.open()

    def _build(self) -> None:
        with self._client.content, ui.dialog().props('aria-label="Snooze an alert"').mark('snooze-dialog') \
                as self._dialog, ui.card().classes('w-[32rem] max-w-full gap-3'):
            ui.label('Snooze re-alerting').classes('text-h6')
            # NOTE: sanitize=False is safe here: open() escapes everything it puts in.
            self._about = ui.html('', sanitize=False).classes('text-body2')
            ui.label('While snoozed, this condition raises no new alert and no toast; the alert stays listed and '
                     'still escalates until someone acknowledges it. A worse NEWS2 level breaks through.') \
                .classes('text-caption text-grey-8')
            self._minutes = ui.toggle(DURATIONS, value=DEFAULT_MINUTES) \
                .props('no-caps spread unelevated toggle-color=primary').classes('w-full vigil-touch') \
                .mark('snooze-minutes')
            self._reason = ui.input('Reason (for the audit trail)',
                                    validation={'At most 500 characters': lambda v: len(v or '') <= 500}) \
                .props('outlined maxlength=500 autofocus').classes('w-full').mark('snooze-reason')
            self._error = ui.label().classes('text-negative').props('role=alert').mark('snooze-error')
            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=self._dialog.close).props('flat no-caps').classes('vigil-touch')
                self._submit = ui.button('Snooze', icon='snooze', on_click=self._snooze) \
                    .props('unelevated no-caps color=deep-purple-7').classes('vigil-touch').mark('snooze-submit')

    async def _snooze(self) -> None:
        alert = self._alert and (self._latest(self._alert.id) or self._alert)
        if alert is None:
            return
        reason = (self._reason.value or '').strip()
        if not reason:
            self._error.set_text('Say why (a few words), so that the next person knows.')
            return
        self._submit.set_enabled(False)
        try:
            view = await self._service.snooze(await self._session.acting(), alert.id, int(self._minutes.value),
                                              reason, expected_version=alert.version)
        except DomainError as error:
            self._error.set_text(error.message)
            return
        except Exception:
            log.exception('could not snooze alert %d', alert.id)
            self._error.set_text('The snooze could not be saved. Try again.')
            return
        finally:
            self._submit.set_enabled(True)
        assert self._dialog is not None
        self._dialog.close()
        self._on_snoozed(view)
