"""Patient Cards: one card per patient in scope with the latest vitals, each coloured by its NEWS2 band.

A card is one HTML element, its raise-alert button included (one listener on the grid takes every card's clicks);
a vitals update re-sends that one element of each changed card, at most once per second (the hub coalesces).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from app.clock import Clock
from app.domain import Priority, VitalKind
from app.domain.vitals import VITAL_SPECS
from app.schemas import AlertView, PatientView
from app.services.patients import PatientService

from .headings import heading
from .morph_html import MorphHtml
from .news2_breakdown import breakdown_html
from .patient_order import CardToolbar, acuity_key
from .preferences import Preferences
from .session import StaffSession
from .shared_texts import SharedTexts
from .theme import DASH, PRIORITY_LABELS
from .times import age_html, clock_html

ACVPU = 'ACVPU'  # the stored consciousness ordinal 0-4 indexes this
# NOTE: a card's NEWS2 breakdown is a native <details>: the server hears when it opens or closes (the click comes
# before the browser toggles it) so that a card re-rendered by a vitals update stays as the user left it.
CLICK_JS = '''(event) => {
  const button = event.target.closest('button[data-vigil-raise]');
  if (button) emit({patient: Number(button.dataset.vigilRaise)});
  const summary = event.target.closest('summary[data-vigil-news2]');
  if (summary) emit({news2: Number(summary.dataset.vigilNews2), open: !summary.parentElement.open});
}'''
RISK_LABELS = {'low': 'Low', 'low-medium': 'Low\N{EN DASH}medium', 'medium': 'Medium', 'high': 'High'}


def _number(value: float, decimals: int = 0) -> str:
    return f'{value:.{decimals}f}'


@dataclass(frozen=True)
class VitalCell:
    """One vital as a card shows it: its latest value, NEWS2 points, age, and whether it counts."""

    label: str
    value: str
    points: int | None  # counted NEWS2 points (None: not scored, e.g. missing or stale)
    missing: bool = False
    measured_at: datetime | None = None
    stale: bool = False  # older than the hospital's maximum age: NEWS2 counts it as missing
    pending: int | None = None  # points it will score once its persistence delay has passed


def vital_cells(patient: PatientView) -> list[VitalCell]:
    """Return each vital a card shows, as NEWS2 counts it (domain.news2.explain, through the patient view)."""
    news2 = patient.news2
    latest, scores = patient.latest, (news2.sub_scores if news2 else {})

    def cell(label: str, kind: VitalKind, text: Callable[[float], str]) -> VitalCell:
        vital = latest.get(kind)
        if vital is None:
            return VitalCell(label, 'missing', None, missing=True)
        waiting = news2.pending.get(kind) if news2 else None
        return VitalCell(label, text(vital.value), scores.get(kind), measured_at=vital.measured_at,
                         stale=bool(news2 and kind in news2.stale), pending=waiting.points if waiting else None)

    oxygen = latest.get(VitalKind.ON_OXYGEN)
    spo2_label = f'SpO₂ {unit(VitalKind.SPO2)} +O₂' if oxygen and oxygen.value >= 1 else f'SpO₂ {unit(VitalKind.SPO2)}'
    diastolic = latest.get(VitalKind.DIASTOLIC_BP)
    return [
        cell(f'HR {unit(VitalKind.HEART_RATE)}', VitalKind.HEART_RATE, _number),
        cell(spo2_label, VitalKind.SPO2, _number),
        cell(f'RR {unit(VitalKind.RESP_RATE)}', VitalKind.RESP_RATE, _number),
        cell(f'BP {unit(VitalKind.SYSTOLIC_BP)}', VitalKind.SYSTOLIC_BP,
             lambda v: f'{v:.0f}/{_number(diastolic.value) if diastolic else DASH}'),
        cell(f'Temp {unit(VitalKind.TEMPERATURE)}', VitalKind.TEMPERATURE, lambda v: _number(v, 1)),
        cell('ACVPU', VitalKind.CONSCIOUSNESS, lambda v: ACVPU[min(4, max(0, int(v)))]),
    ]


def unit(kind: VitalKind) -> str:
    """Return the unit of a vital as screens show it (app.domain.vitals.HUMAN_UNITS)."""
    return VITAL_SPECS[kind].shown_unit


def card_html(patient: PatientView, alerts: list[AlertView], now: datetime, *, news2_open: bool = False) -> str:
    """Return what a patient's card says: bed, name, NEWS2, vitals by band, age of the last reading, alerts.

    The NEWS2 line opens the breakdown (each parameter's value, age and points); `news2_open` shows it open.
    """
    news2 = patient.news2
    if news2 is None:
        score = '<span class="vigil-risk vigil-risk-unknown">NEWS2 ' + DASH + '</span>'
    else:
        total = f'≥{news2.total}' if news2.missing else str(news2.total)
        title = f' title="Incomplete: {len(news2.missing)} parameter(s) missing"' if news2.missing else ''
        score = (f'<span class="vigil-risk vigil-risk-{news2.risk}"{title}>NEWS2 {total} · '
                 f'{RISK_LABELS[news2.risk]}</span>')
    badge = ''
    if alerts:
        top = alerts[0].priority
        count = f'{len(alerts)} open alert{"s" if len(alerts) > 1 else ""}, the most urgent {PRIORITY_LABELS[top]}'
        badge = (f'<span class="vigil-chip vigil-chip-{top.value}" title="{count}">{PRIORITY_LABELS[top]} · '
                 f'{len(alerts)} open</span>')
    cells = [vital_html(cell, now) for cell in vital_cells(patient)]
    newest = max((v.measured_at for v in patient.latest.values()), default=None)
    last = f'<span>Last reading {age_html(newest, now, "")}</span>' if newest else '<span>No readings yet</span>'
    last += observations_html(patient.observations_due_at, now)
    scale = ('<span class="vigil-chip vigil-chip-scale2" title="SpO₂ scale 2 prescribed, target 88\N{EN DASH}92 %">'
             'Scale 2</span>' if patient.spo2_scale == 2 else '')
    return (f'<div class="vigil-card-head"><span class="vigil-card-bed">{escape(patient.bed)}</span>'
            f'<a class="vigil-card-name" href="/patients/{patient.id}" title="{escape(patient.name)}">'
            f'{escape(patient.name)}</a>{scale}</div>'
            f'<details class="vigil-news2"{" open" if news2_open else ""}>'
            f'<summary class="vigil-card-status" data-vigil-news2="{patient.id}" '
            f'title="Show or hide the NEWS2 breakdown">{score}{badge}</summary>'
            f'{breakdown_html(patient, now, compact=True)}</details>'
            f'<div class="vigil-vitals">{"".join(cells)}</div>'
            f'<div class="vigil-card-foot">{last}</div>')


def vital_html(cell: VitalCell, now: datetime) -> str:
    """Return one vital's cell: coloured by its counted points, with its age; stale and pending values say so."""
    if cell.missing:
        css, note = 'vigil-vital vigil-vital-missing', ''
    elif cell.stale:
        css, note = 'vigil-vital vigil-vital-stale', 'stale, not scored'
    elif cell.pending is not None:
        css, note = f'vigil-vital vigil-band-{cell.points or 0} vigil-vital-pending', f'confirming ({cell.pending})'
    else:
        css, note = f'vigil-vital vigil-band-{cell.points or 0}', ''
    age = age_html(cell.measured_at, now, 'vigil-vital-age') if cell.measured_at is not None else ''
    return (f'<div class="{css}"><span class="vigil-vital-label">{cell.label}</span>'
            f'<span class="vigil-vital-value">{cell.value}</span>'
            + (f'<span class="vigil-vital-note">{note}</span>' if note else '') + f'{age}</div>')


def observations_html(due: datetime | None, now: datetime) -> str:
    """Return when the next full set of observations is due, or how late it is (RCP chart 4)."""
    if due is None:
        return ''
    if due <= now:
        return (f'<span class="vigil-obs vigil-obs-overdue" role="status">Observations overdue since '
                f'{clock_html(due)}</span>')
    return f'<span class="vigil-obs">Observations due {clock_html(due)}</span>'


def raise_button_html(patient: PatientView) -> str:
    """Return the card's raise-alert button (a plain button: the grid's one listener takes its clicks)."""
    label = escape(f'Raise alert for {patient.name}')
    return (f'<button type="button" class="vigil-btn vigil-card-raise" data-vigil-raise="{patient.id}" '
            f'title="Raise alert" aria-label="{label}"><i class="q-icon notranslate material-icons" '
            'aria-hidden="true">campaign</i></button>')


class PatientCard:
    """One patient's card: a single HTML element (with its button), patched in place."""

    def __init__(self, patient: PatientView, texts: SharedTexts) -> None:
        self.patient = patient
        self._texts = texts
        self.alerts: list[AlertView] = []
        self.news2_open = False  # the NEWS2 breakdown, as the user left it
        self._html = ''
        self._classes = ''
        # NOTE: not sanitized: card_html escapes every value that comes from outside. Patched in place: vitals update
        # a card every few seconds, and replacing its HTML would swallow a tap on its raise button.
        self.element = MorphHtml(tag='article').mark(f'patient-{patient.id}')
        self.element.props['aria-label'] = f'{patient.bed} {patient.name}'  # set directly: a name may hold quotes

    def show(self, now: datetime) -> None:
        """Re-render from the held patient and alerts, sending only what changed."""
        html = self._texts.share(card_html(self.patient, self.alerts, now, news2_open=self.news2_open)
                                 + raise_button_html(self.patient))
        top = self.alerts[0].priority if self.alerts else None
        classes = 'vigil-card' + (f' vigil-card-{top.value}' if top in (Priority.CRITICAL, Priority.HIGH) else '')
        if classes != self._classes:
            self._classes = classes
            self.element.classes(replace=classes)
        if html != self._html:
            self._html = html
            self.element.set_content(html)


def _newest(patient: PatientView) -> datetime | None:
    return max((v.measured_at for v in patient.latest.values()), default=None)


class PatientCards:
    """The cards of every patient in the user's scope, most urgent first (or by ward and bed), of the chosen wards.

    Order and ward choice are remembered per user. Cards are moved, never re-created, when the order changes.
    """

    def __init__(self, service: PatientService, session: StaffSession, clock: Clock, prefs: Preferences, *,
                 on_raise: Callable[[PatientView], Any], alerts_of: Callable[[int], list[AlertView]]) -> None:
        self._service = service
        self._session = session
        self._clock = clock
        self._on_raise = on_raise
        self._alerts_of = alerts_of
        self._cards: dict[int, PatientCard] = {}
        self._beds: dict[int, int] = {}  # patient id -> place in ward and bed order (the service's order)
        self._loading = False
        self._buffer: dict[int, PatientView] = {}
        with ui.element('section').classes('vigil-panel column gap-2').props('aria-label="Patients"'):
            with ui.row().classes('w-full items-center gap-2'):
                heading('Patients', 2).classes('vigil-panel-title')
                self._count = ui.label().classes('text-grey-8').mark('patient-count')
            self._toolbar = CardToolbar(prefs, session, on_change=self._arrange)
            self._empty = ui.label().classes('text-grey-7 q-pa-md').mark('patients-empty')
            self._grid = ui.element('div').classes('vigil-cards w-full').mark('patient-grid') \
                .on('click', self._clicked, js_handler=CLICK_JS)

    async def reload(self) -> None:
        """Load the patients in scope from the database and make the cards match."""
        self._loading, self._buffer = True, {}
        try:
            patients = await self._service.list_patients(self._session.actor)
        finally:
            buffered, self._loading, self._buffer = self._buffer, False, {}
        wanted = {p.id for p in patients}
        for patient_id in [i for i in self._cards if i not in wanted]:
            self._cards.pop(patient_id).element.delete()
        now = self._clock()
        self._beds = {p.id: index for index, p in enumerate(patients)}
        for patient in patients:
            card = self._cards.get(patient.id)
            if card is None:
                with self._grid:
                    card = self._cards[patient.id] = PatientCard(patient, self._session.channel.texts)
            else:
                newest, held = _newest(patient), _newest(card.patient)
                if newest is not None and held is not None and newest < held:
                    patient = card.patient  # a coalesced update newer than this snapshot got here first
            card.patient, card.alerts = patient, self._alerts_of(patient.id)
            card.show(now)
        self._arrange()
        self.vitals(list(buffered.values()))

    def vitals(self, patients: list[PatientView]) -> None:
        """Take the coalesced latest vitals of the hospital's patients; only cards this page shows change."""
        if self._loading:
            self._buffer.update((p.id, p) for p in patients)  # applied after the snapshot, if newer than it
            return
        now = self._clock()
        changed = False
        for patient in patients:
            card = self._cards.get(patient.id)
            if card is None:
                continue  # not in this user's scope
            held = _newest(card.patient)
            newest = _newest(patient)
            if held is not None and (newest is None or newest < held):
                continue
            card.patient = patient
            card.show(now)
            changed = True
        if changed and self._toolbar.order == 'acuity':
            self._arrange()  # a NEWS2 or an observation schedule changed

    async def _clicked(self, event: GenericEventArguments) -> None:
        """A card's raise-alert button was pressed, or its NEWS2 breakdown opened or closed (the browser says which)."""
        args = event.args if isinstance(event.args, dict) else {}
        breakdown = args.get('news2')
        if isinstance(breakdown, int) and (card := self._cards.get(breakdown)) is not None:
            card.news2_open = bool(args.get('open'))
            card.show(self._clock())
            return
        patient_id = args.get('patient')
        card = self._cards.get(patient_id) if isinstance(patient_id, int) else None
        if card is not None:
            await self._on_raise(card.patient)

    def alerts_changed(self, patient_id: int) -> None:
        """Refresh one card's open-alert badge."""
        card = self._cards.get(patient_id)
        if card is not None:
            card.alerts = self._alerts_of(patient_id)
            card.show(self._clock())
            if self._toolbar.order == 'acuity':
                self._arrange()

    def _arrange(self) -> None:
        """Put the cards in the chosen order by moving them (never re-creating), and show the chosen wards' only."""
        now = self._clock()
        beds = self._beds
        cards = sorted(self._cards.values(), key=lambda c: beds.get(c.patient.id, len(beds)))
        if self._toolbar.order == 'acuity':
            cards.sort(key=lambda c: acuity_key(c.patient, c.alerts, now))  # stable: bed order breaks ties
        children = self._grid.default_slot.children
        shown = 0
        for index, card in enumerate(cards):
            if children[index] is not card.element:
                card.element.move(target_index=index)
            admitted = self._toolbar.admits(card.patient)
            shown += admitted
            card.element.set_visibility(admitted)
        total = len(cards)
        count = f'{total} in your scope' if shown == total else f'{shown} of {total} in your scope shown'
        empty = 'No patients on your wards.' if not total else '' if shown else 'No patients on the chosen ward.'
        self._count.set_text(count)  # bindable properties: an unchanged value sends nothing
        self._empty.set_text(empty)
        self._empty.set_visibility(bool(empty))
