"""Wall displays: a kiosk token opens a read-only board of its hospital's open alerts, without a user login.

The secret is sent once per start of the display; the display then keeps only the token's id in its session
and re-checks it, so a revoked token stops the display at its next check.
"""

from app.clock import Clock
from app.domain import TokenKind
from app.domain.actors import TOKEN_PREFIX
from app.errors import TokenInvalid
from app.schemas import Actor
from app.uow import Database
from data.models import ApiToken

from .tokens import TokenService

# One answer for unknown, revoked and wrong-kind tokens: a display must not tell a passer-by which secrets exist.
NOT_A_KIOSK_TOKEN = "This display's token is not valid."  # noqa: S105 (a message)


def kiosk_actor(token_id: int, hospital_id: int, name: str) -> Actor:
    """Return the actor a kiosk display acts as."""
    return Actor(kind='token', hospital_id=hospital_id, name=f'{TOKEN_PREFIX}{name}', token_id=token_id,
                 token_kind=TokenKind.KIOSK)


class KioskService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._tokens = TokenService(db, clock)

    async def sign_in(self, secret: str) -> Actor:
        """Return the display's actor for a valid kiosk token secret; any other token is refused."""
        try:
            actor = await self._tokens.verify(secret)
        except TokenInvalid:
            raise TokenInvalid(NOT_A_KIOSK_TOKEN) from None
        if actor.token_kind is not TokenKind.KIOSK or actor.token_id is None:
            raise TokenInvalid(NOT_A_KIOSK_TOKEN)
        return actor

    async def resume(self, token_id: int) -> Actor:
        """Return the display's actor for a token id kept in its session, while the token is valid."""
        async with self._db.read() as session:
            token = await session.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None or token.kind != TokenKind.KIOSK:
            raise TokenInvalid(NOT_A_KIOSK_TOKEN)
        return kiosk_actor(token.id, token.hospital_id, token.name)
