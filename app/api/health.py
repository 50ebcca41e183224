"""Operations routes: liveness, readiness and Prometheus metrics; plain HTTP, so probes never create a UI client."""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.bootstrap import Vigil
from app.observability.metrics import CONTENT_TYPE

CHECK_SECONDS = 2.0


async def database_problem(vigil: Vigil) -> str | None:
    """Return why the database does not answer, or None when `SELECT 1` does within the time allowed."""
    where = make_url(vigil.settings.db_url)
    name = f'{where.get_backend_name()} {where.host or ""}{"/" if where.host else ""}{where.database or ""}'.strip()
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            # A read-only session: on SQLite a writing one would take the write lock beside the writers' queue.
            async with vigil.db.read() as session:
                await session.execute(text('SELECT 1'))
    except TimeoutError:
        return f'{name}: no answer within {CHECK_SECONDS:.0f} s'
    except Exception as error:  # any driver error means "not ready"; the reason goes to the operator
        detail = str(getattr(error, 'orig', None) or error).strip().splitlines()
        return f'{name}: {detail[0] if detail else type(error).__name__}'
    return None


def health_router(vigil: Vigil | None = None, stopping: Callable[[], bool] = lambda: False) -> APIRouter:
    """Return the router serving /healthz, and /readyz and /metrics when given the running services."""
    router = APIRouter(tags=['operations'])

    @router.get('/healthz', summary='The process is alive')
    async def healthz() -> dict[str, str]:
        return {'status': 'ok'}

    if vigil is None:
        return router

    @router.get('/readyz', summary='The process can do its work: database and (when configured) Redis answer',
                responses={503: {'description': 'Not ready; `checks` says why'}})
    async def readyz() -> JSONResponse:
        checks: dict[str, Any] = {}
        problems = await asyncio.gather(database_problem(vigil), vigil.bus.problem())
        checks['database'] = problems[0] or 'ok'
        checks['redis'] = (problems[1] or 'ok') if vigil.settings.redis_url else 'not configured'
        if stopping():
            checks['process'] = 'stopping: finishing open requests'
        ready = all(v in {'ok', 'not configured'} for v in checks.values())
        return JSONResponse({'status': 'ready' if ready else 'not ready', 'checks': checks},
                            status_code=200 if ready else 503)

    @router.get('/metrics', summary='Prometheus metrics of this process', response_class=Response,
                responses={200: {'content': {CONTENT_TYPE: {}}}})
    async def metrics() -> Response:
        # The other metrics still matter while the database is away (the alert counts keep their last values);
        # /readyz says why it is away. Bounded: a database that never answers would hold the scrape for the
        # driver's connect timeout (60 s), past Prometheus' own (10 s), and every metric would go missing.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CHECK_SECONDS):
                await vigil.telemetry.refresh(vigil.db)
        return Response(vigil.telemetry.render(), media_type=CONTENT_TYPE)

    return router
