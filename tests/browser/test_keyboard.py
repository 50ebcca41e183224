"""Keyboard use in real Chromium: focus that survives live updates; acknowledging the top alert with two keys."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import OpenAs
from .harness import VigilServer

pytestmark = pytest.mark.browser

# Counts, per card or row (NiceGUI element), how often the server changed what it says (one count per batch of
# DOM changes: an update is patched into the card's nodes in one go).
_COUNT_UPDATES = '''(selector) => {
  window.vigilTestUpdates = new Map();
  new MutationObserver((records) => {
    const touched = new Set();
    for (const record of records) {
      const node = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
      const item = node && node.closest(selector);
      if (item) touched.add(item.id);
    }
    for (const id of touched) window.vigilTestUpdates.set(id, (window.vigilTestUpdates.get(id) || 0) + 1);
  }).observe(document.body, {childList: true, subtree: true, characterData: true, attributes: true});
}'''


@pytest.fixture(scope='module')
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilServer]:
    """A demo server of this module without the simulator: only the alerts a test posts."""
    vigil = VigilServer(tmp_path_factory.mktemp('keyboard'))
    vigil.start()
    yield vigil
    vigil.stop()


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[VigilServer]:
    """A demo server of this test with the vitals simulator on: cards change every second."""
    vigil = VigilServer(tmp_path / 'vigil', simulator=True)
    vigil.start()
    yield vigil
    vigil.stop()


def live(page: Page) -> Page:
    expect(page.locator('header .vigil-conn')).to_have_text('Live')
    return page


def acknowledge_button(page: Page, message: str) -> Any:
    row = page.get_by_role('list').get_by_role('listitem').filter(has_text=message)
    return row.get_by_role('button', name='Acknowledge')


def test_keyboard_focus_on_a_patient_card_stays_through_live_vitals(simulated: VigilServer, open_as: OpenAs) -> None:
    page = live(open_as(simulated, 'charge'))
    page.evaluate(_COUNT_UPDATES, 'article.vigil-card')
    # A card the simulator keeps changing: the first one to have changed twice.
    card_id = page.wait_for_function('() => [...window.vigilTestUpdates].find(([, count]) => count >= 2)?.[0]',
                                     timeout=30_000).json_value()
    link = page.locator(f'#{card_id} a.vigil-card-name')
    href = link.get_attribute('href')
    link.focus()
    page.evaluate('(id) => { window.vigilTestFocused = document.activeElement; window.vigilTestUpdates.set(id, 0); }',
                  card_id)

    page.wait_for_function('(id) => window.vigilTestUpdates.get(id) >= 3', arg=card_id, timeout=60_000)

    focused = page.evaluate('''() => ({card: document.activeElement.closest('article')?.id,
        href: document.activeElement.getAttribute('href'), replaced: !window.vigilTestFocused.isConnected})''')
    # The very node keeps the focus: updates are patched into the card's nodes, never replacing the focused link.
    assert focused == {'card': card_id, 'href': href, 'replaced': False}


def test_keyboard_focus_on_an_alert_row_button_stays_when_the_row_changes(
        quiet: VigilServer, open_as: OpenAs) -> None:
    token = quiet.create_token('integration', 'Nurse call gateway')
    alert = quiet.post_alert(token, patient_mrn='G100205', priority='medium', message='Call bell, bed 5 (focus test)')
    page = live(open_as(quiet, 'charge'))
    row = page.get_by_role('listitem').filter(has_text='Call bell, bed 5 (focus test)')
    row.get_by_role('button', name='Resolve').focus()

    with quiet.api(token) as client:
        answer = client.post(f'/api/v1/alerts/{alert["id"]}/acknowledge', json={'acted_by': 'Sam Patel'})
        assert answer.status_code == 200, answer.text

    expect(row).to_contain_text('Acknowledged by')
    assert page.evaluate('() => document.activeElement.textContent') == 'Resolve'
    assert 'focus test' in page.evaluate('() => document.activeElement.closest("[role=listitem]").textContent')


def test_the_top_alert_is_acknowledged_with_two_keys(quiet: VigilServer, open_as: OpenAs) -> None:
    token = quiet.create_token('integration', 'Ventilator gateway')
    top = quiet.post_alert(token, patient_mrn='G100206', priority='critical', message='Ventilator disconnected')
    page = live(open_as(quiet, 'charge'))
    expect(acknowledge_button(page, 'Ventilator disconnected')).to_be_visible()
    page.evaluate('() => document.activeElement.blur()')  # nothing focused: as after signing in

    page.keyboard.press('a')
    expect(acknowledge_button(page, 'Ventilator disconnected')).to_be_focused()
    expect(page.locator('#vigil-shortcut-status')).to_contain_text('Ventilator disconnected')
    page.keyboard.press('Enter')

    with quiet.api(token) as client:
        expect(page.get_by_role('listitem').filter(has_text='Ventilator disconnected')) \
            .to_contain_text('Acknowledged by')
        assert client.get(f'/api/v1/alerts/{top["id"]}').json()['status'] == 'acknowledged'


def test_the_shortcut_is_listed_in_the_account_menu_and_behind_the_question_mark(
        quiet: VigilServer, open_as: OpenAs) -> None:
    page = live(open_as(quiet, 'doctor'))
    page.get_by_role('button', name='Account').click()
    page.get_by_text('Keyboard shortcuts', exact=True).click()
    dialog = page.get_by_role('dialog', name='Keyboard shortcuts')
    expect(dialog).to_contain_text('Go to the Acknowledge button of the top alert')
    dialog.get_by_role('button', name='Close').click()
    expect(dialog).to_be_hidden()
    # Shortcuts are ignored while any dialog is on screen, its closing animation included: wait until it is gone
    # (a full CI run once pressed "?" during the animation).
    expect(page.locator('.q-dialog')).to_have_count(0)

    page.keyboard.press('?')
    expect(page.get_by_role('dialog', name='Keyboard shortcuts')).to_be_visible()


_FOCUS_RING = '''() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  let behind = 'rgb(255, 255, 255)';
  for (let node = element.parentElement; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(colour) && colour !== 'transparent') { behind = colour; break; }
  }
  return {what: element.outerHTML.slice(0, 80), field: !!element.closest('.q-field'), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), ring: style.outlineColor, behind};
}'''


def luminance(css: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r'[\d.]+', css)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(first: str, second: str) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize('scheme', ['light', 'dark'])
def test_every_control_reached_with_tab_shows_a_focus_ring_of_3px_and_3_to_1(
        quiet: VigilServer, open_as: OpenAs, scheme: str) -> None:
    page = open_as(quiet, 'charge')
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.reload()
    live(page)
    page.evaluate('() => document.activeElement.blur()')
    weak = []
    for _ in range(25):
        page.keyboard.press('Tab')
        ring = page.evaluate(_FOCUS_RING)
        if ring['field']:
            continue  # a Quasar field shows its focus on its own outline, in the focus colour (components/focus.py)
        if ring['style'] != 'solid' or ring['width'] < 3 or contrast(ring['ring'], ring['behind']) < 3:
            weak.append(ring)
    assert not weak, f'{len(weak)} focused control(s) without a clear ring: {weak}'
