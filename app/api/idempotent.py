"""The Idempotency-Key header on write routes: a retry repeats the stored answer instead of the write."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse

from app.errors import DomainError
from app.schemas import Actor
from app.services.idempotency import (
    KEY_TTL,
    MAX_KEY_LENGTH,
    AlreadyAnswered,
    DuplicateRequest,
    IdempotencyService,
    Responder,
    StoredResponse,
    check_key,
    request_fingerprint,
)

REPLAYED_HEADER = 'Idempotent-Replayed'

# What check_key accepts, as a header carries it (Latin-1): printable characters, not only spaces. NBSP (U+00A0) and
# the soft hyphen (U+00AD) are not printable to Python.
_PRINTABLE = r' -~\u00a1-\u00ac\u00ae-\u00ff'
KEY_PATTERN = rf'^[{_PRINTABLE}]*[!-~\u00a1-\u00ac\u00ae-\u00ff][{_PRINTABLE}]*$'
IdempotencyKey = Annotated[str | None, Header(alias='Idempotency-Key', description=(
    f'Optional, up to {MAX_KEY_LENGTH} characters, unique per request of this token. A retry with the same key and '
    f'the same body within {KEY_TTL.total_seconds() / 3600:g} h gets the first answer again (header '
    f'`{REPLAYED_HEADER}: true`) and writes nothing; the same key with a different body is refused (422).'),
    json_schema_extra={'pattern': KEY_PATTERN, 'maxLength': MAX_KEY_LENGTH})]


def respond_with(stored: StoredResponse, media_type: str, *, replayed: bool = False) -> Response:
    """Turn a stored answer into an HTTP response."""
    headers = {REPLAYED_HEADER: 'true'} if replayed else None
    return JSONResponse(stored.body, status_code=stored.status_code, headers=headers, media_type=media_type)


async def idempotent(service: IdempotencyService, request: Request, actor: Actor, key: str | None,
                     operation: Callable[[], Awaitable[StoredResponse]], respond: Responder,
                     media_type: str = 'application/json', *, look_up_in_write: bool = False) -> Response:
    """Run a write once per Idempotency-Key; respond() must build the same answer from the commit's events.

    `look_up_in_write`: the operation's write looks the key up in its own transaction (the group commit of
    readings), which saves a read transaction per request; an error before that write looks it up then, so a stored
    answer, or the key's use for another request, still comes first.
    """
    if key is None or actor.token_id is None or actor.hospital_id is None:
        return respond_with(await operation(), media_type)
    check_key(key)
    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
    if look_up_in_write:
        await service.purge_now_and_then()
    else:
        stored = await service.lookup(actor.token_id, key, fingerprint)
        if stored is not None:
            return respond_with(stored, media_type, replayed=True)
    try:
        with service.recording(token_id=actor.token_id, hospital_id=actor.hospital_id, key=key,
                               request_hash=fingerprint, respond=respond, look_up_in_write=look_up_in_write) as pending:
            result = await operation()
    except AlreadyAnswered as answered:
        return respond_with(answered.stored, media_type, replayed=True)
    except DuplicateRequest:
        stored = await service.lookup(actor.token_id, key, fingerprint)
        if stored is None:
            raise
        return respond_with(stored, media_type, replayed=True)
    except DomainError:
        if not look_up_in_write:
            raise
        stored = await service.lookup(actor.token_id, key, fingerprint)
        if stored is None:
            raise
        return respond_with(stored, media_type, replayed=True)
    # The stored answer, when there is one, is what every retry will get: give exactly that the first time too.
    return respond_with(pending.stored or result, media_type)
