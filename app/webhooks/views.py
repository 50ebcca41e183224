"""What the webhook service hands out: subscriptions (the secret only once, at creation), deliveries, attempts."""

from datetime import datetime

from pydantic import Field

from app.domain import Priority
from app.schemas import ACTOR_DESCRIPTION, View
from app.webhooks.rules import DeliveryStatus, WebhookEvent


class WebhookView(View):
    """A webhook subscription: where the hospital's alert events go and which of them (empty filters: all)."""

    id: int
    name: str
    url: str
    enabled: bool
    priorities: list[Priority] | None = Field(description='Only alerts of these priorities; null: every priority.')
    wards: list[int] | None = Field(description='Only alerts of these wards; null: every ward.')
    event_types: list[WebhookEvent] | None = Field(description='Only these events; null: every alert event.')
    secret_hint: str = Field(description='The first characters of the signing secret, to tell secrets apart.')
    created_at: datetime
    created_by: str = Field(description=ACTOR_DESCRIPTION)
    updated_at: datetime
    updated_by: str = Field(description=ACTOR_DESCRIPTION)
    pending: int = Field(description='Deliveries waiting for their (next) attempt.')
    failed: int = Field(description='Deliveries given up after every retry, waiting for an administrator.')


class WebhookCreated(WebhookView):
    """A new subscription with its signing secret: shown this once, never again."""

    secret: str = Field(description='The HMAC-SHA256 key of X-Vigil-Signature. Store it now: Vigil never shows it '
                                    'again.')


class AttemptView(View):
    """One try at sending a delivery."""

    number: int
    started_at: datetime
    milliseconds: int
    status_code: int | None = Field(description="The receiver's HTTP status; null when there was no answer.")
    error: str | None = Field(description='Why the attempt failed; null when it succeeded.')


class DeliveryView(View):
    """One alert event for one subscription, and every attempt to send it (newest first)."""

    id: int
    subscription_id: int
    event_seq: int
    event_type: WebhookEvent
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description='When the next attempt is due; null once finished.')
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None
    history: list[AttemptView]
