"""GET /api/v1/events: the hospital's events as server-sent events, resumable from the durable event log.

A client that reconnects with `Last-Event-ID` first gets every event it missed from the event log, then the live
ones from the bus, with neither gaps nor duplicates: the stream subscribes before it reads the log, skips live
events the log already gave, and refills from the log whenever the live sequence jumps (a dropped event).
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from app.domain.scope import AccessScope
from app.errors import InvalidInput, NotAllowed
from app.events import EVENT_TYPES, BaseEvent, EventBus
from app.events.models import event_payload
from app.schemas import Actor
from app.services.event_log import MAX_BATCH, EventLogService
from app.services.tokens import TokenService

from .auth import Authenticate
from .errors import DomainErrorRoute, ErrorBody, Refused

EVENT_NAMES = tuple(sorted(t.__name__ for t in EVENT_TYPES))
RETRY_MS = 3000
# How often an open stream re-checks its token: a revocation (or a change of the token's hospital or kind) ends
# the stream within this time plus POLL_SECONDS, with a StreamEnded event saying why; EventSource clients that
# reconnect then get a 401.
RECHECK_SECONDS = 2.0
STREAM_ENDED = 'StreamEnded'
POLL_SECONDS = 1.0  # how soon a stream notices that the server is stopping
EVENT_ID = re.compile(r'[0-9]{1,18}')
# What stream_request accepts (an id with white space around it, as EventSource may send it), for the document.
EVENT_ID_PATTERN = r'^\s*[0-9]{1,18}\s*$'
LIVE_QUEUE = 1000  # live events buffered per stream; beyond that the stream refills from the event log


@dataclass(frozen=True)
class StreamRequest:
    actor: Actor
    scope: AccessScope
    after: int | None
    types: frozenset[str]


def sse(seq: int, event_type: str, payload: Any) -> ServerSentEvent:
    """Return one event on the wire: id is the hospital's sequence number, event its type, data its JSON."""
    return ServerSentEvent(id=str(seq), event=event_type, raw_data=json.dumps(payload, separators=(',', ':')))


class Stream:
    """The position of one client's stream, and the live events waiting for it."""

    def __init__(self, log: EventLogService, actor: Actor, types: frozenset[str]) -> None:
        self._log = log
        self._actor = actor
        self._types = types
        self._live: asyncio.Queue[BaseEvent] = asyncio.Queue(maxsize=LIVE_QUEUE)
        self._overflowed = False
        self.position = 0  # every event up to here was sent (or filtered out)

    def offer(self, event: BaseEvent) -> None:
        """Take a live event from the bus without ever blocking it."""
        if self._live.full():
            self._overflowed = True  # the log has them all: refill from there instead of buffering without bound
        else:
            self._live.put_nowait(event)

    async def catch_up(self) -> AsyncIterator[ServerSentEvent]:
        """Send what the event log holds after the position, up to its current end."""
        until = await self._log.last_seq(self._actor)
        while self.position < until:
            batch = await self._log.after(self._actor, self.position, until=until, types=sorted(self._types))
            for entry in batch:
                yield sse(entry.seq, entry.type, entry.payload)
            self.position = batch[-1].seq if len(batch) == MAX_BATCH else until

    async def next_live(self) -> AsyncIterator[ServerSentEvent]:
        """Send the next live event (or refill from the log if events went missing); wait POLL_SECONDS at most."""
        try:
            event = await asyncio.wait_for(self._live.get(), timeout=POLL_SECONDS)
        except TimeoutError:
            return
        if event.seq <= self.position:
            return  # the log already gave it
        if self._overflowed or event.seq > self.position + 1:
            # A dropped event, or events of another process arriving out of order: the log has all of them,
            # since an event is published only after its commit and numbers are taken in commit order.
            self._overflowed = False
            async for item in self.catch_up():
                yield item
            return
        self.position = event.seq
        name = type(event).__name__
        if not self._types or name in self._types:
            yield sse(event.seq, name, event_payload(event))


def json_answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    """Document an error answer of the stream route: JSON, which FastAPI would otherwise document as the route's
    own media type (text/event-stream). NOTE: the models it refers to are components through the other routes."""
    schema = model.model_json_schema(ref_template='#/components/schemas/{model}')
    schema.pop('$defs', None)
    return {'description': description, 'content': {'application/json': {'schema': schema}}}


