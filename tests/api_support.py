"""The HTTP API mounted on a bare FastAPI app, a client for it and real tokens of both test hospitals."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.api.errors import method_not_allowed
from app.api.openapi import install_openapi
from app.api.routers import api_routers
from app.bootstrap import Vigil
from app.domain import TokenKind
from data.models import Alert, AlertEvent, EventLogEntry, IdempotencyKey, VitalReading


def api_app(vigil: Vigil, **options: Any) -> FastAPI:
    """Return a FastAPI app serving only Vigil's API routers."""
    app = FastAPI()
    for router in api_routers(vigil, **options):
        app.include_router(router)
    app.add_exception_handler(405, method_not_allowed)
    install_openapi(app)
    return app


@dataclass
class Api:
    """A client of the API with one token of each kind per hospital: 'device', 'kiosk', 'integration' are hospital
    A's, 'beta-device' etc. hospital B's."""

    vigil: Vigil
    client: httpx.AsyncClient
    secrets: dict[str, str]

    def auth(self, who: str | None) -> dict[str, str]:
        return {'Authorization': f'Bearer {self.secrets[who]}'} if who else {}

    async def get(self, path: str, who: str | None = 'kiosk', **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers={**self.auth(who), **kwargs.pop('headers', {})}, **kwargs)

    async def post(self, path: str, json: Any = None, who: str | None = 'device', **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, json=json, headers={**self.auth(who), **kwargs.pop('headers', {})},
                                      **kwargs)

    async def send(self, method: str, path: str, json: Any = None, who: str | None = 'integration',
                   **kwargs: Any) -> httpx.Response:
        """Send any method (PUT, PATCH, DELETE ...), by default with the integration token."""
        return await self.client.request(method, path, json=json,
                                         headers={**self.auth(who), **kwargs.pop('headers', {})}, **kwargs)


async def create_tokens(vigil: Vigil) -> dict[str, str]:
    secrets = {}
    for slug, prefix in (('alpha', ''), ('beta', 'beta-')):
        for kind in TokenKind:
            created = await vigil.tokens.create(hospital_slug=slug, kind=kind, name=f'{slug} {kind}')
            secrets[f'{prefix}{kind}'] = created.secret
    return secrets


@asynccontextmanager
async def open_api(vigil: Vigil) -> AsyncIterator[Api]:
    """Serve the API in-process (ASGI transport, no sockets) for one test."""
    transport = httpx.ASGITransport(app=api_app(vigil))
    async with httpx.AsyncClient(transport=transport, base_url='http://vigil.test') as client:
        yield Api(vigil, client, await create_tokens(vigil))


def reading(mrn: str = 'alpha-North-1', kind: str = 'heart_rate', value: Any = 88, unit: str | None = '/min',
            at: datetime | str | None = None, **extra: Any) -> dict[str, Any]:
    """Return one reading as a device sends it (measured at the given time, an ISO string, or 2026-03-02 07:59Z)."""
    measured_at = at.isoformat() if isinstance(at, datetime) else at or '2026-03-02T07:59:00Z'
    body = {'patient_mrn': mrn, 'kind': kind, 'value': value, 'measured_at': measured_at, **extra}
    if unit is not None:
        body['unit'] = unit
    return body


async def counts(vigil: Vigil) -> dict[str, int]:
    """Rows a refused request must not have added."""
    async with vigil.db.read() as session:
        return {model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (VitalReading, Alert, AlertEvent, EventLogEntry, IdempotencyKey)}
