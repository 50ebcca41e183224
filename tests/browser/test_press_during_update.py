"""A press that an update interrupts still counts: live cards and rows are patched in place, not replaced.

A patient's card is re-sent whenever its vitals change (every few seconds on a monitored ward) and an alert's row
whenever the alert changes. When that replaced the element's HTML, a finger or mouse that was down on the card's
"Raise alert" button or the row's "Acknowledge" lifted over a different node, and the browser sent no click: the
tap was lost without a trace. These tests hold the button down, let the server update the card or row, then let go.
"""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Locator, Page, expect

from .conftest import OpenAs
from .harness import VigilServer

pytestmark = pytest.mark.browser
MRN, BED, NAME = 'G100105', 'AMU-05', 'Grace Adebayo'  # the demo's patient in AMU-05


def post_heart_rate(server: VigilServer, token: str, value: int) -> None:
    with server.api(token) as client:
        response = client.post('/api/v1/vitals', json=[{'patient_mrn': MRN, 'kind': 'heart_rate', 'value': value,
                                                         'unit': '/min', 'measured_at': datetime.now(UTC).isoformat()}])
    assert response.status_code == 201, response.text


def card(page: Page) -> Locator:
    return page.locator('article.vigil-card').filter(has=page.locator('.vigil-card-bed', has_text=BED))


def press(page: Page, target: Locator) -> None:
    """Put the mouse down in the middle of `target` and keep it down."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box is not None
    page.mouse.move(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
    page.mouse.down()


def test_a_raise_press_held_through_a_vitals_update_of_the_card_opens_the_dialog(
        server: VigilServer, open_as: OpenAs) -> None:
    device = server.create_token('device', 'press test monitor')
    post_heart_rate(server, device, 71)
    page = open_as(server, 'charge')
    heart_rate = card(page).locator('.vigil-vital').filter(has_text='HR')
    expect(heart_rate).to_contain_text('71')
    button = page.get_by_role('button', name=f'Raise alert for {NAME}')
    press(page, button)

    post_heart_rate(server, device, 73)
    expect(heart_rate).to_contain_text('73')  # the card was updated under the pressed button
    page.mouse.up()

    dialog = page.get_by_role('dialog', name='Raise an alert')
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role('combobox', name='Patient')).to_have_value(f'{BED} · {NAME} (Acute Medical Unit)')
    page.keyboard.press('Escape')
    expect(dialog).to_be_hidden()

    # Keyboard users keep their place too: the focused button is still the focused button after an update.
    button.focus()
    post_heart_rate(server, device, 75)
    expect(heart_rate).to_contain_text('75')
    expect(button).to_be_focused()


def test_an_acknowledge_press_held_through_an_update_of_the_row_acknowledges(
        server: VigilServer, open_as: OpenAs) -> None:
    integration = server.create_token('integration', 'press test pump')
    alert = {'patient_mrn': MRN, 'priority': 'high', 'message': 'Pump occlusion (press test)',
             'dedup_key': 'press-test:occlusion'}
    server.post_alert(integration, **alert)
    page = open_as(server, 'nurse')
    row = page.get_by_role('listitem').filter(has_text='Pump occlusion (press test)')
    expect(row).to_contain_text('Active')
    press(page, row.get_by_role('button', name='Acknowledge'))

    server.post_alert(integration, **alert)  # the pump repeats it: the same alert, one more occurrence
    expect(row).to_contain_text('2 occurrences')
    page.mouse.up()

    expect(row).to_contain_text('Acknowledged')
    expect(row.get_by_role('button', name='Acknowledge')).to_have_count(0)


def test_a_resolve_press_held_while_someone_else_acknowledges_resolves_and_does_nothing_else(
        own_server: VigilServer, open_as: OpenAs) -> None:
    """The row loses its Acknowledge button under the press: the pressed Resolve stays Resolve, never another button.

    On a server of its own: with other alerts open, the acknowledged row would move below them, out from under the
    pointer (the browser then clicks nothing, rightly).
    """
    server = own_server
    integration = server.create_token('integration', 'press test ventilator')
    created = server.post_alert(integration, patient_mrn=MRN, priority='high', message='Ventilator disconnect (press)')
    page = open_as(server, 'nurse')
    row = page.get_by_role('listitem').filter(has_text='Ventilator disconnect (press)')
    expect(row.get_by_role('button', name='Acknowledge')).to_be_visible()
    press(page, row.get_by_role('button', name='Resolve'))

    with server.api(integration) as client:
        response = client.post(f'/api/v1/alerts/{created["id"]}/acknowledge',
                               json={'acted_by': 'Dr Ward Round (pager)'})
    assert response.status_code == 200, response.text
    expect(row.get_by_role('button', name='Acknowledge')).to_have_count(0)
    page.mouse.up()

    expect(row).to_contain_text('Resolved')
    with server.api(integration) as client:
        alert = client.get(f'/api/v1/alerts/{created["id"]}').json()
    assert alert['status'] == 'resolved'
    assert 'Dr Ward Round (pager)' in alert['acknowledged_by']
    assert 'Dr Ward Round' not in alert['resolved_by']  # resolved by the nurse who pressed, through the row


def test_an_open_news2_breakdown_stays_open_through_updates_on_the_page_that_opened_it(
        server: VigilServer, open_as: OpenAs) -> None:
    device = server.create_token('device', 'breakdown test monitor')
    post_heart_rate(server, device, 92)
    page, other = open_as(server, 'charge'), open_as(server, 'charge')  # two pages of one cards room
    breakdown, elsewhere = card(page).locator('details.vigil-news2'), card(other).locator('details.vigil-news2')
    expect(breakdown.locator('[data-testid=news2-breakdown]')).to_contain_text('92 /min')
    card(page).locator('summary.vigil-card-status').click()
    expect(breakdown).to_have_attribute('open', '')

    post_heart_rate(server, device, 94)
    expect(breakdown.locator('[data-testid=news2-breakdown]')).to_contain_text('94 /min')  # updated while open
    expect(breakdown).to_have_attribute('open', '')
    expect(elsewhere.locator('[data-testid=news2-breakdown]')).to_contain_text('94 /min')
    expect(elsewhere).not_to_have_attribute('open', '')  # the other page's reader never opened it

    card(page).locator('summary.vigil-card-status').click()
    expect(breakdown).not_to_have_attribute('open', '')
    post_heart_rate(server, device, 96)
    expect(breakdown.locator('[data-testid=news2-breakdown]')).to_contain_text('96 /min')
    expect(breakdown).not_to_have_attribute('open', '')


def test_a_card_patched_by_an_update_shows_its_clock_times_in_the_browsers_time_zone_at_once(
        server: VigilServer, open_as: OpenAs) -> None:
    # The server writes "HH:MM UTC"; the browser shows the time in its own zone ("HH:MM"). A patch puts the server's
    # text back into the same text node, which must be painted again at once (the periodic repaint is 15 s away).
    device = server.create_token('device', 'clock test monitor')
    post_heart_rate(server, device, 81)
    page = open_as(server, 'charge')
    heart_rate = card(page).locator('.vigil-vital').filter(has_text='HR')
    due = card(page).locator('.vigil-obs time')
    expect(heart_rate).to_contain_text('81')
    expect(due).not_to_contain_text('UTC')
    for value in (83, 85, 87):
        post_heart_rate(server, device, value)
        expect(heart_rate).to_contain_text(str(value))
        expect(due).not_to_contain_text('UTC', timeout=1000)
