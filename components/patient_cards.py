"""Patient Cards: what one patient's card says, with the latest vitals, each coloured by its NEWS2 band.

A card is rendered once for every page of its cards room (card_rooms.py) and shown by the page's store
(card_grid.py); its raise-alert button is a plain button (one listener on the grid takes every card's clicks).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from app.domain import Priority, VitalKind
from app.domain.vitals import VITAL_SPECS
from app.schemas import AlertView, PatientView

from .news2_breakdown import breakdown_html
from .theme import DASH, PRIORITY_LABELS
from .times import age_html, clock_html

ACVPU = 'ACVPU'  # the stored consciousness ordinal 0-4 indexes this
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


def card_element(patient: PatientView, alerts: list[AlertView], now: datetime) -> str:
    """Return a patient's whole card: the article (its colour by the most urgent open alert) and its raise button."""
    top = alerts[0].priority if alerts else None
    classes = 'vigil-card' + (f' vigil-card-{top.value}' if top in (Priority.CRITICAL, Priority.HIGH) else '')
    # NOTE: card_html escapes every value that comes from outside; the id lets focus and presses survive patches.
    return (f'<article id="card-{patient.id}" class="{classes}" aria-label="{escape(f"{patient.bed} {patient.name}")}">'
            f'{card_html(patient, alerts, now)}{raise_button_html(patient)}</article>')
