"""What schemathesis cannot read from /openapi.json, taught to its generator (SCHEMATHESIS_HOOKS=tests.api_fuzz.hooks).

Only rules that JSON Schema cannot state, and (but for the order of two limits, which no refusal test needs
reversed) only for positive cases, those it expects the server to accept: negative cases stay as generated, so
that every refusal the document promises is still tried. The document states
each rule in words (the field's description), and the API tests check the server enforces it.
"""

import re
import uuid
from typing import Any

import schemathesis
from schemathesis import Case, GenerationMode, HookContext

from app.api.idempotent import KEY_PATTERN
from app.errors import InvalidInput
from app.webhooks.rules import check_url

LIMITS = re.compile(r'^/api/v1/rules/limits/(?P<parameter>\w+)$')
ESCALATION = re.compile(r'^/api/v1/rules/escalation/\w+$')
WEBHOOKS = '/api/v1/webhooks'
# Where generated webhooks send: the loopback discard port. Tests reach nothing but 127.0.0.1, and the server's
# webhook worker would otherwise POST alerts to whatever host the generator made up.
LOOPBACK = 'http://127.0.0.1:9/schemathesis'


def positive(case: Case) -> bool:
    return case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE


def whole_numbers(value: Any) -> Any:
    """JSON Schema counts 74.0 as an integer; the API's whole-number fields are strict and want 74."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def ordered_limits(body: dict[str, Any], parameter: str) -> None:
    """low lies below high (a rule between two fields); temperature is charted in tenths."""
    low, high = body.get('low'), body.get('high')
    if parameter == 'temperature':
        for side in ('low', 'high'):
            if isinstance(body.get(side), float):
                body[side] = round(body[side], 1)
        low, high = body.get('low'), body.get('high')
    if isinstance(low, int | float) and isinstance(high, int | float) and low >= high:
        body['low'], body['high'] = (high, low) if low > high else (None, high)


def loopback(body: dict[str, Any]) -> None:
    """Point a webhook the server would accept at the loopback address (a refused URL stays, as generated)."""
    url = body.get('url')
    if isinstance(url, str):
        try:
            check_url(url)
        except InvalidInput:
            return
        body['url'] = LOOPBACK


@schemathesis.hook
def map_body(context: HookContext, body: Any) -> Any:
    # The bodies of the examples and fuzzing phases (map_case is not called for examples). Safe for negative cases
    # too: the same two values stay, so a value out of range is still out of range.
    if context.operation is not None and isinstance(body, dict) and (match := LIMITS.match(context.operation.path)):
        ordered_limits(body, match['parameter'])
    if context.operation is not None and context.operation.path == WEBHOOKS and isinstance(body, dict):
        loopback(body)
    return body


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    if case.operation.path == WEBHOOKS and isinstance(case.body, dict):
        loopback(case.body)  # negative cases too: no generated host is ever contacted
    if not positive(case):
        return case
    # "Unique per request of this token" (the header's description): a key reused with another body is refused.
    key = (case.headers or {}).get('Idempotency-Key')
    if isinstance(key, str) and re.fullmatch(KEY_PATTERN, key):
        case.headers['Idempotency-Key'] = f'{key[:150]}-{uuid.uuid4().hex}'
    # A cursor is next_cursor of a page this server answered, never made up.
    if case.operation.path == '/api/v1/patients/{mrn}/vitals' and case.query:
        case.query.pop('cursor', None)
    if isinstance(case.body, dict | list):
        case.body = whole_numbers(case.body)
    if isinstance(case.body, dict) and (match := LIMITS.match(case.operation.path)):
        ordered_limits(case.body, match['parameter'])  # the coverage phase calls map_case, not map_body
    minutes = case.body.get('minutes') if isinstance(case.body, dict) else None
    if ESCALATION.match(case.operation.path) and isinstance(minutes, list) and all(
            isinstance(m, int) and not isinstance(m, bool) for m in minutes):
        case.body['minutes'] = sorted(set(minutes))  # strictly increasing
    return case
