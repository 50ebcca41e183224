"""Outbound webhooks over HTTP: a hospital's subscriptions, their deliveries, and retrying a failed one.

API tokens have no administrator role of their own: as for the alarm rules, only integration tokens manage webhooks,
on behalf of a named administrator (acted_by, recorded in the hospital's rule history). Device and kiosk tokens are
refused (403): a subscription decides where patient data leaves Vigil.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.config import JsonDict

from app.domain import Priority
from app.domain.text import UNSAFE_CLASS
from app.schemas import Actor
from app.webhooks.rules import MAX_URL_LENGTH, DeliveryStatus, WebhookEvent
from app.webhooks.service import WebhookService
from app.webhooks.views import DeliveryView, WebhookCreated, WebhookView

from .auth import Authenticate
from .errors import MALFORMED, REFUSED, DomainErrorRoute, ErrorBody, Responses
from .request_limits import ROW_ID_MAX, RowId
from .rules import ActedBy, ActedByQuery

READ_ERRORS: Responses = {401: {'model': ErrorBody}, 403: {'model': ErrorBody}}
ONE_ERRORS: Responses = {**READ_ERRORS, 404: {'model': ErrorBody}, **REFUSED}
WRITE_ERRORS: Responses = {**ONE_ERRORS, **MALFORMED}
# What the service checks (app/webhooks/rules.py check_url), stated for the document: http(s), a host name or IPv4
# address and a port 1-65535, no user name or password, no fragment, no white space or control characters. (The
# service also takes IPv6 literals, which this pattern leaves out.)
PORT = r'(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})'
URL_PATTERN = rf'^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.\-]+(:{PORT})?([/?][^\s#{UNSAFE_CLASS}]*)?$'
URL: JsonDict = {'pattern': URL_PATTERN}
Wards = Annotated[list[Annotated[int, Field(ge=1, le=ROW_ID_MAX)]] | None, Field(
    default=None, min_length=1, description='Only alerts of these wards of the hospital; left out or null: every ward.',
    json_schema_extra={'uniqueItems': True})]


class WebhookIn(BaseModel):
    """A new webhook: where to send the hospital's alert events, and which of them."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'name': 'Pager bridge', 'url': 'https://pager.example.org/vigil', 'priorities': ['critical', 'high'],
         'event_types': ['alert.raised', 'alert.escalated'], 'acted_by': 'Dr Jane Roe'}]})

    name: str = Field(min_length=1, max_length=100, description='Unique within the hospital; one line.')
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra=URL, description=(
        'Where each event is POSTed: http or https, without user name, password or fragment (the signature proves '
        'the sender; put a key the receiver needs in the path or query). Redirects are not followed.'))
    priorities: list[Priority] | None = Field(default=None, min_length=1, json_schema_extra={'uniqueItems': True},
                                              description='Only alerts of these priorities; left out or null: all.')
    wards: Wards = None
    event_types: list[WebhookEvent] | None = Field(
        default=None, min_length=1, json_schema_extra={'uniqueItems': True},
        description='Only these events; left out or null: every alert event.')
    enabled: StrictBool = Field(default=True, description='false: created paused.')
    acted_by: ActedBy


class WebhookChange(BaseModel):
    """Pause or resume a webhook."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'enabled': False, 'acted_by': 'Dr Jane Roe'}]})

    enabled: StrictBool = Field(description=(
        'false: no new events are queued for it and its pending deliveries wait; true: they are sent again.'))
    acted_by: ActedBy


class RetryIn(BaseModel):
    """Who asks for the retry."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)

    acted_by: ActedBy


def webhooks_router(webhooks: WebhookService, manager: Authenticate) -> APIRouter:
    """Return the router of the webhook routes (every route needs an integration token)."""
    router = APIRouter(prefix='/api/v1/webhooks', tags=['webhooks'], route_class=DomainErrorRoute)

    @router.get('', response_model=list[WebhookView], summary="The hospital's webhooks", responses=READ_ERRORS)
    async def list_webhooks(actor: Annotated[Actor, Depends(manager)]) -> list[WebhookView]:
        """Every webhook of the hospital, by name, with how many deliveries wait and how many were given up. Secrets
        are never shown again after creation; `secret_hint` tells them apart."""
        return await webhooks.subscriptions(actor)

    @router.post('', status_code=201, response_model=WebhookCreated, summary='Create a webhook', responses={
        **WRITE_ERRORS, 409: {'model': ErrorBody, 'description': 'A webhook of that name exists'}})
    async def create_webhook(body: WebhookIn, actor: Annotated[Actor, Depends(manager)]) -> WebhookCreated:
        """Subscribe a URL to the hospital's alert events. The answer carries the signing `secret`, this once: store
        it where the receiver checks X-Vigil-Signature. A ward of another hospital, or one that does not exist, is
        refused (422)."""
        return await webhooks.create(actor, name=body.name, url=body.url, priorities=body.priorities,
                                     wards=body.wards, event_types=body.event_types, enabled=body.enabled,
                                     on_behalf_of=body.acted_by)

    @router.get('/{webhook_id}', response_model=WebhookView, summary='Read a webhook', responses=ONE_ERRORS)
    async def get_webhook(webhook_id: RowId, actor: Annotated[Actor, Depends(manager)]) -> WebhookView:
        return await webhooks.get(actor, webhook_id)

    @router.patch('/{webhook_id}', response_model=WebhookView, summary='Pause or resume a webhook',
                  responses=WRITE_ERRORS)
    async def change_webhook(webhook_id: RowId, body: WebhookChange,
                             actor: Annotated[Actor, Depends(manager)]) -> WebhookView:
        """Paused, it gets no new events and its pending deliveries wait; resumed, they are sent."""
        return await webhooks.set_enabled(actor, webhook_id, body.enabled, on_behalf_of=body.acted_by)

    @router.delete('/{webhook_id}', status_code=204, summary='Delete a webhook', responses=ONE_ERRORS,
                   response_class=Response)
    async def delete_webhook(webhook_id: RowId, actor: Annotated[Actor, Depends(manager)],
                             acted_by: ActedByQuery) -> Response:
        """Delete the webhook, its pending deliveries and its delivery history (pause it to keep them)."""
        await webhooks.delete(actor, webhook_id, on_behalf_of=acted_by)
        return Response(status_code=204)

    @router.get('/{webhook_id}/deliveries', response_model=list[DeliveryView], summary="A webhook's deliveries",
                responses=ONE_ERRORS)
    async def list_deliveries(webhook_id: RowId, actor: Annotated[Actor, Depends(manager)],
                              status: Annotated[DeliveryStatus | None, Query(description='Only these')] = None,
                              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[DeliveryView]:
        """The latest deliveries, newest first, each with every attempt: when, how long, the receiver's status code
        or the error."""
        return await webhooks.deliveries(actor, webhook_id, limit=limit, status=status)

    @router.post('/{webhook_id}/deliveries/{delivery_id}/retry', response_model=DeliveryView,
                 summary='Retry a failed delivery', responses={
                     **WRITE_ERRORS, 409: {'model': ErrorBody, 'description': 'The delivery has not failed'}})
    async def retry_delivery(webhook_id: RowId, delivery_id: RowId, body: RetryIn,
                             actor: Annotated[Actor, Depends(manager)]) -> DeliveryView:
        """Send a delivery that was given up again, now, with a fresh round of retries: the same body and `id`."""
        return await webhooks.retry(actor, delivery_id, webhook_id=webhook_id, on_behalf_of=body.acted_by)

    return router
