"""Raising an alert by hand: for a patient or a ward, with one-tap presets for the common calls."""

import logging

from nicegui import context, ui
from pydantic import ValidationError

from app.domain import Priority
from app.errors import DomainError
from app.schemas import NewAlert, PatientView
from app.services.alerts import AlertService
from app.services.patients import PatientService

from .session import StaffSession
from .theme import PRIORITY_LABELS

log = logging.getLogger(__name__)

# (message, priority, icon): one tap raises the alert for the chosen patient or ward.
PRESETS = (
    ('Assistance needed', Priority.MEDIUM, 'front_hand'),
    ('Patient fall', Priority.HIGH, 'personal_injury'),
    ('Code Blue', Priority.CRITICAL, 'emergency'),
)
PRESET_COLOURS = {Priority.MEDIUM: 'amber-8', Priority.HIGH: 'deep-orange-9', Priority.CRITICAL: 'red-9'}


class RaiseAlertDialog:
    """One dialog per page, built the first time someone opens it (most pages never do)."""

    def __init__(self, alerts: AlertService, patients: PatientService, session: StaffSession) -> None:
        self._alerts = alerts
        self._patients = patients
        self._session = session
        self._client = context.client
        self._dialog: ui.dialog | None = None

    async def open(self, patient: PatientView | None = None) -> None:
        """Open the dialog, for a given patient or for the user to choose one (or a ward)."""
        if self._dialog is None:
            self._build()
        try:
            patients = await self._patients.list_patients(self._session.actor)
        except Exception:
            log.exception('could not list patients for the raise-alert dialog')
            patients = [patient] if patient else []
        self._patient.set_options({p.id: f'{p.bed} · {p.name} ({p.ward_name})' for p in patients})
        own = [w.id for w in self._session.visible_wards] or [w.id for w in self._session.wards]
        self._ward.set_value(patient.ward_id if patient else (own[0] if own else None))
        self._patient.set_value(patient.id if patient else None)
        self._target.set_value('patient' if patient or patients else 'ward')
        self._message.set_value('')
        self._error.set_text('')
        self._set_busy(False)
        assert self._dialog is not None
        self._dialog.open()

    def _build(self) -> None:
        with self._client.content, ui.dialog().mark('raise-dialog') as self._dialog, \
                ui.card().classes('w-[36rem] max-w-full gap-3').props('aria-label="Raise an alert"'):
            ui.label('Raise an alert').classes('text-h6')
            self._target = ui.toggle({'patient': 'For a patient', 'ward': 'For a ward'}, value='patient') \
                .props('no-caps spread unelevated toggle-color=primary').classes('w-full vigil-touch') \
                .mark('raise-target')
            self._patient = ui.select({}, label='Patient', with_input=True) \
                .props('outlined options-dense').classes('w-full').mark('raise-patient') \
                .bind_visibility_from(self._target, 'value', value='patient')
            self._ward = ui.select({w.id: w.name for w in self._session.wards}, label='Ward') \
                .props('outlined').classes('w-full').mark('raise-ward') \
                .bind_visibility_from(self._target, 'value', value='ward')
            ui.label('One tap raises the alert at once:').classes('text-caption text-grey-8')
            self._buttons: list[ui.button] = []
            with ui.row().classes('w-full gap-2 no-wrap max-sm:flex-wrap'):
                for message, priority, icon in PRESETS:
                    button = ui.button(message, icon=icon, on_click=lambda m=message, p=priority: self._raise(p, m)) \
                        .props(f'unelevated no-caps stack color={PRESET_COLOURS[priority]}') \
                        .classes('grow min-h-[64px] text-weight-bold').mark(f'preset-{message}')
                    self._buttons.append(button)
            ui.separator()
            ui.label('Or describe it:').classes('text-caption text-grey-8')
            with ui.row().classes('w-full gap-2 items-start no-wrap max-sm:flex-wrap'):
                self._priority = ui.select({p.value: PRIORITY_LABELS[p] for p in Priority}, value=Priority.HIGH.value,
                                           label='Priority').props('outlined').classes('min-w-[9rem]') \
                    .mark('raise-priority')
                self._message = ui.input('Message', validation={'At most 500 characters': lambda v: len(v) <= 500}) \
                    .props('outlined maxlength=500').classes('grow').mark('raise-message')
            self._error = ui.label().classes('text-negative').props('role=alert')
            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=self._dialog.close).props('flat no-caps').classes('vigil-touch')
                self._buttons.append(
                    ui.button('Raise alert', icon='campaign',
                              on_click=lambda: self._raise(Priority(self._priority.value), self._message.value or ''))
                    .props('unelevated no-caps color=negative').classes('vigil-touch').mark('raise-submit'))

    def _set_busy(self, busy: bool) -> None:
        for button in self._buttons:
            button.set_enabled(not busy)

    async def _raise(self, priority: Priority, message: str) -> None:
        for_patient = self._target.value == 'patient'
        target = self._patient.value if for_patient else self._ward.value
        if target is None:
            self._error.set_text('Choose a patient first.' if for_patient else 'Choose a ward first.')
            return
        try:
            request = NewAlert(priority=priority, message=message,
                               **({'patient_id': target} if for_patient else {'ward_id': target}))
        except ValidationError:
            self._error.set_text('Write what the alert is about (1 to 500 characters).')
            return
        self._set_busy(True)
        try:
            alert = await self._alerts.raise_alert(await self._session.acting(), request)
        except DomainError as error:
            self._error.set_text(error.message)
            return
        except Exception:
            log.exception('could not raise an alert')
            self._error.set_text('The alert could not be saved. Try again, or call for help by phone.')
            return
        finally:
            self._set_busy(False)
        assert self._dialog is not None
        self._dialog.close()
        where = f'{alert.bed} {alert.patient_name}' if alert.patient_id else alert.ward_name
        ui.notify(f'{PRIORITY_LABELS[alert.priority]} alert raised for {where}: {alert.message}', type='positive')
