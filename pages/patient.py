"""`/patients/{id}`: one patient's current vitals, trends, NEWS2 over time and alert history, all live."""

import asyncio
import logging
from datetime import datetime, timedelta
from html import escape

from fastapi.responses import RedirectResponse
from nicegui import background_tasks, ui

from app.bootstrap import Vigil
from app.errors import NotAllowed, NotFound
from app.events import PatientUpdated
from app.events.models import AlertEventBase
from app.schemas import PatientView
from app.services.patient_history import VitalsTrend
from components import alert_history, spo2_scale, timestamps
from components.alert_history import AlertHistoryList
from components.headings import heading
from components.live import LiveHub
from components.news2_breakdown import breakdown_html
from components.patient_alerts import PatientAlerts
from components.patient_cards import RISK_LABELS, observations_html, vital_cells, vital_html
from components.raise_alert import RaiseAlertDialog
from components.session import StaffSession
from components.spo2_scale import Spo2ScalePanel
from components.times import age_html
from components.vitals_chart import VitalsChart

from .frame import reload_after_reconnect, staff_page, staff_session

log = logging.getLogger(__name__)

# Trend windows in hours; AUTO starts at the first reading of the last FIT_HOURS (a patient monitored for minutes
# fills the chart instead of a sliver at its right edge) and grows with the data up to FIT_HOURS.
AUTO = 0
FIT_HOURS = 6
WINDOWS = {AUTO: 'Auto', 1: '1 h', 6: '6 h', 24: '24 h'}

_STYLE = '''
<style>
.vigil-patient { display: grid; gap: 16px; width: 100%; align-items: start;
  grid-template-columns: minmax(0, 8fr) minmax(0, 5fr); grid-template-areas: "head head" "chart side"; }
.vigil-patient-head { grid-area: head; } .vigil-patient-chart { grid-area: chart; }
.vigil-patient-side { grid-area: side; display: flex; flex-direction: column; gap: 16px; min-width: 0; }
/* Narrow screens: one column, current values first, then the trends, then the history. */
@media (max-width: 1023px) { .vigil-patient { display: flex; flex-direction: column; }
  .vigil-patient > *, .vigil-patient-side > * { width: 100%; } .vigil-patient-side { display: contents; }
  .vigil-patient-alerts { order: 0; } .vigil-patient-now { order: 1; } .vigil-patient-chart { order: 2; }
  .vigil-patient-history { order: 3; } }
.vigil-patient-name { font-size: 1.6rem; font-weight: 700; line-height: 1.2; overflow-wrap: anywhere; }
.vigil-patient-meta { color: #546e7a; }
.vigil-now .vigil-vitals { grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 8px; }
.vigil-now .vigil-vital { padding: 6px 10px; border-radius: 8px; }
.vigil-now .vigil-vital-label { font-size: .8rem; }
.vigil-now .vigil-vital-value { font-size: 1.7rem; }
.vigil-now-score { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; font-size: 1.05rem; }
.vigil-now-score .vigil-risk { font-size: 1.2rem; padding: 2px 12px; }
.vigil-now-foot { font-size: .85rem; color: #616161; margin-top: 6px; display: flex; gap: 12px; flex-wrap: wrap; }
.vigil-news2-explanation { margin: 4px 0 0; font-size: .9rem; max-width: 60rem; }
.vigil-trend-window .q-btn { min-height: 44px; min-width: 52px; }
.vigil-message { max-width: 40rem; margin: 10vh auto; text-align: center; }
</style>
'''


def now_html(patient: PatientView, now_text: str, now: datetime) -> str:
    """Return the current-values block: NEWS2 with its risk and its explanation (the same text as the alert's
    headline), each vital coloured by its counted points with its age, stale and pending values marked, and the
    NEWS2 breakdown (value, age and points of each parameter)."""
    news2 = patient.news2
    if news2 is None:
        score = '<span class="vigil-risk vigil-risk-unknown">NEWS2 unknown</span>'
        detail = ''
    else:
        total = f'≥{news2.total}' if news2.missing else str(news2.total)
        score = (f'<span class="vigil-risk vigil-risk-{news2.risk}">NEWS2 {total}</span>'
                 f'<span>{RISK_LABELS[news2.risk]} risk</span>')
        detail = f'<p class="vigil-news2-explanation" data-testid="news2-explanation">{escape(news2.explanation)}</p>'
    cells = [vital_html(cell, now) for cell in vital_cells(patient)]
    return (f'<div class="vigil-now-score">{score}</div>{detail}'
            f'<div class="vigil-vitals">{"".join(cells)}</div>'
            f'<div class="vigil-now-foot">{now_text}{observations_html(patient.observations_due_at, now)}</div>'
            f'{breakdown_html(patient, now)}')


