"""API tokens for devices, kiosks and integrations: created once, stored hashed, revocable."""

from datetime import datetime, timedelta

from sqlalchemy import select

from app.clock import Clock
from app.domain import TokenKind
from app.errors import InvalidInput, TokenInvalid, TokenNotFound
from app.schemas import Actor, CreatedToken, TokenView
from app.security import new_token_secret, token_digest
from app.uow import Database
from data.models import ApiToken

from .common import add_unique, hospital_by_slug

INVALID_TOKEN = 'The API token is unknown or has been revoked.'  # noqa: S105 (a message)
# How long verify(cached=True) trusts an answer. A device posts every second or faster: without the cache each
# request pays a read transaction for the token. A revocation here clears the cache at once; one made by another
# process (the `token revoke` command, a second server) takes effect here within this time; readings are refused at
# once anyway (their write transaction reads the token again: app/services/ingest.py LIVE_TOKENS).
VERIFIED_FOR = timedelta(seconds=5)
MAX_CACHED = 1000


class TokenService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._verified: dict[str, tuple[datetime, Actor]] = {}  # token digest -> (when checked, actor)
        self._revocations = 0  # a check that overlapped a revocation is not cached
        self._revoked_ids: set[int] = set()  # revoked by this process: open streams stop before their next event

    async def create(self, *, hospital_slug: str, kind: TokenKind, name: str) -> CreatedToken:
        """Create a token; its secret is returned this once and only its digest is stored."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput('A token name has 1-100 characters.')
        secret = new_token_secret(kind)
        async with self._db.uow() as uow:
            hospital = await hospital_by_slug(uow.session, hospital_slug)
            token = ApiToken(hospital_id=hospital.id, kind=kind, name=name, token_hash=token_digest(secret),
                             prefix=secret[:10], created_at=self._clock())
            await add_unique(uow.session, token, f'{hospital.name} already has a token named "{name}".')
            view = TokenView.model_validate(token)
            await uow.commit()
        return CreatedToken(token=view, secret=secret)

    async def verify(self, secret: str, *, cached: bool = False) -> Actor:
        """Return the actor for a valid, unrevoked token secret; cached=True may reuse a check of the last seconds."""
        digest, now = token_digest(secret.strip()), self._clock()
        if cached and (hit := self._verified.get(digest)) is not None and hit[0] <= now < hit[0] + VERIFIED_FOR:
            return hit[1]
        revocations = self._revocations
        async with self._db.read() as session:
            token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if token is None or token.revoked_at is not None:
            self._verified.pop(digest, None)
            raise TokenInvalid(INVALID_TOKEN)
        actor = Actor(kind='token', hospital_id=token.hospital_id, name=f'token:{token.name}', token_id=token.id,
                      token_kind=TokenKind(token.kind))
        if cached and revocations == self._revocations:
            if len(self._verified) >= MAX_CACHED:  # bounded: drop what has expired, or everything
                self._verified = {d: hit for d, hit in self._verified.items() if hit[0] <= now < hit[0] + VERIFIED_FOR}
                if len(self._verified) >= MAX_CACHED:
                    self._verified.clear()
            self._verified[digest] = (now, actor)
        return actor

    def revoked_here(self, actor: Actor) -> str | None:
        """Say whether this process revoked the actor's token (a set look-up, cheap enough for every event)."""
        return 'The token was revoked.' if actor.token_id in self._revoked_ids else None

    async def no_longer_valid(self, actor: Actor) -> str | None:
        """Say why a token actor that was valid is no longer (revoked, deleted, moved to another hospital or kind),
        or None while it still is. Long-lived connections (the event stream) ask this every few seconds: a
        revocation made by any process (the `token revoke` command, another server) ends them."""
        async with self._db.read() as session:
            token = await session.get(ApiToken, actor.token_id) if actor.token_id is not None else None
        if token is None:
            return 'The token no longer exists.'
        if token.revoked_at is not None:
            return 'The token was revoked.'
        if token.hospital_id != actor.hospital_id:
            return "The token's hospital changed."
        if TokenKind(token.kind) is not actor.token_kind:
            return "The token's kind changed."
        return None

    async def revoke(self, *, hospital_slug: str, name: str) -> TokenView:
        """Revoke a token by name; a revoked token is refused from then on. Revoking twice is harmless."""
        async with self._db.uow() as uow:
            hospital = await hospital_by_slug(uow.session, hospital_slug)
            token = await uow.session.scalar(
                select(ApiToken).where(ApiToken.hospital_id == hospital.id, ApiToken.name == name.strip()))
            if token is None:
                raise TokenNotFound(f'{hospital.name} has no token named "{name}".')
            if token.revoked_at is None:
                token.revoked_at = self._clock()
            view = TokenView.model_validate(token)
            await uow.commit()
        self._revocations += 1
        self._revoked_ids.add(view.id)
        self._verified.pop(token.token_hash, None)  # refused from the next request on, not after the cache time
        return view

    async def list_tokens(self, *, hospital_slug: str) -> list[TokenView]:
        """Return every token of a hospital, revoked ones included (never the secrets)."""
        async with self._db.read() as session:
            hospital = await hospital_by_slug(session, hospital_slug)
            tokens = await session.scalars(
                select(ApiToken).where(ApiToken.hospital_id == hospital.id).order_by(ApiToken.name))
            return [TokenView.model_validate(t) for t in tokens]
