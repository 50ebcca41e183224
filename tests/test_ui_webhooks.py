"""/admin/webhooks: an administrator creates a webhook (its secret shown once), sees what was sent, retries a failed
delivery, pauses and deletes it; other staff see that the page is for administrators."""

import json
from collections.abc import Iterator

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import update

from app.domain import Priority
from app.schemas import NewAlert
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.rules import DeliveryStatus
from data.models import WebhookDelivery

from .test_ui_dashboard import SIGN_IN_RETRIES
from .test_ui_pages import running, sign_in, staff
from .test_webhooks import check_signature
from .webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.usefixtures('quiet_demo')


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def test_an_admin_creates_a_webhook_sees_its_deliveries_retries_pauses_and_deletes_it(
        user: User, receiver: Receiver) -> None:
    vigil, _ = running()
    await sign_in(user, 'admin', '/admin/webhooks')
    await user.should_see('No webhooks yet', retries=SIGN_IN_RETRIES)
    user.find(marker='webhook-name').type('Pager bridge')
    user.find(marker='webhook-url').type(receiver.url)
    user.find(marker='webhook-create').click()
    await user.should_see('Created: Pager bridge.')
    secret = user.find(marker='webhook-secret-value').elements.pop().text
    assert secret.startswith('whsec_')
    await user.should_see(marker='webhook:Pager bridge', content='Pager bridge · sending')
    await user.should_not_see('No webhooks yet')

    nurse = await staff('nurse')
    patient = next(p for p in await vigil.patients.list_patients(nurse))
    await vigil.alerts.raise_alert(nurse, NewAlert(priority=Priority.HIGH, message='Pump occlusion',
                                                   patient_id=patient.id))
    worker = WebhookDispatcher(vigil.db, vigil.clock)
    try:
        await worker.tick()  # the server's own worker may have been first: each delivery is claimed once
        [request] = receiver.requests
        assert check_signature(secret, request.headers, request.body)
        assert json.loads(request.body)['alert']['message'] == 'Pump occlusion'
        user.find(kind=ui.button, content='Refresh').click()
        await user.should_see(marker='webhook-deliveries', content='delivered')

        async with vigil.db.uow() as uow:  # as if every retry had failed
            await uow.session.execute(update(WebhookDelivery).values(status=DeliveryStatus.FAILED.value))
            await uow.commit()
        user.find(kind=ui.button, content='Refresh').click()
        await user.should_see('given up after 1 attempts')
        user.find(kind=ui.button, content='Retry').click()
        await user.should_see('will be sent again within seconds')
        await user.should_not_see('given up after')
        await worker.tick()
        assert len(receiver.requests) == 2 and receiver.requests[1].body == request.body
    finally:
        await worker.stop()

    user.find(marker='toggle-webhook:Pager bridge').click()
    await user.should_see(marker='webhook:Pager bridge', content='Pager bridge · paused')
    user.find(marker='delete-webhook:Pager bridge').click()
    user.find(marker='confirm-delete-webhook').click()
    await user.should_see('Deleted: Pager bridge.')
    await user.should_not_see(marker='webhook:Pager bridge')
    assert await vigil.webhooks.subscriptions(await staff('admin')) == []


async def test_a_refused_url_says_why_and_creates_nothing(user: User) -> None:
    vigil, _ = running()
    await sign_in(user, 'admin', '/admin/webhooks')
    await user.should_see('No webhooks yet', retries=SIGN_IN_RETRIES)
    user.find(marker='webhook-name').type('Bad')
    user.find(marker='webhook-url').type('https://user:secret@example.org/hook')
    user.find(marker='webhook-create').click()
    await user.should_see('Not created: The URL must not contain a user name or password')
    assert await vigil.webhooks.subscriptions(await staff('admin')) == []


async def test_staff_who_are_not_administrators_see_no_webhooks(user: User) -> None:
    await sign_in(user, 'charge', '/admin/webhooks')
    await user.should_see('Administrators only', retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='webhook-create')
