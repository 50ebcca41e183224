"""One visual language on the served demo: NEWS2 breakdowns, actions from the patient page, people by their names."""

import re

import pytest
from nicegui.testing import User

from app.domain import AlertStatus, Priority
from tests.test_ui_dashboard import (
    DEMO_PASSWORD,
    SIGN_IN_RETRIES,
    card_of,
    eventually,
    html_of,
    press,
    row_html,
    should_see_card,
    should_see_row,
)
from tests.test_ui_dashboard import sign_in as sign_in_dashboard
from tests.test_ui_pages import patient_id, raise_for, record, running, sign_in, staff

pytestmark = pytest.mark.usefixtures('quiet_demo')


def breakdown_rows(html: str) -> dict[str, list[str]]:
    """Return the NEWS2 breakdown's cells by parameter, tags stripped."""
    body = html[html.index('data-testid="news2-breakdown"'):]
    body = body[body.index('<tbody>'):body.index('</tbody>')]
    rows = [[re.sub(r'<[^>]+>', '', cell) for cell in re.findall(r'<t[hd][^>]*>(.*?)</t[hd]>', row)]
            for row in re.findall(r'<tr[^>]*>(.*?)</tr>', body)]
    return {row[0]: row[1:] for row in rows}


async def test_a_card_holds_its_news2_breakdown_closed_and_follows_updates(user: User) -> None:
    """The breakdown behind a card's NEWS2 line, in numbers; opening it is the browser's (tests/browser)."""
    await user.open('/login')
    patient = await patient_id('Marcus Okafor')
    await record('Marcus Okafor', heart_rate=131, resp_rate=22, temperature=38.6)
    await sign_in_dashboard(user, 'nurse', DEMO_PASSWORD)
    await should_see_card(user, patient)

    card = card_of(user, patient)
    assert '<details class="vigil-news2"><summary' in card  # closed until asked
    rows = breakdown_rows(card)
    assert rows['HR'][0] == '131 /min' and rows['HR'][2] == '3'  # the card's short names, as its vitals grid
    assert rows['RR'][0] == '22 /min' and rows['RR'][2] == '2'
    assert rows['Temp'][0] == '38.6 °C' and rows['Temp'][2] == '1'
    assert rows['Sys BP'] == ['not measured', '', '\N{EN DASH}']

    await record('Marcus Okafor', heart_rate=88)
    await eventually(lambda: '88 /min' in card_of(user, patient))  # the update re-rendered the card
    card = card_of(user, patient)
    # The room's card is the same for every page: it never says whether one page's reader opened it.
    assert breakdown_rows(card)['HR'][0] == '88 /min' and '<details class="vigil-news2"><summary' in card


async def test_the_patient_page_shows_the_news2_breakdown_in_numbers(user: User) -> None:
    await user.open('/login')
    patient = await patient_id('Marcus Okafor')
    await record('Marcus Okafor', spo2=90, on_oxygen=1, systolic_bp=95, consciousness=1)

    await sign_in(user, 'nurse', f'/patients/{patient}')
    await user.should_see(marker='current-values', retries=SIGN_IN_RETRIES)

    rows = breakdown_rows(html_of(user, 'current-values'))
    assert [rows[name][::2] for name in ('SpO₂ (scale 1)', 'Air or oxygen', 'Systolic BP', 'Consciousness')] == [
        ['90%', '0 counts now; 3 once confirmed'],  # SpO2 waits for its persistence delay
        ['Oxygen', '2'], ['95 mmHg', '2'], ['C', '3']]
    assert 'mm[Hg]' not in html_of(user, 'current-values')


async def test_acknowledge_and_resolve_from_the_patient_page(user: User) -> None:
    await user.open('/login')
    patient = await patient_id('Marcus Okafor')
    alert = await raise_for('Marcus Okafor', 'Patient fall', Priority.HIGH)
    await raise_for('Ingrid Solberg', 'Chest pain')  # another patient's alert stays off this page

    await sign_in(user, 'nurse', f'/patients/{patient}')
    await should_see_row(user, alert.id, retries=SIGN_IN_RETRIES)
    await user.should_not_see('Chest pain')
    row = row_html(user, alert.id)
    assert '>High</span>' in row and 'Raised by Alex Morgan<' in row

    user.find(marker='patient-alert-rows').trigger('click', {'action': 'acknowledge', 'alert': alert.id})
    await user.should_see('Acknowledged by Sam Patel')
    vigil, _ = running()
    current = await vigil.alerts.get(await staff('admin'), alert.id)
    assert (current.status, current.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, 'Sam Patel (nurse)')

    user.find(marker='patient-alert-rows').trigger('click', {'action': 'resolve', 'alert': alert.id})
    await user.should_see('No open alerts for this patient in your scope.')
    assert (await vigil.alerts.get(await staff('admin'), alert.id)).resolved_by == 'Sam Patel (nurse)'


async def test_an_acknowledgement_of_an_alert_that_changed_meanwhile_is_refused_with_the_reason(user: User) -> None:
    await user.open('/login')
    vigil, hub = running()
    patient = await patient_id('Marcus Okafor')
    alert = await raise_for('Marcus Okafor', 'Patient fall', Priority.HIGH)
    await sign_in(user, 'nurse', f'/patients/{patient}')
    await should_see_row(user, alert.id, retries=SIGN_IN_RETRIES)

    hub.stop()  # this page misses the event: it still shows the version it had
    await vigil.alerts.resolve(await staff('charge'), alert.id)
    hub.start()
    user.find(marker='patient-alert-rows').trigger('click', {'action': 'acknowledge', 'alert': alert.id})

    await user.should_see('Not acknowledged:')
    await user.should_see('No open alerts for this patient in your scope.')  # and the page shows the alert as it is
    assert (await vigil.alerts.get(await staff('admin'), alert.id)).acknowledged_by is None


async def test_rows_name_people_by_their_display_name_and_the_audit_adds_the_username(user: User) -> None:
    await user.open('/login')
    alert = await raise_for('Marcus Okafor', 'Patient fall', by='nurse')
    await sign_in(user, 'charge', f'/patients/{alert.patient_id}')
    await should_see_row(user, alert.id, retries=SIGN_IN_RETRIES)
    assert 'Raised by Sam Patel<' in row_html(user, alert.id)

    user.find(marker='patient-alert-rows').trigger('click', {'action': 'acknowledge', 'alert': alert.id})

    await user.should_see('Acknowledged by Jordan Ellis')
    assert '(charge)' not in row_html(user, alert.id)
    await user.open('/audit')
    await user.should_see('2 entries', retries=SIGN_IN_RETRIES)
    table = str(user.find(marker='audit-table').elements.pop().content)  # type: ignore[attr-defined]
    assert '<td>Jordan Ellis (charge)</td>' in table and '<td>Sam Patel (nurse)</td>' in table


async def test_the_alert_list_names_people_by_their_display_name(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    alert = await raise_for('Marcus Okafor', 'Patient fall', by='nurse')
    await vigil.alerts.acknowledge(await staff('admin'), alert.id)
    await sign_in_dashboard(user, 'charge', DEMO_PASSWORD)
    await should_see_row(user, alert.id, 'Acknowledged by Alex Morgan')
    assert 'Raised by Sam Patel<' in row_html(user, alert.id)

    press(user, 'resolve', alert.id)

    await should_see_row(user, alert.id, 'Resolved by Jordan Ellis')
    assert '(charge)' not in row_html(user, alert.id)
