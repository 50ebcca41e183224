"""Domain errors become HTTP answers at this boundary, the same way on every route."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.errors import AuthenticationFailed, Conflict, DomainError, InvalidInput, NotAllowed, NotFound

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Responses = dict[int | str, dict[str, Any]]


class ErrorBody(BaseModel):
    """Why a request was refused, in words an integrator can act on."""

    detail: str


class FieldProblem(BaseModel):
    """One field that is missing or of the wrong type: where (loc), what is wrong (msg) and its kind (type)."""

    loc: list[str | int]
    msg: str
    type: str


class Refused(BaseModel):
    """Why a request was refused, nothing changed: a message (a value the rules do not allow), or the list of the
    fields that are missing or of the wrong type."""

    detail: str | list[FieldProblem]


# NOTE: every route documents its 422 as Refused, the shape both validation_error and error_response send; without
# it FastAPI documents its own HTTPValidationError (always a list), which domain errors do not send.
REFUSED: Responses = {422: {'model': Refused, 'description': 'Refused; nothing changed'}}
# FastAPI answers 400 itself when a body it parses is not text it can decode (not UTF-8).
MALFORMED: Responses = {400: {'model': ErrorBody, 'description': 'The body is not JSON text'}}
ERRORS: Responses = {401: {'model': ErrorBody}, 403: {'model': ErrorBody}, 404: {'model': ErrorBody}, **REFUSED}


MAX_BODY_BYTES = 8 * 1024 * 1024  # a full batch of 1000 readings is about 150 kB, a FHIR Bundle of 1000 a few MB


class BodyTooLarge(InvalidInput):
    """The request body is larger than any legitimate request."""


async def read_body(request: Request) -> bytes:
    """Return the request body, refusing (413) one larger than MAX_BODY_BYTES."""
    declared = request.headers.get('content-length', '')
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(f'The body may have at most {MAX_BODY_BYTES // 1024 // 1024} MiB.')
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f'The body may have at most {MAX_BODY_BYTES // 1024 // 1024} MiB.')
    return body


def status_of(error: DomainError) -> int:
    """Return the HTTP status that answers a domain error."""
    for kind, status in ((BodyTooLarge, 413), (NotFound, 404), (NotAllowed, 403), (Conflict, 409), (InvalidInput, 422),
                         (AuthenticationFailed, 401)):
        if isinstance(error, kind):
            return status
    return 400


def auth_headers(error: DomainError) -> dict[str, str]:
    """Return the challenge a 401 must carry."""
    return {'WWW-Authenticate': 'Bearer'} if isinstance(error, AuthenticationFailed) else {}


def error_response(error: DomainError, **extra: Any) -> JSONResponse:
    """Answer a domain error as {"detail": message, ...extra}."""
    return JSONResponse({'detail': error.message, **extra}, status_code=status_of(error), headers=auth_headers(error))


class DomainErrorRoute(APIRoute):
    """A route whose domain errors (also those of its dependencies, such as authentication) become JSON answers.

    Routers cannot register app-wide exception handlers and this app is NiceGUI's, shared with the UI; a route
    class keeps the translation with the API.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def translate(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                return await self.invalid_request(request, error)
            except DomainError as error:
                return self.domain_error(request, error)

        return translate

    async def invalid_request(self, request: Request, error: RequestValidationError) -> Response:
        """Answer a request that failed FastAPI's validation (422 with FastAPI's usual error list)."""
        return JSONResponse({'detail': _jsonable_errors(error)}, status_code=422)

    def domain_error(self, request: Request, error: DomainError) -> Response:
        """Answer a domain error."""
        return error_response(error)


async def validation_error(request: Request, error: Exception) -> Response:
    """Answer any route's failed validation as 422 with where and what, never echoing the input back (an app-wide
    handler: FastAPI's default one repeats the whole body, however large, in every error)."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({'detail': _jsonable_errors(error)}, status_code=422)


METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE')


async def method_not_allowed(request: Request, error: Exception) -> Response:
    """Answer 405 with every method the path has (an app-wide handler: Starlette names only those of the first
    route that matched the path, and GET and POST of one path are two routes)."""
    assert isinstance(error, HTTPException)
    # Asked through BaseRoute.matches only: FastAPI nests included routers in route objects of its own.
    methods = [method for method in METHODS if any(
        route.matches({**request.scope, 'method': method})[0] is Match.FULL for route in request.app.router.routes)]
    headers = {**(error.headers or {}), 'Allow': ', '.join(methods)} if methods else error.headers
    return JSONResponse({'detail': error.detail}, status_code=405, headers=headers)


def _jsonable_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # The raw errors may hold exceptions in ctx (not JSON); keep what a client can use.
    return [{'loc': list(e.get('loc', ())), 'msg': str(e.get('msg', '')), 'type': str(e.get('type', ''))}
            for e in error.errors()]
