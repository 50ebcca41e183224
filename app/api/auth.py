"""Bearer-token authentication for the device and integration API, and what each kind of token may do."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.domain import TokenKind
from app.errors import AuthenticationFailed, NotAllowed
from app.schemas import Actor
from app.services.tokens import TokenService

# A message, not a secret.
MISSING_TOKEN = "Send an API token as 'Authorization: Bearer <token>' (see `token create`)."  # noqa: S105

bearer = HTTPBearer(auto_error=False, scheme_name='ApiToken', description=(
    'A token created with `python main.py token create --hospital ... --kind device|kiosk|integration`. '
    'Device tokens record vitals and raise alerts; kiosk tokens only read; integration tokens may also '
    "acknowledge, resolve and snooze alerts, change the alarm rules and prescribe a patient's SpO2 scale, on "
    'behalf of a named person.'))

Authenticate = Callable[..., Awaitable[Actor]]


def authenticator(tokens: TokenService) -> Authenticate:
    """Return the dependency that turns the bearer token into the acting token (401 when missing or invalid)."""

    async def authenticate(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
        if credentials is None or not credentials.credentials.strip():
            raise AuthenticationFailed(MISSING_TOKEN)
        # A short in-process cache: a device posting every second need not pay a read transaction each time.
        return await tokens.verify(credentials.credentials, cached=True)

    return authenticate


def permitting(authenticate: Authenticate, kinds: tuple[TokenKind, ...], action: str) -> Authenticate:
    """Return a dependency that also refuses (403) tokens of other kinds, before the request body is looked at."""

    async def permitted(actor: Annotated[Actor, Depends(authenticate)]) -> Actor:
        if actor.token_kind not in kinds:
            needed = ' or '.join(f'{"an" if k[0] in "aeiou" else "a"} {k}' for k in kinds)
            raise NotAllowed(f'A {actor.token_kind} token cannot {action}; that needs {needed} token.')
        return actor

    return permitted
