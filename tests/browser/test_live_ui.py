"""What staff and wall displays see in a real browser: alerts crossing between screens, colours, layout, restarts."""

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from app.bootstrap import build
from app.config import Settings
from app.domain import Priority
from app.schemas import Actor, NewAlert

from ..conftest import run_sync
from .conftest import OpenAs
from .harness import VigilServer

pytestmark = pytest.mark.browser

PHONE = {'width': 390, 'height': 844}
TOUCH_TARGET_PX = 44


def alert_row(page: Page, *texts: str) -> Locator:
    """The Alert List row that says all of these texts."""
    row = page.get_by_role('list').get_by_role('listitem')
    for text in texts:
        row = row.filter(has_text=text)
    return row


def kiosk_row(kiosk: Page, text: str) -> Locator:
    """The wall display's row that says this text (the board runs in a frame of the kiosk shell)."""
    return kiosk.frame_locator('#display').get_by_role('listitem').filter(has_text=text)


def connection(page: Page) -> Locator:
    return page.locator('header .vigil-conn')


def rgb(locator: Locator, css_property: str) -> tuple[int, ...]:
    """The computed colour of a CSS property, as the browser paints it."""
    value = locator.evaluate(f'(element) => getComputedStyle(element)["{css_property}"]')
    return tuple(int(part) for part in re.findall(r'\d+', value)[:3])


def open_kiosk(page: Page, server: VigilServer) -> Page:
    page.goto(f'{server.url}/kiosk?token={server.create_token("kiosk", "Corridor wall display")}')
    expect(page.frame_locator('#display').locator('.vigil-conn-live')).to_be_visible()
    return page


def raise_while_stopped(server: VigilServer, mrn: str, message: str) -> None:
    """Raise an alert through the service layer straight into the stopped server's database."""
    async def raise_it() -> None:
        vigil = build(Settings(data_dir=server.data_dir, database_url=None, redis_url=None))
        try:
            hospital = await vigil.hospitals.get('general')
            actor = Actor.system('browser test', hospital_id=hospital.id)
            patient = next(p for p in await vigil.patients.list_patients(actor) if p.mrn == mrn)
            await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.HIGH, message=message,
                                                           patient_id=patient.id))
        finally:
            await vigil.close()

    assert not server.running
    run_sync(raise_it)


# --- alerts cross from screen to screen ----------------------------------------------------------------------------

def test_an_alert_raised_by_hand_reaches_the_other_user_in_red_and_their_resolve_comes_back(
        server: VigilServer, open_as: OpenAs) -> None:
    charge = open_as(server, 'charge')
    doctor = open_as(server, 'doctor')
    for page in (charge, doctor):
        expect(connection(page)).to_have_text('Live')

    charge.get_by_role('button', name='Raise alert for Eleanor Whitfield').click()
    charge.get_by_role('dialog').get_by_role('button', name='Code Blue').click()
    charge.get_by_role('button', name='Send now').click()  # instead of waiting out the 5 s to undo it

    row = alert_row(doctor, 'Eleanor Whitfield', 'Code Blue')
    expect(row).to_be_visible()
    expect(row).to_contain_text('Critical')
    expect(row).to_contain_text('Raised by Jordan Ellis')
    expect(doctor.locator('.q-notification').filter(has_text='Code Blue')).to_be_visible()  # the toast
    red, green, blue = rgb(row, 'border-left-color')
    assert red > 150 and green < 90 and blue < 90, f'a critical row is edged rgb{(red, green, blue)}, not red'
    red, green, blue = rgb(row, 'background-color')
    assert red > green + 10 and red > blue + 10, f'an active critical row is filled rgb{(red, green, blue)}, not red'

    row.get_by_role('button', name='Resolve').click()

    expect(alert_row(charge, 'Eleanor Whitfield', 'Code Blue')).to_contain_text('Resolved by')
    expect(alert_row(charge, 'Eleanor Whitfield', 'Code Blue').get_by_role('button', name='Acknowledge')).to_be_hidden()


