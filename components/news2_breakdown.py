"""A patient's NEWS2, parameter by parameter: the value, its age and its points, as numbers (colour only repeats them).

Everything comes from the patient view's News2View (domain.news2.explain): the UI never scores NEWS2 itself. The
card shows it behind its NEWS2 line (a native <details>), the patient page always.
"""

from datetime import datetime
from html import escape

from app.domain import VitalKind
from app.domain.news2 import NEWS2_PARAMETERS
from app.domain.vitals import ACVPU, VITAL_SPECS
from app.schemas import PatientView

from .theme import DASH
from .times import age_html

NAMES = {VitalKind.RESP_RATE: 'Respiration rate', VitalKind.SPO2: 'SpO₂', VitalKind.ON_OXYGEN: 'Air or oxygen',
         VitalKind.SYSTOLIC_BP: 'Systolic BP', VitalKind.HEART_RATE: 'Pulse', VitalKind.CONSCIOUSNESS: 'Consciousness',
         VitalKind.TEMPERATURE: 'Temperature'}
# A card is about 220 px wide: the same table with the names its vitals grid uses.
SHORT_NAMES = {VitalKind.RESP_RATE: 'RR', VitalKind.SPO2: 'SpO₂', VitalKind.ON_OXYGEN: 'Air/O₂',
               VitalKind.SYSTOLIC_BP: 'Sys BP', VitalKind.HEART_RATE: 'HR', VitalKind.CONSCIOUSNESS: 'ACVPU',
               VitalKind.TEMPERATURE: 'Temp'}


def value_text(kind: VitalKind, value: float) -> str:
    """Return a NEWS2 parameter's value with its unit as staff read it ("38.4 °C", "Oxygen", "C")."""
    if kind is VitalKind.ON_OXYGEN:
        return 'Oxygen' if round(value) else 'Air'
    if kind is VitalKind.CONSCIOUSNESS:
        return ACVPU[min(max(round(value), 0), 4)]
    number = f'{value:.1f}' if kind is VitalKind.TEMPERATURE else f'{value:.0f}'
    unit = VITAL_SPECS[kind].shown_unit
    return f'{number}{"" if unit == "%" else " "}{unit}'


def breakdown_html(patient: PatientView, now: datetime, *, compact: bool = False) -> str:
    """Return the NEWS2 breakdown table of a patient (empty when the view carries no NEWS2); `compact` for a card."""
    news2 = patient.news2
    if news2 is None:
        return ''
    rows = []
    for kind in NEWS2_PARAMETERS:
        name = (SHORT_NAMES if compact else NAMES)[kind]
        if kind is VitalKind.SPO2:
            name += f' (scale {patient.spo2_scale})' if not compact else f' s{patient.spo2_scale}'
        vital = patient.latest.get(kind)
        if vital is None:
            rows.append(f'<tr class="vigil-news2-missing"><th scope="row">{name}</th><td>not measured</td>'
                        f'<td></td><td>{DASH}</td></tr>')
            continue
        age = age_html(vital.measured_at, now, 'vigil-news2-age')
        if kind in news2.stale:
            points, css = f'{DASH} <small>stale, not scored</small>', 'vigil-news2-stale'
        elif (waiting := news2.pending.get(kind)) is not None:
            points = (f'{waiting.counted} <small>counts now; {waiting.points} once confirmed</small>')
            css = f'vigil-news2-pending vigil-band-{waiting.counted}'
        else:
            counted = news2.sub_scores.get(kind, 0)
            points, css = str(counted), f'vigil-band-{counted}'
        rows.append(f'<tr><th scope="row">{name}</th><td>{escape(value_text(kind, vital.value))}</td><td>{age}</td>'
                    f'<td class="vigil-news2-points {css}">{points}</td></tr>')
    total = f'≥{news2.total}' if news2.missing else str(news2.total)
    css = 'vigil-news2-table vigil-news2-compact' if compact else 'vigil-news2-table'
    heads = ('Vital', 'Value', 'Age', '<abbr title="Points">Pts</abbr>') if compact else (
        'Parameter', 'Value', 'Measured', 'Points')
    header = ''.join(f'<th scope="col">{head}</th>' for head in heads)
    return (f'<table class="{css}" data-testid="news2-breakdown"><caption>NEWS2 breakdown</caption>'
            f'<thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody>'
            f'<tfoot><tr><th scope="row" colspan="3">Total</th><td class="vigil-news2-points">{total}</td></tr></tfoot>'
            '</table>')
