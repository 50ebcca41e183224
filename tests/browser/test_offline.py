"""Honest when offline, in a real browser: the banner, an acknowledgement kept while the server is down and sent
(or refused with the reason) when it is back, and a Code Blue that says at once it could not be sent."""

import time
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from app.bootstrap import build
from app.config import Settings
from app.schemas import Actor

from ..conftest import run_sync
from .conftest import OpenAs
from .harness import VigilServer
from .test_live_ui import alert_row, connection, open_kiosk

pytestmark = pytest.mark.browser

BANNER_WITHIN_MS = 5_000  # what staff are promised: the banner within 5 s of losing the socket
BACK_WITHIN_MS = 30_000  # a restarted server, the page's reload after it, and the queue sent


def banner(page: Page) -> Locator:
    return page.get_by_role('alert').filter(has_text='Offline since')


def alert_now(server: VigilServer, token: str, alert_id: int) -> dict[str, Any]:
    with server.api(token) as client:
        response = client.get(f'/api/v1/alerts/{alert_id}')
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def eventually_status(server: VigilServer, token: str, alert_id: int, status: str) -> dict[str, Any]:
    """Poll the API (the browser's queue is sent some time after the restart) until the alert has this status."""
    deadline = time.monotonic() + BACK_WITHIN_MS / 1000
    while True:
        alert = alert_now(server, token, alert_id)
        if alert['status'] == status or time.monotonic() > deadline:
            return alert
        time.sleep(0.2)


def resolve_while_stopped(server: VigilServer, alert_id: int) -> None:
    """Resolve an alert straight in the stopped server's database, as a colleague's screen would have meanwhile."""
    async def resolve_it() -> None:
        vigil = build(Settings(data_dir=server.data_dir, database_url=None, redis_url=None))
        try:
            hospital = await vigil.hospitals.get('general')
            await vigil.alerts.resolve(Actor.system('night doctor', hospital_id=hospital.id), alert_id)
        finally:
            await vigil.close()

    assert not server.running
    run_sync(resolve_it)


def test_offline_the_pages_say_so_and_an_acknowledgement_waits_for_the_server_and_is_applied(
        own_server: VigilServer, open_as: OpenAs, anonymous: Page) -> None:
    token = own_server.create_token('integration', 'Bedside monitor gateway')
    alert = own_server.post_alert(token, patient_mrn='G100103', priority='high', message='Infusion pump occlusion')
    charge = open_as(own_server, 'charge')
    kiosk = open_kiosk(anonymous, own_server)
    row = alert_row(charge, 'Infusion pump occlusion')
    expect(row).to_be_visible()
    expect(banner(charge)).to_be_hidden()
    assert row.locator('[data-version]').first.get_attribute('data-version') == str(alert['version'])

    own_server.stop()

    expect(banner(charge)).to_be_visible(timeout=BANNER_WITHIN_MS)
    expect(banner(charge)).to_contain_text('what you see may be out of date')
    assert charge.evaluate("document.body.classList.contains('vigil-offline')"), 'the values are not dimmed'
    # The dimming fades in (0.3 s): wait for it rather than reading the opacity half-way (0.81 in a CI run).
    charge.wait_for_function("getComputedStyle(document.querySelector('.q-page-container')).opacity < 0.8",
                             timeout=2_000)
    expect(kiosk.locator('#outage')).to_contain_text('Offline since', timeout=BANNER_WITHIN_MS)

    row.get_by_role('button', name='Acknowledge').click()

    expect(row).to_contain_text('Acknowledge pending: sent when the connection returns')
    expect(row.get_by_role('button', name='Resolve')).to_be_disabled()
    [kept] = charge.evaluate("JSON.parse(sessionStorage.getItem('vigil.queued-actions'))")
    assert (kept['action'], kept['alert'], kept['version']) == ('acknowledge', alert['id'], alert['version'])

    own_server.start()

    acknowledged = eventually_status(own_server, token, alert['id'], 'acknowledged')
    assert acknowledged['status'] == 'acknowledged' and 'Jordan Ellis' in acknowledged['acknowledged_by']
    expect(banner(charge)).to_be_hidden(timeout=BACK_WITHIN_MS)
    expect(row).to_contain_text('Acknowledged by Jordan Ellis', timeout=BACK_WITHIN_MS)
    expect(charge.locator('.q-notification').filter(has_text='was sent when the connection returned')) \
        .to_be_visible()
    assert charge.evaluate("JSON.parse(sessionStorage.getItem('vigil.queued-actions'))") == []
    expect(kiosk.locator('#outage')).to_be_hidden(timeout=BACK_WITHIN_MS)


def test_an_acknowledgement_kept_offline_is_refused_with_the_reason_if_the_alert_changed_meanwhile(
        own_server: VigilServer, open_as: OpenAs) -> None:
    token = own_server.create_token('integration', 'Bedside monitor gateway')
    alert = own_server.post_alert(token, patient_mrn='G100103', priority='high', message='Infusion pump occlusion')
    charge = open_as(own_server, 'charge')
    row = alert_row(charge, 'Infusion pump occlusion')
    expect(row).to_be_visible()

    own_server.stop()
    expect(banner(charge)).to_be_visible(timeout=BANNER_WITHIN_MS)
    row.get_by_role('button', name='Acknowledge').click()
    expect(row).to_contain_text('Acknowledge pending')
    resolve_while_stopped(own_server, alert['id'])
    own_server.start()

    refusal = charge.locator('.q-notification').filter(has_text='was not sent: the alert was resolved by night doctor')
    expect(refusal).to_be_visible(timeout=BACK_WITHIN_MS)
    expect(refusal).to_contain_text('look again')
    after = alert_now(own_server, token, alert['id'])
    assert (after['status'], after['resolved_by'], after['acknowledged_by']) == ('resolved', 'night doctor', None)
    expect(banner(charge)).to_be_hidden()


def test_a_code_blue_pressed_offline_says_at_once_that_it_was_not_sent(
        own_server: VigilServer, open_as: OpenAs) -> None:
    charge = open_as(own_server, 'charge')
    doctor = open_as(own_server, 'doctor')
    expect(connection(charge)).to_have_text('Live')
    expect(connection(doctor)).to_have_text('Live')
    charge.get_by_role('button', name='Raise alert for Eleanor Whitfield').click()
    dialog = charge.get_by_role('dialog')
    expect(dialog.get_by_role('button', name='Code Blue')).to_be_visible()

    own_server.stop()
    expect(banner(charge)).to_be_visible(timeout=BANNER_WITHIN_MS)
    dialog.get_by_role('button', name='Code Blue').click()

    refusal = dialog.get_by_role('alert').filter(has_text='was NOT sent')
    expect(refusal).to_have_text('Code Blue was NOT sent: Vigil has no connection. Use the phone to call for help now.',
                                 timeout=1_000)
    expect(charge.get_by_text('Sending in')).to_have_count(0)  # no countdown for something that cannot be sent

    doctor.get_by_role('button', name='Raise alert', exact=True).click()  # the dialog cannot even open offline

    expect(doctor.locator('.q-notification').filter(has_text='Nothing was sent: Vigil has no connection. For an '
                                                                 'emergency, use the phone now.')).to_be_visible()
