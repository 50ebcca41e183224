"""Password hashing (argon2id through the passlib API of libpass) and API token secrets."""

import asyncio
import hashlib
import secrets

from passlib.context import CryptContext

from app.domain import TokenKind

TOKEN_PREFIXES = {TokenKind.DEVICE: 'vgd', TokenKind.KIOSK: 'vgk', TokenKind.INTEGRATION: 'vgi'}
MIN_PASSWORD_LENGTH = 8


class PasswordHasher:
    """argon2id hashing, always off the event loop (one hash costs about 0.1-0.2 s of CPU)."""

    def __init__(self) -> None:
        self._context = CryptContext(schemes=['argon2'], argon2__type='ID')
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Return the argon2id hash of a password."""
        return await asyncio.to_thread(self._context.hash, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        """Tell whether password matches the hash."""
        return bool(await asyncio.to_thread(self._context.verify, password, password_hash))

    async def burn(self, password: str) -> None:
        """Spend the time of one verification, so an unknown username answers as slowly as a wrong password."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(password, self._dummy_hash)


def new_token_secret(kind: TokenKind) -> str:
    """Return a fresh 256-bit token secret whose prefix tells its kind (helps secret scanners and operators)."""
    return f'{TOKEN_PREFIXES[kind]}_{secrets.token_urlsafe(32)}'


def token_digest(secret: str) -> str:
    """Return the SHA-256 hex digest stored in place of a token secret."""
    return hashlib.sha256(secret.encode()).hexdigest()
