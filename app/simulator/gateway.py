"""A simulated monitor gateway: buffers readings and posts them to Vigil in batches, retrying safely."""

import logging
import random
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

log = logging.getLogger('vigil.simulator')

VITALS_PATH = '/api/v1/vitals'
MAX_BATCH = 1000  # NOTE: the API's batch limit (POST /api/v1/vitals)
MAX_BACKOFF_SECONDS = 30.0
# Batches sent per step while catching up after an outage, so one step never blocks for long.
CATCH_UP_BATCHES = 50
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


class SimulatorStopped(Exception):
    """The server refused the simulator for good (bad token, no vitals API); the message is one line."""


@dataclass(frozen=True)
class Batch:
    """Readings sent in one request; the key makes a retry of a request that did arrive a no-op."""

    key: str
    readings: list[dict[str, Any]]


@dataclass
class Outcome:
    """What one flush achieved."""

    sent: int = 0
    dropped: int = 0
    # Why the server could not be reached (None: it answered).
    unreachable: str | None = None
    unknown_patient: bool = False


class Gateway:
    """One device token and the wards whose bedside monitors report through it."""

    def __init__(self, name: str, token: str, client: httpx.AsyncClient, rng: random.Random, *,
                 max_buffered: int = 200_000) -> None:
        self.name = name
        self._headers = {'Authorization': f'Bearer {token}'}
        self._client = client
        self._rng = rng
        self._max_buffered = max_buffered
        self._outbox: deque[Batch] = deque()
        self._buffered = 0
        self._failures = 0
        self._retry_at: datetime | None = None
        self.silent_until: datetime | None = None
        self.wards: list[str] = []
        self.sent = 0
        self.dropped = 0
        self.retries = 0

    @property
    def buffered(self) -> int:
        """Readings waiting to be delivered."""
        return self._buffered

    def silent(self, now: datetime) -> bool:
        """Tell whether the gateway is in a simulated outage (it sends nothing, not even buffered readings)."""
        return self.silent_until is not None and now < self.silent_until

    def enqueue(self, readings: list[dict[str, Any]]) -> None:
        """Queue readings for delivery, at most MAX_BATCH per request; the oldest go when the buffer is full."""
        for offset in range(0, len(readings), MAX_BATCH):
            chunk = readings[offset:offset + MAX_BATCH]
            self._outbox.append(Batch(key=str(uuid.uuid4()), readings=chunk))
            self._buffered += len(chunk)
        lost = 0
        while self._buffered > self._max_buffered and len(self._outbox) > 1:
            lost += len(self._outbox[0].readings)
            self._buffered -= len(self._outbox.popleft().readings)
        if lost:
            self.dropped += lost
            log.warning('%s: buffer full, dropped the %d oldest readings', self.name, lost)

    async def flush(self, now: datetime) -> Outcome:
        """Send buffered batches in order until one fails; a failed batch is retried later with the same key."""
        outcome = Outcome()
        if self.silent(now) or (self._retry_at is not None and now < self._retry_at):
            return outcome
        for _ in range(CATCH_UP_BATCHES):
            if not self._outbox:
                break
            batch = self._outbox[0]
            try:
                response = await self._client.post(VITALS_PATH, json=batch.readings,
                                                    headers={**self._headers, 'Idempotency-Key': batch.key})
            except httpx.TransportError as error:
                outcome.unreachable = f'{type(error).__name__}: {error}'.rstrip(': ')
                self._back_off(now)
                break
            if response.status_code in RETRYABLE:
                outcome.unreachable = f'HTTP {response.status_code}'
                self._back_off(now)
                break
            self._outbox.popleft()
            self._buffered -= len(batch.readings)
            self._failures, self._retry_at = 0, None
            if response.is_success:
                outcome.sent += len(batch.readings)
                continue
            problem = response_problem(response)
            if response.status_code in (401, 403, 404, 405):
                raise SimulatorStopped(f'{self.name}: {response.request.url} answered {response.status_code}: '
                                       f'{problem}')
            # Anything else is this batch's fault (a discharged patient, a changed rule): drop it, keep streaming.
            outcome.dropped += len(batch.readings)
            outcome.unknown_patient = outcome.unknown_patient or 'patient' in problem.lower()
            log.warning('%s: %d readings refused (HTTP %d): %s', self.name, len(batch.readings),
                        response.status_code, problem)
        self.sent += outcome.sent
        self.dropped += outcome.dropped
        return outcome

    def _back_off(self, now: datetime) -> None:
        self._failures += 1
        self.retries += 1
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (self._failures - 1)) * self._rng.uniform(0.8, 1.2)
        self._retry_at = now + timedelta(seconds=delay)


def response_problem(response: httpx.Response) -> str:
    """Return the first reason an error response gives, in one line."""
    try:
        detail = response.json().get('detail')
    except (ValueError, AttributeError):
        return response.text.strip().splitlines()[0][:300] if response.text.strip() else response.reason_phrase
    if isinstance(detail, list) and detail:
        first = detail[0]
        message = first.get('message') or first.get('msg') if isinstance(first, dict) else first
        more = f' (and {len(detail) - 1} more)' if len(detail) > 1 else ''
        return f'{message}{more}'
    return str(detail)
