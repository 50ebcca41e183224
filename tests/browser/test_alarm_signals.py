"""Alarm signals in a real browser: the IEC pattern a critical alert starts, pause, title count, notifications, phones.

The audio scheduler records every pattern it starts (`window.vigilAlarm.started`), so the tests observe which
pattern a page plays without timing or listening to real audio output.
"""

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from .conftest import OpenAs
from .harness import VigilServer, sign_in

pytestmark = pytest.mark.browser

PHONE = {'width': 390, 'height': 844}
# Records every `new Notification(...)` and still calls the browser's own constructor.
RECORD_NOTIFICATIONS = '''
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  function Recording(title, options) {
    window.__notifications.push({title: title, body: (options || {}).body, tag: (options || {}).tag});
    return new Real(title, options);
  }
  Object.defineProperty(Recording, 'permission', {get: () => Real.permission});
  Recording.requestPermission = (...args) => Real.requestPermission(...args);
  Recording.prototype = Real.prototype;
  window.Notification = Recording;
})();
'''
# A tab behind another one: the page sees itself hidden.
HIDDEN_TAB = '''
Object.defineProperty(document, 'visibilityState', {get: () => 'hidden'});
Object.defineProperty(document, 'hidden', {get: () => true});
'''


@pytest.fixture(scope='module')
def alarm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilServer]:
    """A quiet demo server of this module alone: the counts these tests read are theirs."""
    vigil = VigilServer(tmp_path_factory.mktemp('vigil-alarm'))
    vigil.start()
    yield vigil
    vigil.stop()


@pytest.fixture(scope='module')
def gateway(alarm_server: VigilServer) -> str:
    return alarm_server.create_token('integration', 'Alarm test gateway')


class Alerts:
    """Raises alerts through the HTTP API and answers them; whatever a test leaves open is resolved after it."""

    def __init__(self, server: VigilServer, token: str) -> None:
        self._server, self._token, self._open = server, token, set[int]()

    def raise_(self, mrn: str, priority: str, message: str) -> int:
        alert_id = int(self._server.post_alert(self._token, patient_mrn=mrn, priority=priority, message=message)['id'])
        self._open.add(alert_id)
        return alert_id

    def answer(self, alert_id: int, action: str = 'acknowledge') -> None:
        with self._server.api(self._token) as client:
            response = client.post(f'/api/v1/alerts/{alert_id}/{action}', json={'acted_by': 'Sam at the bedside'})
        assert response.status_code == 200, response.text
        if action == 'resolve':
            self._open.discard(alert_id)

    def resolve_all(self) -> None:
        for alert_id in list(self._open):
            with self._server.api(self._token) as client, contextlib.suppress(httpx.HTTPError):
                client.post(f'/api/v1/alerts/{alert_id}/resolve', json={'acted_by': 'Sam'})  # 409 if resolved already
        self._open.clear()


@pytest.fixture
def alerts(alarm_server: VigilServer, gateway: str) -> Iterator[Alerts]:
    raised = Alerts(alarm_server, gateway)
    yield raised
    raised.resolve_all()


