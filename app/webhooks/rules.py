"""Outbound webhooks, the pure rules: which events go out under which name, which subscription wants which event,
the retry schedule, what a target URL may be, and how a message is signed. No database, no network."""

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from app.domain import Priority
from app.domain.text import check_one_line
from app.errors import InvalidInput

PAYLOAD_VERSION = 1
SIGNATURE_HEADER = 'X-Vigil-Signature'
TIMESTAMP_HEADER = 'X-Vigil-Timestamp'
EVENT_HEADER = 'X-Vigil-Event'
DELIVERY_HEADER = 'X-Vigil-Delivery'
SECRET_PREFIX = 'whsec_'  # noqa: S105 (a prefix that tells a webhook secret apart, not a secret)

# Retries: the first retry 10 s after a failure, then doubling up to an hour between attempts; after MAX_ATTEMPTS
# attempts (about 85 minutes after the event) the delivery is given up and waits for an administrator's retry.
FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 10
# One attempt: connecting may take this long, the whole exchange at most ATTEMPT_TIMEOUT_SECONDS.
CONNECT_TIMEOUT_SECONDS = 5.0
ATTEMPT_TIMEOUT_SECONDS = 10.0
# A claimed delivery is someone else's for this long: longer than any attempt, so two processes never send at once.
CLAIM_SECONDS = 60
MAX_URL_LENGTH = 2000
# Delivered and given-up deliveries (with their attempts) are kept this long after they finished, then deleted.
RETENTION_DAYS = 30


class WebhookEvent(StrEnum):
    """The alert events a subscription can ask for, by their names in payloads and headers."""

    RAISED = 'alert.raised'
    RETRIGGERED = 'alert.retriggered'
    REACTIVATED = 'alert.reactivated'
    UPDATED = 'alert.updated'
    ACKNOWLEDGED = 'alert.acknowledged'
    SNOOZED = 'alert.snoozed'
    ESCALATED = 'alert.escalated'
    CLEARED = 'alert.cleared'
    RESOLVED = 'alert.resolved'


# NOTE: the names of app.events.models' alert events; a new alert event needs a line here to go out.
EVENT_NAMES: dict[str, WebhookEvent] = {
    'AlertRaised': WebhookEvent.RAISED, 'AlertRetriggered': WebhookEvent.RETRIGGERED,
    'AlertReactivated': WebhookEvent.REACTIVATED, 'AlertUpdated': WebhookEvent.UPDATED,
    'AlertAcknowledged': WebhookEvent.ACKNOWLEDGED, 'AlertSnoozed': WebhookEvent.SNOOZED,
    'AlertEscalated': WebhookEvent.ESCALATED, 'AlertCleared': WebhookEvent.CLEARED,
    'AlertResolved': WebhookEvent.RESOLVED,
}


class DeliveryStatus(StrEnum):
    PENDING = 'pending'  # waiting for its (next) attempt, or being attempted right now
    DELIVERED = 'delivered'  # the receiver answered 2xx
    FAILED = 'failed'  # given up after MAX_ATTEMPTS; an administrator may retry it


@dataclass(frozen=True)
class WebhookFilter:
    """Which alert events a subscription wants; None in a field matches everything."""

    priorities: frozenset[Priority] | None = None
    wards: frozenset[int] | None = None
    event_types: frozenset[WebhookEvent] | None = None

    def matches(self, event_type: WebhookEvent, priority: Priority, ward_id: int | None) -> bool:
        """Tell whether an event of this type, about an alert of this priority and ward, goes to the subscription."""
        return ((self.event_types is None or event_type in self.event_types)
                and (self.priorities is None or priority in self.priorities)
                and (self.wards is None or ward_id in self.wards))


def retry_delay(failures: int) -> timedelta:
    """Return how long to wait after the given number of failed attempts in a row (1: the first failure)."""
    seconds = FIRST_RETRY_SECONDS * 2 ** min(max(failures - 1, 0), 20)
    return timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


def next_attempt(failures: int, now: datetime) -> datetime | None:
    """Return when to try again after `failures` failed attempts in a row, or None: give up."""
    return None if failures >= MAX_ATTEMPTS else now + retry_delay(failures)


def check_url(url: str) -> str:
    """Return a webhook target URL, stripped, or refuse it: http(s) with a host, no credentials, no fragment."""
    url = url.strip()
    check_one_line(url, 'The URL')
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f'The URL must have 1-{MAX_URL_LENGTH} characters.')
    if any(c.isspace() for c in url):
        raise InvalidInput('The URL must not contain spaces.')
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a port that is not a number 0-65535
    except ValueError as error:
        raise InvalidInput(f'The URL is not valid: {error}.') from None
    if parts.scheme.lower() not in ('http', 'https'):
        raise InvalidInput('The URL must start with http:// or https://.')
    if parts.username is not None or parts.password is not None or '@' in parts.netloc:
        raise InvalidInput('The URL must not contain a user name or password: the signature header proves the '
                           'sender; put any key the receiver needs in its path or query.')
    if not parts.hostname:
        raise InvalidInput('The URL must name a host.')
    if port == 0:
        raise InvalidInput('The URL must not name port 0.')
    if parts.fragment or url.endswith('#'):
        raise InvalidInput('The URL must not have a fragment (#...): it is never sent.')
    return url


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the X-Vigil-Signature value: HMAC-SHA256 over "<timestamp>.<body>" with the subscription's secret."""
    digest = hmac.new(secret.encode(), f'{timestamp}.'.encode() + body, hashlib.sha256).hexdigest()
    return f'sha256={digest}'


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Tell whether a signature header matches (what a receiver runs; Vigil's tests use it too)."""
    if not timestamp.isdigit():
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), header)


def as_filter(priorities: Sequence[str] | None, wards: Sequence[int] | None,
              event_types: Sequence[str] | None) -> WebhookFilter:
    """Return the filter of stored lists (values this version does not know are ignored, never matched)."""
    return WebhookFilter(
        None if priorities is None else frozenset(Priority(p) for p in priorities if p in set(Priority)),
        None if wards is None else frozenset(wards),
        None if event_types is None else frozenset(WebhookEvent(t) for t in event_types if t in set(WebhookEvent)))
