"""Raising an alert by hand: for a patient or a ward, with one-tap presets for the common calls.

Code Blue is confirm-or-undo: after the press the dialog counts down UNDO_SECONDS with a big "Undo" (and "Send now")
before the alert is sent, so that a mis-tap on a tablet does not call the resuscitation team. While the page has no
connection, every raise button says at once that nothing was sent and to use the phone (components/offline_queue.py
stops the click in the browser: NiceGUI would otherwise send it whenever the socket came back, maybe minutes later).
"""

import asyncio
import logging

from nicegui import background_tasks, context, ui
from pydantic import ValidationError

from app.domain import Priority
from app.errors import DomainError
from app.schemas import NewAlert, PatientView
from app.services.alerts import AlertService
from app.services.patients import PatientService

from .session import StaffSession
from .theme import PRIORITY_LABELS, PRIORITY_STYLES

log = logging.getLogger(__name__)

# (message, priority, icon): one tap raises the alert for the chosen patient or ward.
PRESETS = (
    ('Assistance needed', Priority.MEDIUM, 'front_hand'),
    ('Patient fall', Priority.HIGH, 'personal_injury'),
    ('Code Blue', Priority.CRITICAL, 'emergency'),
)
# NOTE: the preset buttons wear their priority's colours from theme.PRIORITY_STYLES (background, text).
PRESET_COLOURS = {priority: (PRIORITY_STYLES[priority].quasar, PRIORITY_STYLES[priority].quasar_text)
                  for _, priority, _ in PRESETS}
