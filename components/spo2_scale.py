"""The patient's NEWS2 SpO2 scale as prescribed: the scale, who set it, when and why, its history, and the dialog
in which a physician or an administrator changes it."""

import logging
from collections.abc import Callable
from html import escape

from nicegui import context, ui

from app.domain.actors import display_actor, person_name
from app.errors import DomainError
from app.schemas import PatientEventView, PatientView
from app.services.prescriptions import MAX_REASON, PRESCRIBING_ROLES, PrescriptionService

from .headings import heading
from .session import StaffSession
from .timestamps import datetime_html

log = logging.getLogger(__name__)

SCALE_TEXT = {1: 'SpO₂ scale 1', 2: 'SpO₂ scale 2, target 88\N{EN DASH}92 %'}
SCALE_CHOICES = {
    1: 'Scale 1: the usual scale (SpO₂ ≥ 96 % scores 0)',
    2: 'Scale 2: target 88\N{EN DASH}92 %, only for confirmed hypercapnic respiratory failure',
}

_STYLE = '''
<style>
.vigil-scale-now { font-size: 1.05rem; font-weight: 700; }
.vigil-scale-2 { color: #283593; }
.vigil-scale-meta { font-size: .85rem; color: #616161; overflow-wrap: anywhere; }
.vigil-scale-history { list-style: none; margin: 4px 0 0; padding: 0; font-size: .86rem; }
.vigil-scale-history li { border-top: 1px solid #f0f0f0; padding: 4px 0; overflow-wrap: anywhere; }
.vigil-scale-history li > span:first-child { font-variant-numeric: tabular-nums; color: #616161; margin-right: 6px; }
</style>
'''


def install() -> None:
    """Add the panel's styles to the page."""
    ui.add_head_html(_STYLE)


def status_html(patient: PatientView) -> str:
    """Return the current scale with who prescribed it, when and why (escaped)."""
    scale = patient.spo2_scale
    head = (f'<div class="vigil-scale-now{" vigil-scale-2" if scale == 2 else ""}">'
            f'{escape(SCALE_TEXT.get(scale, f"SpO₂ scale {scale}"))}</div>')
    if patient.spo2_scale_set_at is None:
        meta = 'Not recorded who prescribed it.' if scale == 2 else 'As on admission.'
    else:
        meta = (f'Set by {escape(person_name(patient.spo2_scale_set_by))}, '
                f'{datetime_html(patient.spo2_scale_set_at)}: {escape(patient.spo2_scale_reason or "")}')
    return f'{head}<div class="vigil-scale-meta">{meta}</div>'


def history_html(entries: list[PatientEventView]) -> str:
    """Return the prescription history, newest first (escaped)."""
    if not entries:
        return '<div class="vigil-scale-meta">No changes recorded.</div>'
    items = ''.join(f'<li><span>{datetime_html(e.at)}</span>{escape(display_actor(e.actor))}: {escape(e.note)}</li>'
                    for e in entries)
    return f'<ul class="vigil-scale-history" aria-label="Prescription history">{items}</ul>'


class Spo2ScalePanel:
    """The SpO2 scale panel of a patient page; `show` and `show_history` keep it current."""

    def __init__(self, service: PrescriptionService, session: StaffSession, patient: PatientView, *,
                 on_changed: Callable[[PatientView], None]) -> None:
        self._service = service
        self._session = session
        self._patient = patient
        self._on_changed = on_changed
        self._client = context.client
        self._dialog: ui.dialog | None = None
        with ui.element('section').classes('vigil-panel column gap-1').props('aria-label="SpO2 scale"'):
            with ui.row().classes('w-full items-center gap-2'):
                heading('SpO₂ scale', 2).classes('vigil-panel-title')
                ui.space()
                if session.user.role in PRESCRIBING_ROLES:
                    ui.button('Change SpO₂ scale', icon='edit_note', on_click=self.open) \
                        .props('outline no-caps').classes('vigil-touch').mark('spo2-scale-change')
            # NOTE: sanitize=False is safe: status_html and history_html escape everything from outside.
            self._status = ui.html('', sanitize=False).mark('spo2-scale')
            self._history = ui.html('', sanitize=False).mark('spo2-scale-history')
        self.show(patient)

    def show(self, patient: PatientView) -> None:
        """Show the patient's current scale."""
        self._patient = patient
        self._status.set_content(status_html(patient))

    def show_history(self, entries: list[PatientEventView]) -> None:
        """Show the prescription history, newest first."""
        self._history.set_content(history_html(entries))

    def open(self) -> None:
        """Open the dialog with the other scale chosen and an empty reason."""
        if self._dialog is None:
            self._build()
        assert self._dialog is not None
        self._scale.set_value(1 if self._patient.spo2_scale == 2 else 2)
        self._reason.set_value('')
        self._error.set_text('')
        self._save.set_enabled(True)
        self._dialog.open()

    def _build(self) -> None:
        with self._client.content, ui.dialog().props('aria-label="Change the SpO2 scale"') \
                .mark('spo2-scale-dialog') as self._dialog, ui.card().classes('w-[34rem] max-w-full gap-3'):
            ui.label('Change the SpO₂ scale').classes('text-h6')
            ui.label(f'{self._patient.bed} · {self._patient.name}').classes('text-body2')
            self._scale = ui.radio(SCALE_CHOICES, value=2).props('aria-label="SpO2 scale"').mark('spo2-scale-choice')
            ui.label('NEWS2 and the SpO₂ critical limit follow the new scale at once. Scale 2 is a clinical '
                     'decision: it is recorded with your name and reason.').classes('text-caption text-grey-8')
            self._reason = ui.input('Reason (for the record)',
                                    validation={f'At most {MAX_REASON} characters':
                                                lambda v: len(v or '') <= MAX_REASON}) \
                .props(f'outlined maxlength={MAX_REASON} autofocus').classes('w-full').mark('spo2-scale-reason')
            self._error = ui.label().classes('text-negative').props('role=alert')
            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=self._dialog.close).props('flat no-caps').classes('vigil-touch')
                self._save = ui.button('Save', icon='check', on_click=self._submit) \
                    .props('unelevated no-caps color=primary').classes('vigil-touch').mark('spo2-scale-save')

    async def _submit(self) -> None:
        reason = (self._reason.value or '').strip()
        if not reason:
            self._error.set_text('Say why (a few words): the reason goes on the record.')
            return
        self._save.set_enabled(False)
        try:
            view = await self._service.set_spo2_scale(await self._session.acting(), self._patient.id,
                                                      int(self._scale.value), reason)
        except DomainError as error:
            ui.notify(error.message, type='negative')
            return
        except Exception:
            log.exception('could not change the SpO2 scale of patient %d', self._patient.id)
            ui.notify('The SpO₂ scale could not be saved. Try again.', type='negative')
            return
        finally:
            self._save.set_enabled(True)
        assert self._dialog is not None
        self._dialog.close()
        ui.notify(f'{view.name} is now on {SCALE_TEXT[view.spo2_scale]}.', type='positive')
        self.show(view)
        self._on_changed(view)
