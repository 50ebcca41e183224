"""Offline honesty, the server's side: actions a tab queued while offline, and the Code Blue's undo.

The browser's side (the banner, the queue in sessionStorage, the click that is kept) is driven in real Chromium in
tests/browser/test_offline.py; here the page receives what that script sends (the `vigil_queued_actions` event), as
it would after a reconnect, and must apply an action only on the alert the nurse saw and refuse anything else with
its reason, changing nothing.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from app.domain import AlertStatus, Priority
from app.schemas import AlertView, NewAlert
from components import raise_alert
from components.offline_queue import EVENT

from .test_ui_dashboard import clerk, patient, raise_for, row_html, running, should_see_row, sign_in
from .test_ui_pages import staff

pytestmark = pytest.mark.usefixtures('quiet_demo')


def now_ms() -> int:
    return int(time.time() * 1000)


async def queued(username: str, target: AlertView | int, action: str = 'acknowledge', **change: Any) -> dict[str, Any]:
    """One entry as the browser's queue stores it: this user, the alert's id and the version the row showed."""
    actor = await staff(username)
    entry = {'key': f'k{now_ms()}', 'user': actor.user_id, 'action': action,
             'alert': target if isinstance(target, int) else target.id,
             'version': 1 if isinstance(target, int) else target.version, 'at': now_ms() - 60_000}
    return entry | change


def send(user: User, *actions: Any, payload: Any = None) -> None:
    """Deliver a batch to the page the way the script's emitEvent does after a reconnect."""
    assert user.client is not None
    body = payload if payload is not None else {'actions': list(actions), 'tz': 'UTC', 'now': now_ms()}
    UserInteraction(user, {user.client.layout}, None).trigger(EVENT, body)


def hhmm(moment: datetime) -> str:
    return f'{moment.astimezone(UTC):%H:%M}'


async def current(alert: AlertView) -> AlertView:
    vigil, _, _ = running()
    return await vigil.alerts.get(await clerk(), alert.id)


# --- applied -------------------------------------------------------------------------------------------------------

