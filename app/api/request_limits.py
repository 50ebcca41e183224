"""Bounds on what a request may send: a size limit on every route, a nesting limit on JSON.

Size: `BodyLimits` (main.py puts it outside authentication and every route) applies Starlette's
RequestBodyLimitMiddleware: a body declared larger than its route's limit is refused before a byte of it is read, a
chunked one as soon as it passes the limit, and FastAPI answers both with a 413. The bulk ingest routes (vital signs,
FHIR) take up to MAX_BODY_BYTES; every other route, the sign-in and kiosk forms included, a small SMALL_BODY_BYTES.
Nesting: JSON documents that Vigil parses itself nest at most MAX_JSON_DEPTH levels.
"""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from app.observability.http import ASGIApp, Receive, Scope, Send

from .errors import MAX_BODY_BYTES

# The id columns of hospitals, wards, patients and alerts are 32-bit on PostgreSQL: a larger id names no row, and
# SQLite's driver fails on one past 64 bits (a 500 before this bound).
ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description='The id, a whole number from 1 to 2147483647')]
RowIdQuery = Annotated[int | None, Query(ge=1, le=ROW_ID_MAX, description='An id, a whole number from 1 to 2147483647')]



def iso_text(value: Any) -> Any:
    """Let only ISO 8601 text (or a datetime) through: pydantic alone also reads a number, or a string of digits,
    as seconds since 1970, so `"measured_at": 0` or `until=0.5` would be taken for a time in 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f'a time is ISO 8601 text with a timezone, such as "2026-11-26T15:00:00Z", not {value!r}')
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f'a time is ISO 8601 text with a timezone, such as "2026-11-26T15:00:00Z", not '
                         f'{value[:40]!r}') from None
    return value


# A time with its timezone, as ISO 8601 text (the document's "date-time").
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(iso_text)]

# Alerts, rules, sign-in, the kiosk session and the socket's long-polling send a few kB at most.
SMALL_BODY_BYTES = 256 * 1024
BULK_PATHS = ('/api/v1/vitals', '/api/fhir/')


class BodyLimits:
    """Refuse (413) a body larger than its route allows, reading at most that much of it."""

    def __init__(self, app: ASGIApp) -> None:
        self._bulk = RequestBodyLimitMiddleware(app, max_body_size=MAX_BODY_BYTES)
        self._small = RequestBodyLimitMiddleware(app, max_body_size=SMALL_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bulk = str(scope.get('path', '')).startswith(BULK_PATHS)
        await (self._bulk if bulk else self._small)(scope, receive, send)

MAX_JSON_DEPTH = 32  # a FHIR transaction Bundle nests about 8 deep; nothing legitimate comes near this


class JsonTooDeep(ValueError):
    """A JSON document nests deeper than MAX_JSON_DEPTH (a ValueError, so parsers report it like bad JSON)."""

    def __init__(self) -> None:
        super().__init__(f'it nests deeper than {MAX_JSON_DEPTH} levels')


def parse_json(body: bytes | str) -> Any:
    """Parse a JSON document, refusing one that nests deeper than MAX_JSON_DEPTH (raises ValueError)."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise JsonTooDeep from None
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeep
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return document