def started(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate('window.vigilAlarm.started')
    return result


def wait_for_pattern(page: Page, priority: str, *, audible: bool = True) -> dict[str, Any]:
    """Wait until the scheduler starts this priority's pattern, and return what it recorded."""
    page.wait_for_function(
        '([priority, audible]) => window.vigilAlarm.started.some((s) => s.priority === priority'
        ' && s.audible === audible)', arg=[priority, audible])
    return next(s for s in started(page) if s['priority'] == priority and s['audible'] == audible)


def test_a_critical_alert_starts_the_high_priority_pattern_until_it_is_acknowledged_and_counts_in_the_title(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    nurse = open_as(alarm_server, 'nurse', path='/audit')
    expect(nurse).to_have_title('Audit trail · Vigil')
    nurse.wait_for_function('window.vigilAlarm.state !== null')
    normal_icon = nurse.evaluate('document.querySelector("link[rel~=icon]").href')

    critical = alerts.raise_('G100102', 'critical', 'Code Blue')

    pattern = wait_for_pattern(nurse, 'critical')
    assert pattern['iec'] == 'high' and pattern['pulses'] == 10  # IEC 60601-1-8 high priority: a 10-pulse burst
    expect(nurse).to_have_title('(1) Audit trail · Vigil')
    assert nurse.evaluate('document.querySelector("link[rel~=icon]").href').startswith('data:image/png')
    expect(nurse.locator('.q-notification').filter(has_text='Code Blue')).to_be_visible()
    expect(nurse.get_by_role('button', name='Pause sound 2 min')).to_be_visible()

    alerts.answer(critical)

    nurse.wait_for_function('window.vigilAlarm.playing === null')
    expect(nurse).to_have_title('Audit trail · Vigil')
    assert nurse.evaluate('document.querySelector("link[rel~=icon]").href') == normal_icon
    expect(nurse.locator('.q-notification').filter(has_text='Code Blue')).to_have_count(0)  # the toast follows
    expect(nurse.locator('.vigil-alarm-pause')).to_be_hidden()


def test_pause_silences_for_a_bounded_visible_time_and_never_hides_the_alert(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    nurse = open_as(alarm_server, 'nurse', path='/audit')
    nurse.wait_for_function('window.vigilAlarm.state !== null')
    alerts.raise_('G100103', 'critical', 'Respiratory arrest')
    wait_for_pattern(nurse, 'critical')

    nurse.get_by_role('button', name='Pause sound 2 min').click()

    pause = nurse.locator('.vigil-alarm-pause')
    expect(pause).to_have_text(re.compile(r'^Sound paused (2:00|1:5\d)$'))
    nurse.wait_for_function('window.vigilAlarm.playing === null')
    expect(nurse.locator('.q-notification').filter(has_text='Respiratory arrest')).to_be_visible()
    expect(nurse).to_have_title('(1) Audit trail · Vigil')
    count = len(started(nurse))

    # Pausing silences the alarms present, never a new one.
    alerts.raise_('G100104', 'critical', 'Seizure')
    nurse.wait_for_function(f'window.vigilAlarm.started.length > {count}')
    expect(pause).to_have_text('Pause sound 2 min')
    assert nurse.evaluate('window.vigilAlarm.playing') == 'critical'


def test_locked_audio_is_explained_and_one_click_unlocks_it(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    signed_in = open_as(alarm_server, 'nurse', path='/audit')
    # A new tab opened by address: no interaction with this page yet, so the browser keeps audio locked.
    nurse = signed_in.context.new_page()
    nurse.goto(f'{alarm_server.url}/audit')
    nurse.wait_for_function('window.vigilAlarm.state !== null')
    unlock = nurse.get_by_text('Click anywhere to allow alarm sound')
    expect(unlock).to_be_hidden()  # nothing would sound: nothing to explain

    alerts.raise_('G100105', 'critical', 'Code Blue')

    wait_for_pattern(nurse, 'critical', audible=False)
    expect(unlock).to_be_visible()
    # The line spans the header without widening the page (it once added 23 px of sideways scroll).
    assert nurse.evaluate('document.documentElement.scrollWidth') == nurse.viewport_size['width']
    nurse.mouse.click(640, 600)  # anywhere
    wait_for_pattern(nurse, 'critical', audible=True)
    expect(unlock).to_be_hidden()


def test_sound_off_is_remembered_and_plays_nothing(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    nurse = open_as(alarm_server, 'nurse', path='/audit')
    nurse.get_by_role('button', name='Sound on').click()
    expect(nurse.get_by_role('button', name='Sound off')).to_be_visible()
    nurse.reload()
    expect(nurse.get_by_role('button', name='Sound off')).to_be_visible()
    nurse.wait_for_function('window.vigilAlarm.state !== null')

    alerts.raise_('G100106', 'critical', 'Code Blue')

    expect(nurse).to_have_title('(1) Audit trail · Vigil')  # the visual signals stay
    assert started(nurse) == []
    nurse.get_by_role('button', name='Sound off').click()
    wait_for_pattern(nurse, 'critical')


def test_a_hidden_tab_shows_one_browser_notification_per_new_waiting_alert(
        alarm_server: VigilServer, browser: Browser, alerts: Alerts) -> None:
    context = browser.new_context(viewport={'width': 1280, 'height': 800}, permissions=['notifications'],
                                  base_url=alarm_server.url)
    try:
        page = context.new_page()
        sign_in(page, alarm_server, 'nurse', next_path='/audit')
        page.get_by_role('button', name='Account').click()
        page.get_by_text('Browser notifications: off').click()
        expect(page.get_by_text('Browser notifications: on')).to_be_visible()
        context.add_init_script(RECORD_NOTIFICATIONS + HIDDEN_TAB)
        page.reload()
        page.wait_for_function('window.vigilAlarm.state !== null && window.vigilAlarm.config.notify')
        assert page.evaluate('document.visibilityState') == 'hidden'

        first = alerts.raise_('G100107', 'critical', 'Code Blue')
        alerts.raise_('G100108', 'medium', 'Needs a hand')  # not waiting: no notification
        second = alerts.raise_('G100101', 'high', 'Fall')

        page.wait_for_function('window.__notifications.length >= 2')
        shown = page.evaluate('window.__notifications')
        assert [n['tag'] for n in shown] == [f'vigil-alert-{first}', f'vigil-alert-{second}']
        assert shown[0]['title'] == 'Vigil: Critical alert'
        assert shown[0]['body'] == 'Critical · Bed AMU-07 · Acute Medical Unit · Code Blue'  # no patient name
    finally:
        context.close()


def test_three_critical_toasts_cover_less_than_a_quarter_of_a_phone(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts, tmp_path: Path) -> None:
    phone = open_as(alarm_server, 'nurse', viewport=PHONE, path='/audit')
    phone.wait_for_function('window.vigilAlarm.state !== null')
    for mrn, message in (('G100102', 'Code Blue'), ('G100103', 'Respiratory arrest'), ('G100104', 'Seizure')):
        alerts.raise_(mrn, 'critical', message)
    expect(phone.get_by_role('button', name='+2 more')).to_be_visible()
    expect(phone.locator('.q-notification').filter(has_text='Seizure')).to_be_visible()

    covered = phone.evaluate('''() => [...document.querySelectorAll('.q-notification, .vigil-toasts-more')]
        .map((e) => e.getBoundingClientRect()).filter((r) => r.width && r.height)
        .reduce((sum, r) => sum + r.width * r.height, 0)''')
    assert covered < PHONE['width'] * PHONE['height'] / 4, f'toasts cover {covered:.0f} px²'
    assert phone.evaluate('document.documentElement.scrollWidth') <= PHONE['width']  # no sideways scroll

    phone.get_by_role('button', name='+2 more').click()
    expect(phone.locator('.q-notification').filter(has_text='Code Blue')).to_be_visible()


def test_the_wall_display_sounds_every_priority_once_tapped_and_counts_in_its_title(
        alarm_server: VigilServer, anonymous: Page, alerts: Alerts) -> None:
    anonymous.goto(f'{alarm_server.url}/kiosk?token={alarm_server.create_token("kiosk", "Alarm test display")}')
    board = anonymous.frame_locator('#display')
    expect(board.locator('.vigil-conn-live')).to_be_visible()
    # NOTE: Playwright's own evaluations in a frame count as a user gesture there, so the board may be unlocked by
    # now; while it is locked the line fills the top of the screen (the staff pages' test covers the locked state).
    tap = board.locator('.vigil-kiosk-unlock')
    expect(tap).to_have_text('Tap to enable alarm sound')
    board.locator('.vigil-kiosk-list').click()  # a tap anywhere unlocks
    expect(tap).to_be_hidden()

    alerts.raise_('G100105', 'medium', 'Needs a hand')

    frame = anonymous.frame(url=re.compile(r'/kiosk/display'))
    assert frame is not None
    frame.wait_for_function('window.vigilAlarm.started.some((s) => s.priority === "medium" && s.audible)')
    assert next(s for s in frame.evaluate('window.vigilAlarm.started') if s['priority'] == 'medium')['pulses'] == 3
    expect(anonymous).to_have_title('Vigil · Wall display')  # a medium alert is not waiting

    alerts.raise_('G100106', 'high', 'Fall')
    frame.wait_for_function('window.vigilAlarm.playing === "high"')
    expect(anonymous).to_have_title('(1) Vigil · Wall display')


def contrast(foreground: tuple[float, ...], background: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255)."""
    def luminance(rgb: tuple[float, ...]) -> float:
        parts = [c / 255 for c in rgb[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_toast_colour_keeps_its_close_button_readable(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    nurse = open_as(alarm_server, 'nurse', path='/audit')
    nurse.wait_for_function('window.vigilAlarm.state !== null')
    for mrn, priority in (('G100102', 'critical'), ('G100103', 'high'), ('G100104', 'medium'), ('G100105', 'low')):
        alerts.raise_(mrn, priority, f'Contrast check {priority}')
    for priority in ('critical', 'high', 'medium', 'low'):
        toast = nurse.locator(f'.vigil-toast-{priority}')
        expect(toast).to_be_visible()
        colours = toast.locator('.q-btn').evaluate('''(button) => [getComputedStyle(button).color,
            getComputedStyle(button).backgroundColor].map((c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number))''')
        ratio = contrast(tuple(colours[0]), tuple(colours[1]))
        assert ratio >= 4.5, f'the {priority} toast\'s button is {ratio:.2f}:1'


def toast(page: Page, text: str) -> Locator:
    return page.locator('.q-notification').filter(has_text=text)


def test_a_critical_toast_stays_a_passing_one_times_out_and_a_reload_brings_back_the_waiting_critical_ones(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    nurse = open_as(alarm_server, 'nurse', path='/audit')
    nurse.wait_for_function('window.vigilAlarm.state !== null')
    alerts.raise_('G100102', 'critical', 'Code Blue')
    alerts.raise_('G100103', 'medium', 'Needs a hand')
    answered = alerts.raise_('G100104', 'critical', 'Seizure')

    code_blue = toast(nurse, 'Critical · AMU-02')
    expect(code_blue).to_contain_text('Critical · AMU-02 Marcus Okafor · Code Blue')
    expect(code_blue).to_have_class(re.compile(r'\bvigil-toast vigil-toast-critical\b'))
    expect(code_blue.get_by_role('button', name='Dismiss')).to_be_visible()
    expect(toast(nurse, 'Needs a hand')).to_be_visible()
    expect(toast(nurse, 'Seizure')).to_be_visible()
    alerts.answer(answered)
    expect(toast(nurse, 'Seizure')).to_have_count(0)  # answered elsewhere: it goes

    expect(toast(nurse, 'Needs a hand')).to_have_count(0, timeout=20_000)  # after its 10 s
    expect(code_blue).to_be_visible()  # a critical one stays until answered

    nurse.reload()
    expect(toast(nurse, 'Code Blue')).to_be_visible()  # still waiting: toasted again
    nurse.wait_for_function('window.vigilAlarm.snapshots > 0')
    expect(toast(nurse, 'Seizure')).to_have_count(0)
    expect(toast(nurse, 'Needs a hand')).to_have_count(0)


def test_dismissing_a_critical_toast_takes_it_off_that_screen_only(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    desk, phone = open_as(alarm_server, 'nurse', path='/audit'), open_as(alarm_server, 'nurse', viewport=PHONE)
    for page in (desk, phone):
        page.wait_for_function('window.vigilAlarm.state !== null')
    critical = alerts.raise_('G100102', 'critical', 'Code Blue')
    for page in (desk, phone):
        expect(toast(page, 'Code Blue')).to_be_visible()

    toast(desk, 'Code Blue').get_by_role('button', name='Dismiss').click()

    expect(toast(desk, 'Code Blue')).to_have_count(0)
    expect(toast(phone, 'Code Blue')).to_be_visible()
    expect(desk).to_have_title('(1) Audit trail · Vigil')  # dismissing a toast answers nothing
    alerts.answer(critical)
    expect(toast(phone, 'Code Blue')).to_have_count(0)


def test_a_page_that_missed_an_event_of_its_signals_room_asks_for_the_snapshot(
        alarm_server: VigilServer, open_as: OpenAs, alerts: Alerts) -> None:
    nurse = open_as(alarm_server, 'nurse', path='/audit')
    nurse.wait_for_function('window.vigilAlarm.snapshots > 0')
    critical = alerts.raise_('G100102', 'critical', 'Code Blue')
    expect(toast(nurse, 'Code Blue')).to_be_visible()

    # An event after one that never came: not applied (it would take the toast away), the snapshot is asked for.
    nurse.evaluate('''(id) => {
        const room = document.querySelector('[data-signals]').dataset.signals;
        for (const listener of window.socket.listeners('vigil_room')) listener({room: room, seq: 1e6, hide: [id]});
    }''', critical)
    nurse.wait_for_function('window.vigilAlarm.snapshots > 1')
    expect(toast(nurse, 'Code Blue')).to_be_visible()
    assert nurse.evaluate('window.vigilAlarm.state.waiting') == 1
