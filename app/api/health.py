"""Liveness route: a plain HTTP endpoint, so probes never create a UI client."""

from fastapi import APIRouter


def health_router() -> APIRouter:
    """Return the router serving /healthz."""
    router = APIRouter(tags=['operations'])

    @router.get('/healthz', summary='The process is alive')
    async def healthz() -> dict[str, str]:
        return {'status': 'ok'}

    return router