def test_an_alert_posted_through_the_api_reaches_both_users_and_the_kiosk_and_so_does_its_acknowledgement(
        server: VigilServer, open_as: OpenAs, anonymous: Page) -> None:
    charge = open_as(server, 'charge')
    doctor = open_as(server, 'doctor')
    elsewhere = open_as(server, 'rnurse')  # Riverside Community Hospital
    kiosk = open_kiosk(anonymous, server)
    for page in (charge, doctor, elsewhere):
        expect(connection(page)).to_have_text('Live')
    token = server.create_token('integration', 'Infusion pump gateway')

    posted: dict[str, Any] = server.post_alert(token, patient_mrn='G100103', priority='high',
                                               message='Infusion pump occlusion on line 2')

    for page in (charge, doctor):
        expect(alert_row(page, 'Priya Raman', 'Infusion pump occlusion on line 2')).to_contain_text('Active')
    expect(kiosk_row(kiosk, 'Infusion pump occlusion on line 2')).to_contain_text('Not acknowledged')
    assert posted['status'] == 'active'
    # Delivered by now to every page of the process: the other hospital's page shows nothing of it.
    expect(elsewhere.get_by_text('Infusion pump occlusion')).to_have_count(0)
    expect(elsewhere.get_by_text('Priya Raman')).to_have_count(0)

    alert_row(charge, 'Infusion pump occlusion').get_by_role('button', name='Acknowledge').click()

    expect(alert_row(doctor, 'Priya Raman', 'Infusion pump occlusion')).to_contain_text('Acknowledged by')
    expect(kiosk_row(kiosk, 'Infusion pump occlusion')).to_contain_text('Acknowledged')
    expect(alert_row(charge, 'Priya Raman', 'Infusion pump occlusion')).to_contain_text('Acknowledged by')


# --- a server restart ---------------------------------------------------------------------------------------------

def test_the_dashboard_and_the_kiosk_come_back_by_themselves_after_a_server_restart(
        own_server: VigilServer, open_as: OpenAs, anonymous: Page) -> None:
    charge = open_as(own_server, 'charge')
    kiosk = open_kiosk(anonymous, own_server)
    expect(connection(charge)).to_have_text('Live')

    own_server.stop()

    expect(connection(charge)).to_have_text('Reconnecting…')
    expect(connection(charge)).to_have_class(re.compile(r'\bvigil-conn-reconnecting\b'))
    raise_while_stopped(own_server, 'G100105', 'Raised while the server was down')

    own_server.start()

    # No reload from the test: the pages find their way back to the live state, and to what happened meanwhile.
    expect(connection(charge)).to_have_text('Live', timeout=30_000)
    expect(alert_row(charge, 'Grace Adebayo', 'Raised while the server was down')).to_be_visible()
    expect(kiosk_row(kiosk, 'Raised while the server was down')).to_be_visible(timeout=30_000)
    expect(kiosk.frame_locator('#display').locator('.vigil-conn-live')).to_be_visible()


# --- what only a browser can tell: layout and touch targets -------------------------------------------------------

def test_on_a_phone_the_dashboard_fits_the_width_and_every_button_is_a_44px_touch_target(
        server: VigilServer, open_as: OpenAs) -> None:
    nurse = open_as(server, 'nurse', viewport=PHONE)
    expect(connection(nurse)).to_have_text('Live')
    nurse.get_by_role('button', name='Raise alert for Tomasz Nowak').click()
    dialog = nurse.get_by_role('dialog')
    expect(dialog.get_by_role('button', name='Assistance needed')).to_be_visible()
    assert_touch_targets(nurse, 'the raise-alert dialog')

    dialog.get_by_role('button', name='Assistance needed').click()

    expect(alert_row(nurse, 'Tomasz Nowak', 'Assistance needed').get_by_role('button', name='Acknowledge')) \
        .to_be_visible()
    overflow = nurse.evaluate('() => document.documentElement.scrollWidth - document.documentElement.clientWidth')
    assert overflow <= 0, f'the dashboard scrolls sideways by {overflow} px on a 390 px wide phone'
    assert_touch_targets(nurse, 'the dashboard')


def assert_touch_targets(page: Page, where: str) -> None:
    """Every visible button of the page is at least 44 px tall (WCAG 2.5.5; gloved hands on a ward)."""
    # Measured at rest: a dialog still scaling in (Quasar's opening transition) shows its buttons a few px smaller.
    # Endless animations (a flashing critical alert) never finish and do not change sizes.
    page.wait_for_function('document.getAnimations().every(a => a.playState !== "running" '
                           '|| a.effect.getTiming().iterations === Infinity)')
    small = [f'{button.get_attribute("aria-label") or button.inner_text().strip()!r}: {box["height"]:.0f} px'
             for button in page.get_by_role('button').all() if button.is_visible()
             if (box := button.bounding_box()) is not None and box['height'] < TOUCH_TARGET_PX]
    assert not small, f'buttons of {where} smaller than {TOUCH_TARGET_PX} px: {small}'