def window_html(trend: VitalsTrend) -> str:
    """Say which time the trend chart shows: a window fitted to the data names its start."""
    if trend.until - trend.since < timedelta(hours=trend.hours):
        return f'From {timestamps.time_html(trend.since)} to now'
    return f'Last {trend.hours:g} h'


def message_page(title: str, text: str) -> None:
    """Show a page-sized message instead of the patient (not found, not allowed)."""
    with ui.column().classes('vigil-message items-center gap-3').props('role=alert'):
        ui.icon('person_off', size='3rem').classes('text-grey-6')
        heading(title).classes('text-h5').mark('page-message')
        ui.label(text).classes('text-grey-8')
        ui.button('Back to the dashboard', icon='arrow_back', on_click=lambda: ui.navigate.to('/')) \
            .props('unelevated no-caps').classes('vigil-touch')


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add the patient page to the app."""

    @ui.page('/patients/{patient_id}')
    async def patient_page(patient_id: str) -> RedirectResponse | None:
        session = await staff_session(vigil, hub)
        if session is None:
            return RedirectResponse('/login')
        await staff_page(vigil, hub, session, 'Patient', 'patient')
        ui.add_head_html(_STYLE)
        alert_history.install()
        spo2_scale.install()
        timestamps.install()
        try:
            patient = await vigil.patients.get(session.actor, int(patient_id))
        except (ValueError, NotFound):
            message_page('Patient not found', f'{session.hospital.name} has no patient with this number.')
            return None
        except NotAllowed as error:
            message_page('This patient is not on your wards', f'{error.message} Ask the charge nurse if you need '
                         'to see this record.')
            return None
        await PatientPage(vigil, session, patient).start()
        return None


class PatientPage:
    """The live parts of one patient page and how they are kept current."""

    def __init__(self, vigil: Vigil, session: StaffSession, patient: PatientView) -> None:
        self._vigil = vigil
        self._session = session
        self.patient = patient
        self._hours = AUTO
        self._refitting = False
        self._reloading = asyncio.Lock()
        ui.page_title(f'{patient.bed} {patient.name} · Vigil')
        raise_dialog = RaiseAlertDialog(vigil.alerts, vigil.patients, session)
        with ui.element('div').classes('vigil-page'), ui.element('div').classes('vigil-patient'):
            with ui.element('section').classes('vigil-patient-head vigil-panel'), \
                    ui.row().classes('w-full items-center gap-3'):
                ui.button(icon='arrow_back', on_click=lambda: ui.navigate.to('/')) \
                    .props('flat round aria-label="Back to the dashboard"').classes('vigil-touch')
                with ui.column().classes('gap-0 min-w-0 grow'):
                    heading(patient.name).classes('vigil-patient-name').mark('patient-name')
                    self._meta = ui.label().classes('vigil-patient-meta').mark('patient-meta')
                ui.button('Raise alert', icon='campaign', on_click=lambda: raise_dialog.open(self.patient)) \
                    .props('unelevated no-caps color=negative').classes('vigil-touch vigil-online-only') \
                    .mark('raise-alert')
            with ui.element('section').classes('vigil-patient-chart vigil-panel').props('aria-label="Trends"'):
                with ui.row().classes('w-full items-center gap-2'):
                    heading('Trends', 2).classes('vigil-panel-title')
                    ui.label('lowest and highest value per interval; dashed red: critical limits') \
                        .classes('text-caption text-grey-7 gt-xs')
                    ui.space()
                    # NOTE: sanitize=False is safe: window_html writes only times and numbers.
                    self._span = ui.html('', sanitize=False).classes('text-grey-8').mark('trend-span')
                    ui.toggle(WINDOWS, value=self._hours, on_change=lambda e: self._set_window(e.value)) \
                        .props('no-caps unelevated toggle-color=primary').classes('vigil-trend-window') \
                        .tooltip(f'Auto: from the first reading of the last {FIT_HOURS} hours').mark('trend-window')
                self._chart = VitalsChart(vigil.clock)
            with ui.element('div').classes('vigil-patient-side'):
                self._alerts = PatientAlerts(vigil.alerts, session, vigil.clock, patient.id)
                with ui.element('section').classes('vigil-patient-now vigil-panel vigil-now') \
                        .props('aria-label="Current values"'):
                    heading('Now', 2).classes('vigil-panel-title')
                    # NOTE: sanitize=False is safe: now_html escapes every value that comes from outside.
                    self._now = ui.html('', sanitize=False).mark('current-values')
                self._scale = Spo2ScalePanel(vigil.prescriptions, session, patient, on_changed=self._scale_changed)
                with ui.element('section').classes('vigil-patient-history vigil-panel') \
                        .props('aria-label="Alert history"'):
                    heading('Alert history', 2).classes('vigil-panel-title')
                    self._history = AlertHistoryList()
        self._show_now()

    async def start(self) -> None:
        """Subscribe to the hospital's live events, then load the state (events arriving meanwhile apply on top)."""
        channel = self._session.channel
        channel.vitals.subscribe(self._on_vitals)
        channel.patients.subscribe(self._on_patient)
        channel.alerts.subscribe(self._on_alert)
        channel.resync.subscribe(self.reload)
        reload_after_reconnect(self.reload)
        await self.reload()

    async def reload(self) -> None:
        """Reload the patient, the trends and the alert history from the database."""
        async with self._reloading:
            actor, patient_id = self._session.actor, self.patient.id
            try:
                self.patient = await self._vigil.patients.get(actor, patient_id)
                self._show_now()
                self._scale.show(self.patient)
                self._scale.show_history(await self._vigil.prescriptions.spo2_scale_history(actor, patient_id))
                await self._load_trend()
                await self._alerts.reload()
                self._history.replace(await self._vigil.audit.patient_history(actor, patient_id))
            except Exception:
                log.exception('could not load patient %d for %s', patient_id, self._session.user.username)
                ui.notify('Could not load this patient; the page reloads when the connection is back.',
                          type='negative')

    async def _load_trend(self) -> None:
        fit = self._hours == AUTO
        trend = await self._vigil.patient_history.trend(self._session.actor, self.patient.id,
                                                       FIT_HOURS if fit else self._hours, fit=fit)
        rules = await self._vigil.rules.get(self._session.actor)
        self._chart.load(trend, rules.limits, self.patient.spo2_scale)
        self._span.set_content(window_html(trend))

    async def _set_window(self, hours: int) -> None:
        self._hours = hours
        try:
            await self._load_trend()
        except Exception:
            log.exception('could not load the trend of patient %d', self.patient.id)
            ui.notify('Could not load the trend; try again.', type='negative')

    def _show_now(self) -> None:
        patient = self.patient
        scale = ' · SpO₂ scale 2' if patient.spo2_scale == 2 else ''
        self._meta.set_text(f'Bed {patient.bed} · {patient.ward_name} · MRN {patient.mrn}{scale}')
        newest = max((v.measured_at for v in self.patient.latest.values()), default=None)
        now = self._vigil.clock()
        text = f'Last reading {age_html(newest, now, "")}' if newest else 'No readings yet'
        self._now.set_content(now_html(self.patient, text, now))

    def _on_vitals(self, patients: list[PatientView]) -> None:
        for patient in patients:
            if patient.id == self.patient.id:
                self.patient = patient
                self._show_now()
                self._chart.add(patient)
                if self._chart.outgrown() and not self._refitting:
                    self._refitting = True
                    background_tasks.create(self._refit(), name='patient trend refit')

    def _scale_changed(self, patient: PatientView) -> None:
        # The PatientUpdated event reloads the rest (trend limits, history); this shows the new scale at once.
        self.patient = patient
        self._show_now()

    async def _on_patient(self, event: PatientUpdated) -> None:
        if event.patient.id == self.patient.id:
            await self.reload()  # rare (a prescription): the trend's SpO2 limit and NEWS2 follow the new scale

    async def _refit(self) -> None:
        try:
            await self._load_trend()
        except Exception:
            log.exception('could not refit the trend of patient %d', self.patient.id)
        finally:
            self._refitting = False

    async def _on_alert(self, event: AlertEventBase) -> None:
        if event.alert.patient_id != self.patient.id:
            return
        self._alerts.receive(event.alert)
        try:
            for history in await self._vigil.audit.patient_history(self._session.actor, self.patient.id,
                                                                   alert_id=event.alert.id):
                self._history.upsert(history)
        except Exception:
            log.exception('could not load the history of alert %d', event.alert.id)
