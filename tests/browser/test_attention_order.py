"""The needs-attention order in a real browser: the dashboard and the wall display agree on a mix of acknowledged,
unacknowledged and escalated alerts, and a re-alarmed alert moves to the top of both, live."""

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

PUMP_KEY = 'pump-7:occlusion'
# The mixed set, by message, in the needs-attention order: unacknowledged first, then priority, then escalation
# level, then longest waiting; the acknowledged ones after, by the same rules.
ORDER = ['Escalated high', 'Waiting high', 'Waiting medium', 'Acknowledged critical', 'Pump occlusion']


def seed_mixed_set(server: VigilServer) -> str:
    """Raise the mixed set through the service layer into the stopped server's database; return the pump's MRN."""
    async def seed() -> str:
        vigil = build(Settings(data_dir=server.data_dir, database_url=None, redis_url=None))
        try:
            hospital = await vigil.hospitals.get('general')
            actor = Actor.system('browser test', hospital_id=hospital.id)
            beds = {p.bed: p for p in await vigil.patients.list_patients(actor)}

            async def raise_(bed: str, priority: Priority, message: str, dedup_key: str | None = None) -> int:
                view = await vigil.alerts.raise_alert(actor, NewAlert(
                    priority=priority, message=message, patient_id=beds[bed].id, dedup_key=dedup_key))
                return view.id

            # Raised in this order, so that a newest-first or priority-first list would show them differently.
            pump = await raise_('AMU-05', Priority.MEDIUM, 'Pump occlusion', PUMP_KEY)
            await vigil.alerts.acknowledge(actor, pump)
            critical = await raise_('AMU-01', Priority.CRITICAL, 'Acknowledged critical')
            await vigil.alerts.acknowledge(actor, critical)
            await raise_('AMU-02', Priority.MEDIUM, 'Waiting medium')
            await raise_('AMU-03', Priority.HIGH, 'Waiting high')
            escalated = await raise_('AMU-04', Priority.HIGH, 'Escalated high')
            await vigil.alerts.escalate(actor, escalated)
            return beds['AMU-05'].mrn
        finally:
            await vigil.close()

    assert not server.running
    return run_sync(seed)


def dashboard_rows(page: Page) -> Locator:
    return page.locator('.vigil-alerts > [role=listitem]')


def kiosk_rows(kiosk: Page) -> Locator:
    return kiosk.frame_locator('#display').get_by_role('listitem')


def expect_order(rows: Locator, expected: list[str]) -> None:
    """Wait until the rows show exactly these alerts, in this order (messages are unique in the set)."""
    expect(rows).to_have_count(len(expected))
    expect(rows).to_contain_text(expected)


def test_the_dashboard_and_the_kiosk_agree_and_a_re_alarm_moves_to_the_top(
        own_server: VigilServer, open_as: OpenAs, anonymous: Page) -> None:
    own_server.stop()
    mrn = seed_mixed_set(own_server)
    own_server.start()
    charge = open_as(own_server, 'charge')
    anonymous.goto(f'{own_server.url}/kiosk?token={own_server.create_token("kiosk", "AMU corridor")}')
    kiosk = anonymous
    expect(kiosk.frame_locator('#display').locator('.vigil-conn-live')).to_be_visible()
    expect(charge.locator('header .vigil-conn')).to_have_text('Live')

    expect_order(dashboard_rows(charge), ORDER)
    expect_order(kiosk_rows(kiosk), ORDER)
    expect(dashboard_rows(charge).first).to_contain_text('Escalated · level 1')
    expect(charge.get_by_text('Waiting: critical, high or escalated, not acknowledged')).to_be_visible()

    # The same pump alarm again, now critical: a worse condition is a new alarm, waiting again, on top of both.
    token = own_server.create_token('integration', 'Infusion pump gateway')
    realarm: dict[str, Any] = own_server.post_alert(token, patient_mrn=mrn, priority='critical',
                                                    message='Pump occlusion', dedup_key=PUMP_KEY)
    assert (realarm['status'], realarm['priority']) == ('active', 'critical')
    assert realarm['waiting_since'] > realarm['created_at']
    realarmed = ['Pump occlusion', *ORDER[:-1]]
    expect_order(dashboard_rows(charge), realarmed)
    expect_order(kiosk_rows(kiosk), realarmed)
    expect(kiosk_rows(kiosk).first).to_contain_text('Not acknowledged')

    # Acknowledged: it leaves the top of both screens, after the critical acknowledged before its re-alarm.
    dashboard_rows(charge).first.get_by_role('button', name='Acknowledge').click()
    expect_order(dashboard_rows(charge), ORDER)
    expect_order(kiosk_rows(kiosk), ORDER)