def test_the_alert_list_filters_and_counts_in_the_browser_and_a_resolved_row_lingers(
        own_server: VigilServer, open_as: OpenAs) -> None:
    token = own_server.create_token('integration', 'Monitor gateway')
    own_server.post_alert(token, patient_mrn='G100103', priority='critical', message='Filter check critical')
    high = own_server.post_alert(token, patient_mrn='G100205', priority='high', message='Filter check high')
    page = open_as(own_server, 'charge')
    count = page.locator('[data-room-slot="alerts-count"]')
    empty = page.locator('[data-room-slot="alerts-empty"]')
    expect(count).to_have_text('2 open')
    expect(empty).to_be_hidden()

    priority = page.get_by_role('button', name='Priority')
    priority.click()
    page.get_by_role('checkbox', name='Critical').check()
    page.keyboard.press('Escape')
    expect(priority).to_be_focused()  # Escape closes the choices and gives the focus back
    expect(page.get_by_role('checkbox', name='Critical')).to_be_hidden()

    expect(count).to_have_text('1 of 2 open shown')
    expect(priority).to_contain_text('Critical')
    expect(alert_row(page, 'Filter check critical')).to_be_visible()
    expect(alert_row(page, 'Filter check high')).to_have_count(0)
    priority.click()
    page.get_by_role('checkbox', name='Critical').uncheck()  # off again
    page.get_by_role('checkbox', name='Low').check()
    page.locator('[data-room-slot="alerts-count"]').click()  # a click elsewhere closes the choices too
    expect(page.get_by_role('checkbox', name='Low')).to_be_hidden()
    expect(count).to_have_text('0 of 2 open shown')
    expect(empty).to_have_text('No alert matches the filters.')
    expect(page.get_by_role('listitem').filter(has_text='Filter check')).to_have_count(0)

    page.reload()  # the choice is remembered
    expect(count).to_have_text('0 of 2 open shown')
    expect(priority).to_contain_text('Low')
    priority.focus()
    page.keyboard.press('Enter')  # by keyboard: open, move to a choice, untick it
    page.keyboard.press('Tab')
    page.keyboard.press('Tab')
    page.keyboard.press('Tab')
    page.keyboard.press('Tab')
    expect(page.get_by_role('checkbox', name='Low')).to_be_focused()
    page.keyboard.press('Space')  # every priority again
    page.keyboard.press('Escape')
    expect(count).to_have_text('2 open')
    page.get_by_label('Status').select_option('Acknowledged only')
    expect(count).to_have_text('0 of 2 open shown')
    page.get_by_label('Status').select_option('Active and acknowledged')
    with own_server.api(token) as client:
        answer = client.post(f'/api/v1/alerts/{high["id"]}/resolve', json={'acted_by': 'Sam Patel'})
        assert answer.status_code == 200, answer.text
    expect(alert_row(page, 'Filter check high')).to_contain_text('Resolved by')  # greyed, still listed
    expect(count).to_have_text('1 open')
    expect(empty).to_be_hidden()


def test_who_is_online_is_the_same_block_on_every_page_with_each_users_own_name_marked(
        server: VigilServer, open_as: OpenAs) -> None:
    nurse = open_as(server, 'nurse')
    charge = open_as(server, 'charge')
    for page, me, other in ((nurse, 'Sam Patel', 'Jordan Ellis'), (charge, 'Jordan Ellis', 'Sam Patel')):
        people = page.get_by_role('region', name='Staff online').get_by_role('listitem')
        expect(people.filter(has_text=other)).to_be_visible()
        expect(people.filter(has_text=me)).to_contain_text(f'{me} (you)', use_inner_text=True)
        expect(people.filter(has_text=other)).not_to_contain_text('(you)', use_inner_text=True)
        expect(page.get_by_role('region', name='Metrics')).to_contain_text('Staff online now')


def test_a_page_that_missed_an_event_of_its_room_asks_for_the_rooms_snapshot(
        own_server: VigilServer, open_as: OpenAs) -> None:
    page = open_as(own_server, 'charge')
    expect(connection(page)).to_have_text('Live')
    token = own_server.create_token('integration', 'Monitor gateway')
    # The browser loses the next room event (as if it never came): its handlers are off for exactly one message.
    page.evaluate('''() => {
      const handlers = [...window.socket.listeners('vigil_room')];
      handlers.forEach((handler) => window.socket.off('vigil_room', handler));
      window.socket.once('vigil_room', () => {
        window.vigilTestLost = (window.vigilTestLost || 0) + 1;
        handlers.forEach((handler) => window.socket.on('vigil_room', handler));
      });
    }''')

    own_server.post_alert(token, patient_mrn='G100103', priority='high', message='Lost on the way')
    page.wait_for_function('() => window.vigilTestLost === 1')
    expect(alert_row(page, 'Lost on the way')).to_have_count(0)  # nothing told the page yet
    own_server.post_alert(token, patient_mrn='G100205', priority='high', message='Came after the gap')

    # The next event's sequence number skips one: the store asks for the snapshot, which has both.
    expect(alert_row(page, 'Came after the gap')).to_be_visible()
    expect(alert_row(page, 'Lost on the way')).to_be_visible()
