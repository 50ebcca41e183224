"""One visual language: priority colours from one table that reach WCAG AA, human units, people by their names."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nicegui
import pytest

from app.domain import AlertKind, AlertStatus, Priority, VitalKind
from app.domain.actors import display_actor, person_name, recorded_person
from app.domain.news2 import explain
from app.domain.vitals import VITAL_SPECS, describe, human_unit
from app.schemas import AlertView, PatientView, VitalValue
from components import kiosk_board, theme, toasts
from components.alert_row import alert_html
from components.news2_breakdown import breakdown_html
from components.patient_cards import card_html, vital_cells

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
AA = 4.5  # WCAG 2.x AA for normal text


def luminance(colour: str) -> float:
    digits = colour.lstrip('#')
    digits = ''.join(c * 2 for c in digits) if len(digits) == 3 else digits
    channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_is_computed_as_wcag_defines_it() -> None:
    assert contrast('#000', '#fff') == pytest.approx(21)
    assert contrast('#e65100', '#ffffff') == pytest.approx(3.79, abs=0.01)  # the old High chip: too faint


@pytest.mark.parametrize('priority', list(Priority))
def test_every_priority_word_is_readable_on_its_colour(priority: Priority) -> None:
    style = theme.PRIORITY_STYLES[priority]
    assert contrast(style.text, style.colour) >= AA
    if style.flashing:  # the second phase of the flash: the colour as text on the page
        assert contrast(style.colour, theme.FLASH_OFF_BACKGROUND) >= AA


def test_the_table_follows_iec_60601_1_8() -> None:
    styles = theme.PRIORITY_STYLES
    assert {p: s.iec for p, s in styles.items()} == {
        Priority.CRITICAL: 'high', Priority.HIGH: 'high', Priority.MEDIUM: 'medium', Priority.LOW: 'low'}
    assert [p for p, s in styles.items() if s.flashing] == [Priority.CRITICAL]
    assert styles[Priority.CRITICAL].colour != styles[Priority.HIGH].colour  # two reds: steady and flashing
    assert [s.label for s in styles.values()] == ['Critical', 'High', 'Medium', 'Low']


def test_other_meaningful_colours_reach_aa() -> None:
    assert contrast(*theme.RISK_HIGH) >= AA  # NEWS2 7+ badge, a vital scoring 3
    assert contrast(*theme.MISSING_TEXT) >= AA  # "missing" vital
    assert contrast('#ffffff', '#161d27') >= AA  # the kiosk label's dark phase: white on the row


def test_css_and_toasts_take_their_colours_from_the_table() -> None:
    css = theme.priority_css()
    quasar = '\n'.join(path.read_text() for path in (Path(nicegui.__file__).parent / 'static').glob('quasar*.css'))

    def quasar_colour(name: str) -> str:
        match = re.search(rf'\.bg-{re.escape(name)}\s*{{background:(#[0-9a-f]+)', quasar)
        assert match, name
        return '#ffffff' if match.group(1) == '#fff' else match.group(1)

    for priority, style in theme.PRIORITY_STYLES.items():
        assert f'--vigil-{priority.value}: {style.colour};' in css
        assert f'--vigil-{priority.value}-text: {style.text};' in css
        assert toasts.COLOURS[priority] == (style.quasar, style.quasar_text)
        assert quasar_colour(style.quasar) == style.colour  # the toast is the chip's colour
        assert quasar_colour(style.quasar_text) == style.text
    # Chips, kiosk labels and counts name no colour of their own: they all go through the variables.
    names = '|'.join(p.value for p in Priority)
    assert not re.search(rf'\.vigil-chip-({names}) {{', theme._CSS)
    rule = rf'\.vigil-kiosk-(?:count-)?(?:{names})(?:\.vigil-kiosk-count-on| \.vigil-kiosk-prio) {{([^}}]*)}}'
    kiosk = re.findall(rule, kiosk_board._STYLE)
    assert len(kiosk) == 8 and not any(re.search(r'(background|color): #', body) for body in kiosk)


def test_screens_show_human_units_while_the_api_keeps_ucum() -> None:
    assert VITAL_SPECS[VitalKind.SYSTOLIC_BP].unit == 'mm[Hg]' and VITAL_SPECS[VitalKind.TEMPERATURE].unit == 'Cel'
    assert [human_unit(u) for u in ('mm[Hg]', 'Cel', '/min', '%', 'L/min', '[degF]')] == [
        'mmHg', '°C', '/min', '%', 'L/min', '°F']
    assert describe(VitalKind.SYSTOLIC_BP, 88) == 'systolic blood pressure 88 mmHg'
    assert describe(VitalKind.TEMPERATURE, 38.4) == 'temperature 38.4 °C'
    news2 = explain({VitalKind.TEMPERATURE: (39.2, NOW), VitalKind.SYSTOLIC_BP: (95, NOW)}, 1)
    assert 'temperature 39.2 °C (2)' in news2.explanation and 'systolic blood pressure 95 mmHg (2)' in news2.explanation
    labels = [cell.label for cell in vital_cells(patient({VitalKind.HEART_RATE: 80}))]
    assert labels == ['HR /min', 'SpO₂ %', 'RR /min', 'BP mmHg', 'Temp °C', 'ACVPU']


@pytest.mark.parametrize('display, username, recorded, shown', [
    ('Jordan Ellis', 'charge', 'Jordan Ellis (charge)', 'Jordan Ellis'),
    ('charge', 'charge', 'charge', 'charge'),  # no display name of its own
    ('  Sam   Patel ', 'nurse', 'Sam Patel (nurse)', 'Sam Patel'),
    ('Kit Fernandes (ICU)', 'kit.f', 'Kit Fernandes (ICU) (kit.f)', 'Kit Fernandes (ICU)'),
    ('x' * 300, 'long-name', 'x' * 188 + ' (long-name)', 'x' * 188),  # the username always survives
])
def test_people_are_recorded_with_name_and_username_and_shown_by_name(
        display: str, username: str, recorded: str, shown: str) -> None:
    assert recorded_person(display, username) == recorded
    assert len(recorded) <= 200
    assert person_name(recorded) == shown
    assert display_actor(recorded) == recorded  # the audit shows the record in full


@pytest.mark.parametrize('recorded, shown', [
    ('Dr Jane Roe (via token:pager)', 'Dr Jane Roe (via pager)'),
    ('token:ward monitor', 'ward monitor'),
    ('escalation', 'escalation'),
    ('charge', 'charge'),  # records from before names were recorded
])
def test_other_actors_read_as_before(recorded: str, shown: str) -> None:
    assert person_name(recorded) == shown


def alert(**changes: object) -> AlertView:
    base: dict[str, object] = dict(
        id=7, hospital_id=1, ward_id=1, ward_name='North', patient_id=3, patient_name='Ann Example', patient_mrn='M3',
        bed='N-1', kind=AlertKind.MANUAL, priority=Priority.HIGH, status=AlertStatus.ACKNOWLEDGED, message='Fall',
        dedup_key=None, occurrences=1, escalation_level=0, next_escalation_at=None, created_at=NOW,
        created_by='Sam Patel (nurse)', last_triggered_at=NOW, acknowledged_at=NOW,
        acknowledged_by='Jordan Ellis (charge)', resolved_at=None, resolved_by=None, version=2)
    return AlertView.model_validate({**base, **changes})


def test_alert_rows_name_people_by_their_display_name() -> None:
    html = alert_html(alert(), NOW)
    assert 'Acknowledged by Jordan Ellis<' in html and 'Raised by Sam Patel<' in html
    assert '(charge)' not in html and '(nurse)' not in html
    assert '>High</span>' in html and 'vigil-chip-high' in html  # the word with the colour


def patient(values: dict[VitalKind, float], *, age: timedelta = timedelta(minutes=5)) -> PatientView:
    latest = {kind: (value, NOW - age) for kind, value in values.items()}
    return PatientView(id=3, hospital_id=1, ward_id=1, ward_name='North', mrn='M3', name='Ann Example', bed='N-1',
                       spo2_scale=1, news2=explain(latest, 1, NOW, {VitalKind.TEMPERATURE: 60}),
                       latest={k: VitalValue(value=v, unit=VITAL_SPECS[k].unit, measured_at=at)
                               for k, (v, at) in latest.items()})


def rows_of(html: str) -> list[list[str]]:
    body = html[html.index('<tbody>'):html.index('</tbody>')]
    return [[re.sub(r'<[^>]+>', '', cell) for cell in re.findall(r'<t[hd][^>]*>(.*?)</t[hd]>', row)]
            for row in re.findall(r'<tr[^>]*>(.*?)</tr>', body)]


def test_the_news2_breakdown_gives_each_parameter_value_age_and_points() -> None:
    shown = patient({VitalKind.RESP_RATE: 25, VitalKind.SPO2: 95, VitalKind.ON_OXYGEN: 1,
                     VitalKind.SYSTOLIC_BP: 105, VitalKind.HEART_RATE: 115, VitalKind.CONSCIOUSNESS: 0})
    html = breakdown_html(shown, NOW)
    assert rows_of(html) == [
        ['Respiration rate', '25 /min', '5 min ago', '3'], ['SpO₂ (scale 1)', '95%', '5 min ago', '1'],
        ['Air or oxygen', 'Oxygen', '5 min ago', '2'], ['Systolic BP', '105 mmHg', '5 min ago', '1'],
        ['Pulse', '115 /min', '5 min ago', '2'], ['Consciousness', 'A', '5 min ago', '0'],
        ['Temperature', 'not measured', '', '\N{EN DASH}']]
    assert 'Total</th><td class="vigil-news2-points">≥9</td>' in html  # temperature missing: a lower bound


def test_a_stale_parameter_says_it_is_not_scored() -> None:
    html = breakdown_html(patient({VitalKind.TEMPERATURE: 39.5}, age=timedelta(hours=2)), NOW)
    assert ['Temperature', '39.5 °C', '2 h ago', '\N{EN DASH} stale, not scored'] in rows_of(html)


def test_the_card_opens_its_breakdown_from_the_news2_line() -> None:
    shown = patient({VitalKind.HEART_RATE: 115})
    closed, opened = card_html(shown, [], NOW), card_html(shown, [], NOW, news2_open=True)
    assert '<details class="vigil-news2"><summary' in closed and 'data-vigil-news2="3"' in closed
    assert '<details class="vigil-news2" open>' in opened
    assert '>High · 1 open</span>' in card_html(shown, [alert()], NOW)  # the badge says the priority in words