def events_router(log: EventLogService, bus: EventBus, reader: Authenticate, tokens: TokenService,
                  stopping: Callable[[], bool]) -> APIRouter:
    """Return the router of the event stream; streams end when stopping() turns true or the bus closes."""
    router = APIRouter(prefix='/api/v1', tags=['events'], route_class=DomainErrorRoute)

    async def stream_request(
            actor: Annotated[Actor, Depends(reader)],
            last_event_id: Annotated[str | SkipJsonSchema[None], Header(alias='Last-Event-ID', json_schema_extra={
                'pattern': EVENT_ID_PATTERN})] = None,
            last_event_id_query: Annotated[str | SkipJsonSchema[None], Query(alias='last_event_id', description=(
                'For clients that cannot set the Last-Event-ID header'), json_schema_extra={
                'pattern': EVENT_ID_PATTERN})] = None,
            event_type: Annotated[list[str] | None, Query(alias='type', description=(
                f'Only events of these types (repeatable): {", ".join(EVENT_NAMES)}'), json_schema_extra={
                'items': {'type': 'string', 'enum': list(EVENT_NAMES)}})] = None,
    ) -> StreamRequest:
        # Checked here, in a dependency: once the stream has started, an error can no longer become a 4xx.
        scope = AccessScope.of(actor)
        if not scope.sees_whole_hospital:
            # The event log holds every event of the hospital and cannot be narrowed to wards or roles: the stream
            # is for actors that see all of it (every kind of token does).
            raise NotAllowed('The event stream carries every event of the hospital: it is only for those who see '
                             'all of it.')
        # NOTE: ASCII digits only: str.isdigit() also accepts "²" and other digits that int() refuses or reads.
        # Both are checked when both are sent: a bad one is refused even where the header wins.
        for given in (last_event_id, last_event_id_query):
            if given is not None and not EVENT_ID.fullmatch(given.strip()):
                raise InvalidInput(f'Last-Event-ID must be an event id this stream sent (a whole number of at most '
                                   f'18 digits), not {given[:40]!r}.')
        resume = last_event_id if last_event_id is not None else last_event_id_query
        unknown = sorted(set(event_type or ()) - set(EVENT_NAMES))
        if unknown:
            raise InvalidInput(f'Unknown event type {", ".join(unknown)}; one of {", ".join(EVENT_NAMES)}.')
        return StreamRequest(actor, scope, int(resume) if resume is not None else None, frozenset(event_type or ()))

    @router.get('/events', response_class=EventSourceResponse, summary='Event stream (server-sent events)',
                responses={401: json_answer(ErrorBody, 'No valid token'),
                           422: json_answer(Refused, 'Refused before the stream starts')})
    async def events(request: Annotated[StreamRequest, Depends(stream_request)]) -> AsyncIterator[ServerSentEvent]:
        """Every event of the token's hospital as it happens: `id:` is the hospital's event sequence number,
        `event:` the type (AlertRaised, VitalsRecorded, ...), `data:` the event as JSON with its full snapshot.

        Reconnect with `Last-Event-ID` (EventSource does it by itself) to get everything missed in between from
        the durable event log first. Without it the stream starts with the next event. Keep-alive comments come
        every 15 seconds while nothing happens.

        The stream ends within a few seconds once its token is revoked (by any server or the command line), or its
        hospital or kind changes: a last `StreamEnded` event says why (`data: {"reason": ...}`), and a reconnect
        with the same token gets a 401.
        """
        stream = Stream(log, request.actor, request.types)
        subscription = bus.subscribe(stream.offer, hospital_id=request.scope.hospital_id,
                                     name=f'event-stream {request.actor.name}')
        try:
            # Subscribed first, then the position read: nothing committed in between can fall through.
            stream.position = await log.last_seq(request.actor)
            if request.after is not None:
                stream.position = min(request.after, stream.position)  # an id from before a database reset
            yield ServerSentEvent(retry=RETRY_MS, comment=f'events after {stream.position}')
            async for item in stream.catch_up():
                yield item
            loop = asyncio.get_running_loop()
            next_check = loop.time() + RECHECK_SECONDS
            while not stopping() and subscription.active:
                reason = tokens.revoked_here(request.actor)
                if reason is None and loop.time() >= next_check:
                    reason = await tokens.no_longer_valid(request.actor)
                    next_check = loop.time() + RECHECK_SECONDS
                if reason is not None:
                    yield ServerSentEvent(event=STREAM_ENDED, raw_data=json.dumps({'reason': reason}))
                    return
                async for item in stream.next_live():
                    if tokens.revoked_here(request.actor) is None:  # revoked by this process: not one more event
                        yield item
        finally:
            subscription.unsubscribe()

    return router
