"""One visual language in Chromium: priority colours from the one table, the card's NEWS2 breakdown by keyboard,
acknowledging from the patient page."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Locator, Page, expect

from components.theme import PRIORITY_STYLES

from .conftest import OpenAs
from .harness import VigilServer

pytestmark = pytest.mark.browser
MRN = 'G100104'  # AMU-04, Tobias Grünwald in the demo


def rgb(locator: Locator, css_property: str) -> str:
    value = locator.evaluate(f'(element) => getComputedStyle(element)["{css_property}"]')
    return '#' + ''.join(f'{int(part):02x}' for part in re.findall(r'\d+', value)[:3])


def post_vitals(server: VigilServer, token: str, **values: float) -> None:
    at = datetime.now(UTC).isoformat()
    units = {'heart_rate': '/min', 'resp_rate': '/min', 'temperature': 'Cel'}
    with server.api(token) as client:
        response = client.post('/api/v1/vitals', json=[
            {'patient_mrn': MRN, 'kind': kind, 'value': value, 'unit': units[kind], 'measured_at': at}
            for kind, value in values.items()])
    assert response.status_code == 201, response.text


def card(page: Page) -> Locator:
    return page.locator('article.vigil-card').filter(has=page.locator('.vigil-card-bed', has_text='AMU-04'))


def test_the_card_breakdown_opens_from_the_keyboard_and_stays_open_while_values_change(
        server: VigilServer, open_as: OpenAs) -> None:
    device = server.create_token('device', 'visual monitor')
    post_vitals(server, device, heart_rate=131, resp_rate=22, temperature=38.6)
    page = open_as(server, 'charge')
    summary = card(page).locator('summary')
    expect(summary).to_contain_text('NEWS2')

    summary.focus()
    page.keyboard.press('Enter')

    table = card(page).get_by_role('table', name='NEWS2 breakdown')
    expect(table).to_be_visible()
    expect(table.get_by_role('row').filter(has_text='HR')).to_contain_text('131 /min')
    post_vitals(server, device, heart_rate=88)
    expect(table.get_by_role('row').filter(has_text='HR')).to_contain_text('88 /min')
    expect(table).to_be_visible()  # the card was re-rendered by the update and kept the breakdown open
    expect(card(page).locator('.vigil-vital-label', has_text='Temp °C')).to_be_visible()  # human units


def test_chips_wear_the_priority_table_and_the_patient_page_acknowledges(
        server: VigilServer, open_as: OpenAs) -> None:
    integration = server.create_token('integration', 'visual pager')
    alert = server.post_alert(integration, patient_mrn=MRN, priority='high', message='Visual: patient fall')
    page = open_as(server, 'charge', path='/patients/' + str(alert['patient_id']))

    row = page.get_by_role('region', name='Open alerts').get_by_role('listitem').filter(has_text='Visual: patient fall')
    chip = row.locator('.vigil-chip-high')
    expect(chip).to_have_text('High')
    high = PRIORITY_STYLES[next(p for p in PRIORITY_STYLES if p.value == 'high')]
    assert (rgb(chip, 'background-color'), rgb(chip, 'color')) == (high.colour, high.text)

    row.get_by_role('button', name='Acknowledge').click()

    expect(row).to_contain_text('Acknowledged by Jordan Ellis')
    expect(row.get_by_role('button', name='Acknowledge')).to_be_hidden()