async def test_an_acknowledgement_kept_offline_is_applied_when_the_alert_is_as_the_nurse_saw_it(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-03', 'Pump occlusion')
    await should_see_row(user, alert.id)
    entry = await queued('nurse', alert)

    send(user, entry)

    clicked = datetime.fromtimestamp(entry['at'] / 1000, UTC)
    await user.should_see(f'Your acknowledgement from {hhmm(clicked)} was sent')
    after = await current(alert)
    assert (after.status, after.acknowledged_by, after.version) == (AlertStatus.ACKNOWLEDGED, 'Sam Patel (nurse)',
                                                                     alert.version + 1)
    await should_see_row(user, alert.id, 'Acknowledged by Sam Patel')


async def test_a_resolution_kept_offline_is_applied_and_sent_twice_is_not_a_conflict(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-03', 'Pump occlusion')
    entry = await queued('nurse', alert, 'resolve')

    send(user, entry)
    await user.should_see('was sent when the connection returned')
    send(user, entry)  # the answer was lost with the socket: the tab sends the same batch again

    await user.should_see('had already been saved')
    assert (await current(alert)).status is AlertStatus.RESOLVED


# --- refused, with the reason, changing nothing ------------------------------------------------------------------

async def test_an_acknowledgement_of_an_alert_that_occurred_again_meanwhile_is_refused_with_the_reason(
        user: User) -> None:
    await sign_in(user, 'nurse')
    vigil, _, _ = running()
    bed = await patient('AMU-03')
    request = NewAlert(priority=Priority.HIGH, message='SpO2 low', patient_id=bed.id, dedup_key='spo2-low')
    alert = await vigil.alerts.raise_alert(await clerk(), request)
    await should_see_row(user, alert.id)
    again = await vigil.alerts.raise_alert(await clerk(), request)  # the same condition while the tab was offline
    assert again.version > alert.version

    send(user, await queued('nurse', alert))

    reason = 'was not sent: the alert occurred again at'
    await user.should_see(reason)
    await user.should_see('look again')
    assert reason in row_html(user, alert.id)  # on the row as well, until the nurse acts again
    after = await current(alert)
    assert (after.status, after.version) == (AlertStatus.ACTIVE, again.version)


async def test_an_acknowledgement_of_an_alert_resolved_by_someone_else_is_refused_and_says_by_whom(
        user: User) -> None:
    await sign_in(user, 'nurse')
    vigil, _, _ = running()
    alert = await raise_for('AMU-03', 'Pump occlusion')
    resolved = await vigil.alerts.resolve(await staff('charge'), alert.id)
    assert resolved.resolved_at is not None

    send(user, await queued('nurse', alert))

    await user.should_see(f'the alert was resolved by Jordan Ellis at {hhmm(resolved.resolved_at)}')
    after = await current(alert)
    assert (after.status, after.resolved_by, after.version) == (AlertStatus.RESOLVED, resolved.resolved_by,
                                                                resolved.version)


async def test_an_unknown_alert_and_another_hospitals_alert_are_refused_and_left_alone(user: User) -> None:
    await sign_in(user, 'nurse')
    theirs = await raise_for('RW-01', 'Fall', slug='riverside')

    send(user, await queued('nurse', 999_999), await queued('nurse', theirs))

    await user.should_see('was not sent: Alert 999999 not found.')
    await user.should_see(f'was not sent: Alert {theirs.id} not found.')
    vigil, _, _ = running()
    after = await vigil.alerts.get(await clerk('riverside'), theirs.id)
    assert (after.status, after.version) == (AlertStatus.ACTIVE, theirs.version)


async def test_an_action_too_old_or_of_another_sign_in_is_refused(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-03', 'Pump occlusion')

    send(user, await queued('nurse', alert, at=now_ms() - 11 * 60_000), await queued('charge', alert))

    await user.should_see('was not sent: it waited more than 10 minutes')
    await user.should_see('was not sent: it was taken by another sign-in')
    after = await current(alert)
    assert (after.status, after.version) == (AlertStatus.ACTIVE, alert.version)


@pytest.mark.parametrize('payload', [
    'acknowledge everything',
    {'actions': 'all', 'tz': 'UTC', 'now': 0},
    {'actions': [{'key': 'k'}] * 51, 'tz': 'UTC', 'now': 0},
])
async def test_a_batch_that_cannot_be_read_is_refused_as_a_whole(user: User, payload: Any) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-03', 'Pump occlusion')

    send(user, payload=payload)

    await user.should_see('could not be read; none was sent')
    assert (await current(alert)).version == alert.version


@pytest.mark.parametrize('change', [
    {'action': 'delete'}, {'version': 'latest'}, {'alert': -1}, {'alert': None}, {'key': ''}, {'at': 'yesterday'},
])
async def test_an_entry_that_cannot_be_read_is_refused_and_the_others_still_apply(
        user: User, change: dict[str, Any]) -> None:
    await sign_in(user, 'nurse')
    bad = await raise_for('AMU-03', 'Pump occlusion')
    good = await raise_for('AMU-04', 'Call bell')

    send(user, await queued('nurse', bad, **change), await queued('nurse', good))

    await user.should_see('could not be read and was not sent')
    await user.should_see('was sent when the connection returned')
    assert (await current(bad)).version == bad.version
    assert (await current(good)).status is AlertStatus.ACKNOWLEDGED


# --- Code Blue: confirm or undo ------------------------------------------------------------------------------------

async def choose_code_blue(user: User, bed: str) -> int:
    """Open the raise dialog, choose the patient and press Code Blue; return the patient's id."""
    chosen = await patient(bed)
    user.find(marker='raise-alert').click()
    await user.should_see(marker='raise-patient')
    with user:
        user.find(marker='raise-patient').elements.pop().set_value(chosen.id)  # type: ignore[attr-defined]
    user.find(marker='preset-Code Blue').click()
    return chosen.id


async def open_alerts() -> list[AlertView]:
    vigil, _, _ = running()
    return await vigil.alerts.list_alerts(await clerk())


async def test_a_code_blue_waits_for_its_undo_time_then_is_sent(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raise_alert, 'TICK_SECONDS', 0.2)
    await sign_in(user, 'nurse')

    patient_id = await choose_code_blue(user, 'AMU-08')

    await user.should_see(marker='code-blue-what', content='Code Blue for AMU-08 · Oliver Brennan')
    await user.should_see(marker='code-blue-left', content='Sending in')
    assert await open_alerts() == []  # not yet: there is time to undo
    await user.should_see('Critical alert raised for AMU-08 Oliver Brennan',
                          retries=30)
    [alert] = await open_alerts()
    assert (alert.priority, alert.message, alert.patient_id) == (Priority.CRITICAL, 'Code Blue', patient_id)


async def test_an_undone_code_blue_is_never_sent(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raise_alert, 'TICK_SECONDS', 0.05)
    await sign_in(user, 'nurse')

    await choose_code_blue(user, 'AMU-08')
    await user.should_see(marker='code-blue-undo')
    user.find(marker='code-blue-undo').click()

    await user.should_see('Code Blue undone: nothing was sent.')
    await asyncio.sleep(raise_alert.UNDO_SECONDS * 0.05 * 3)  # well past the time it would have been sent
    assert await open_alerts() == []


async def test_send_now_sends_a_code_blue_at_once(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raise_alert, 'TICK_SECONDS', 60.0)  # only Send now can send it within the test
    await sign_in(user, 'nurse')

    await choose_code_blue(user, 'AMU-08')
    await user.should_see(marker='code-blue-send-now')
    user.find(marker='code-blue-send-now').click()

    await user.should_see('Critical alert raised for AMU-08 Oliver Brennan')
    assert [a.message for a in await open_alerts()] == ['Code Blue']