CODE_BLUE = 'Code Blue'
UNDO_SECONDS = 5  # the time to undo a Code Blue pressed by mistake
TICK_SECONDS = 1.0  # the countdown's step (tests shorten it)
OFFLINE_MESSAGE = '{what} was NOT sent: Vigil has no connection. Use the phone to call for help now.'


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
        assert self._dialog is not None
        if patient is not None:
            # A tap on a card opens at once for that patient: the others in scope (to choose another) are read after.
            self._fill([patient], patient)
            self._dialog.open()
        try:
            patients = await self._patients.list_patients(self._session.actor)
        except Exception:
            log.exception('could not list patients for the raise-alert dialog')
            patients = [patient] if patient else []
        if patient is None:
            self._fill(patients, None)
            self._dialog.open()
        elif self._dialog.value and patients:
            chosen = self._patient.value  # kept: the user may have chosen another patient meanwhile
            self._patient.set_options(self._options(patients), value=chosen if any(p.id == chosen for p in patients)
                                      else None)

    @staticmethod
    def _options(patients: list[PatientView]) -> dict[int, str]:
        return {p.id: f'{p.bed} · {p.name} ({p.ward_name})' for p in patients}

    def _fill(self, patients: list[PatientView], patient: PatientView | None) -> None:
        self._patient.set_options(self._options(patients))
        own = [w.id for w in self._session.visible_wards] or [w.id for w in self._session.wards]
        self._ward.set_value(patient.ward_id if patient else (own[0] if own else None))
        self._patient.set_value(patient.id if patient else None)
        self._target.set_value('patient' if patient or patients else 'ward')
        self._message.set_value('')
        self._error.set_text('')
        self._set_busy(False)

    def _build(self) -> None:
        with self._client.content, ui.dialog().props('aria-label="Raise an alert"').mark('raise-dialog') \
                as self._dialog, ui.card().classes('w-[36rem] max-w-full gap-3'):
            ui.label('Raise an alert').classes('text-h6')
            # Filled by the browser while offline (components/offline_queue.py), cleared when the connection returns.
            offline = ui.label().classes('w-full vigil-offline-note').props('role=alert').mark('raise-offline')
            self._target = ui.toggle({'patient': 'For a patient', 'ward': 'For a ward'}, value='patient') \
                .props('no-caps spread unelevated toggle-color=primary').classes('w-full vigil-touch') \
                .mark('raise-target')
            self._patient = ui.select({}, label='Patient', with_input=True) \
                .props('outlined options-dense').classes('w-full').mark('raise-patient') \
                .bind_visibility_from(self._target, 'value', value='patient')
            self._ward = ui.select({w.id: w.name for w in self._session.wards}, label='Ward') \
                .props('outlined').classes('w-full').mark('raise-ward') \
                .bind_visibility_from(self._target, 'value', value='ward')
            ui.label(f'One tap raises the alert ({CODE_BLUE} after {UNDO_SECONDS} s, with Undo):') \
                .classes('text-caption text-grey-8')
            self._buttons: list[ui.button] = []
            with ui.row().classes('w-full gap-2 no-wrap max-sm:flex-wrap'):
                for message, priority, icon in PRESETS:
                    press = self._confirm if message == CODE_BLUE else self._raise
                    button = ui.button(message, icon=icon, on_click=lambda m=message, p=priority, f=press: f(p, m)) \
                        .props(f'unelevated no-caps stack color={PRESET_COLOURS[priority][0]} '
                               f'text-color={PRESET_COLOURS[priority][1]}') \
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
        for button in self._buttons:
            what = button.text if button in self._buttons[:len(PRESETS)] else 'The alert'
            button.classes('vigil-online-only').props(
                f'data-offline-target={offline.html_id} data-offline-message="{OFFLINE_MESSAGE.format(what=what)}"')
        self._build_countdown()

    def _set_busy(self, busy: bool) -> None:
        for button in self._buttons:
            button.set_enabled(not busy)

    def _build_countdown(self) -> None:
        # NOTE: persistent: only Undo or Send now ends the countdown (a tap beside it must not decide either way).
        with self._client.content, ui.dialog().props('persistent aria-label="Code Blue: undo or send"') \
                .mark('code-blue-countdown') as self._countdown, \
                ui.card().classes('w-[30rem] max-w-full items-center gap-4 q-pa-lg') \
                .props('role=alertdialog aria-label="Code Blue: undo or send"'):
            self._countdown_what = ui.label().classes('text-h6 text-center').mark('code-blue-what')
            self._countdown_left = ui.label().classes('text-h4 text-weight-bold text-negative') \
                .props('aria-live=polite').mark('code-blue-left')
            ui.button('Undo', icon='undo', on_click=self._undo).props('unelevated no-caps color=primary size=xl') \
                .classes('w-full min-h-[72px] text-h5 vigil-online-only').mark('code-blue-undo').props(
                    'data-offline-message="Undo did not reach Vigil: no connection. If the Code Blue was sent by '
                    'mistake, resolve it and tell the team by phone."') \
                .props(f'data-offline-target={self._countdown_left.html_id}')
            ui.button('Send now', icon='send', on_click=self._send_now).props('outline no-caps color=negative') \
                .classes('w-full vigil-touch').mark('code-blue-send-now')
        self._waiting: NewAlert | None = None
        self._timer: asyncio.Task[None] | None = None

    async def _confirm(self, priority: Priority, message: str) -> None:
        """Count down before sending a Code Blue: Undo cancels it, Send now sends it at once."""
        request = self._request(priority, message)
        if request is None or self._waiting is not None:
            return
        self._waiting = request
        chosen = self._patient if request.patient_id is not None else self._ward
        where = chosen.options.get(chosen.value) if isinstance(chosen.options, dict) else None
        self._countdown_what.set_text(f'{message} for {where}' if where else message)
        self._countdown.open()
        self._timer = background_tasks.create(self._count_down(), name='code blue countdown')

    async def _count_down(self) -> None:
        for left in range(UNDO_SECONDS, 0, -1):
            self._countdown_left.set_text(f'Sending in {left} s')
            await asyncio.sleep(TICK_SECONDS)
        self._timer = None  # past the point of no return: Undo and Send now find nothing to cancel
        with self._client.content:  # a task of its own: ui.notify needs to know the page
            await self._send_waiting()

    async def _undo(self) -> None:
        if self._timer is None:
            return  # already sent
        self._timer.cancel()
        self._timer, self._waiting = None, None
        self._countdown.close()
        ui.notify(f'{CODE_BLUE} undone: nothing was sent.', type='info')

    async def _send_now(self) -> None:
        if self._timer is None:
            return
        self._timer.cancel()
        self._timer = None
        await self._send_waiting()

    async def _send_waiting(self) -> None:
        request, self._waiting = self._waiting, None
        self._countdown.close()
        if request is not None:
            await self._send(request)

    def _request(self, priority: Priority, message: str) -> NewAlert | None:
        for_patient = self._target.value == 'patient'
        target = self._patient.value if for_patient else self._ward.value
        if target is None:
            self._error.set_text('Choose a patient first.' if for_patient else 'Choose a ward first.')
            return None
        try:
            return NewAlert(priority=priority, message=message,
                            **({'patient_id': target} if for_patient else {'ward_id': target}))
        except ValidationError:
            self._error.set_text('Write what the alert is about (1 to 500 characters).')
            return None

    async def _raise(self, priority: Priority, message: str) -> None:
        request = self._request(priority, message)
        if request is not None:
            await self._send(request)

    async def _send(self, request: NewAlert) -> None:
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
