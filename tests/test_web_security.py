"""What browsers are told about every response, and that only Vigil's own pages may open its live socket."""

import base64
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from nicegui.testing import User

from app.config import Settings, SettingsError, load_settings
from app.web_security import DATA_POLICY, DOCS_POLICY, PAGE_POLICY, SecurityHeaders, SocketOrigins

from .browser.harness import VigilServer
from .test_ui_dashboard import sign_in

pytestmark = pytest.mark.usefixtures('quiet_demo')

SOCKET = '/_nicegui_ws/socket.io/?EIO=4&transport=polling'


def security_headers(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in (
        'content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy',
        'strict-transport-security')}


PAGE = {'content-security-policy': PAGE_POLICY, 'x-frame-options': 'SAMEORIGIN', 'x-content-type-options': 'nosniff',
        'referrer-policy': 'same-origin', 'strict-transport-security': None}
DATA = {**PAGE, 'content-security-policy': DATA_POLICY, 'x-frame-options': 'DENY'}


# --- headers -------------------------------------------------------------------------------------------------------

async def test_pages_may_be_framed_only_by_vigil_itself_and_load_nothing_from_elsewhere(user: User) -> None:
    for path in ('/login', '/pwa/offline.html', '/kiosk'):
        response = await user.http_client.get(path)
        assert response.status_code == 200, path
        expected = {**PAGE, 'referrer-policy': 'no-referrer'} if path == '/kiosk' else PAGE  # the route's own wins
        assert security_headers(response) == expected, path
    assert "frame-ancestors 'self'" in PAGE_POLICY and "object-src 'none'" in PAGE_POLICY
    assert 'http' not in PAGE_POLICY  # no other site is named


async def test_a_signed_in_staff_page_and_the_redirect_to_sign_in_carry_the_headers(user: User) -> None:
    redirect = await user.http_client.get('/audit')
    assert redirect.is_redirect and security_headers(redirect)['x-content-type-options'] == 'nosniff'
    await sign_in(user, 'nurse')
    response = await user.http_client.get('/audit')
    assert response.status_code == 200 and 'text/html' in response.headers['content-type']
    assert security_headers(response) == PAGE


async def test_api_fhir_and_probe_answers_are_never_sniffed_framed_or_run(user: User) -> None:
    requests: list[tuple[str, str, Any]] = [
        ('GET', '/api/v1/alerts', None), ('POST', '/api/fhir/r4/Observation', {}), ('GET', '/healthz', None),
        ('GET', '/openapi.json', None), ('GET', '/pwa/icon.svg', None),
        ('POST', '/api/v1/alerts', 'x' * (300 * 1024)),  # refused (413) before anything else looks at it
    ]
    for method, path, body in requests:
        content = body.encode() if isinstance(body, str) else None
        response = await user.http_client.request(method, path, json=body if isinstance(body, dict) else None,
                                                  content=content)
        assert response.status_code in (200, 401, 404, 413), (path, response.status_code)
        assert security_headers(response) == DATA, path


async def test_only_the_api_documentation_may_load_its_viewer_from_the_cdn(user: User) -> None:
    for path in ('/docs', '/redoc'):
        response = await user.http_client.get(path)
        assert security_headers(response)['content-security-policy'] == DOCS_POLICY, path
    assert "frame-ancestors 'self'" in DOCS_POLICY and "'unsafe-eval'" not in DOCS_POLICY


async def test_no_hsts_on_plain_http_by_default(user: User) -> None:
    assert (await user.http_client.get('/login')).headers.get('strict-transport-security') is None


@pytest.fixture
def behind_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('VIGIL_HTTPS_ONLY', 'true')


async def test_behind_tls_browsers_are_told_to_use_https_only(behind_tls: None, user: User) -> None:
    for path in ('/login', '/api/v1/alerts'):
        assert (await user.http_client.get(path)).headers['strict-transport-security'] == 'max-age=31536000', path


async def test_streamed_responses_pass_through_chunk_by_chunk_and_a_routes_own_header_is_kept() -> None:
    received: list[dict[str, Any]] = []

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': [(b'content-type', b'text/event-stream'), (b'X-Frame-Options', b'SAMEORIGIN')]})
        await send({'type': 'http.response.body', 'body': b'data: 1\n\n', 'more_body': True})
        assert received[-1]['body'] == b'data: 1\n\n'  # already on its way, before the stream goes on
        await send({'type': 'http.response.body', 'body': b'data: 2\n\n', 'more_body': False})

    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    async def send(message: Any) -> None:
        received.append(message)

    await SecurityHeaders(stream)({'type': 'http', 'path': '/api/v1/events'}, receive, send)
    headers = received[0]['headers']
    assert [value for name, value in headers if name.lower() == b'x-frame-options'] == [b'SAMEORIGIN']
    assert (b'content-security-policy', DATA_POLICY.encode()) in headers
    assert [message.get('body') for message in received[1:]] == [b'data: 1\n\n', b'data: 2\n\n']


# --- the socket's origin -------------------------------------------------------------------------------------------

async def test_the_socket_refuses_a_page_of_another_origin_and_says_so_once_in_the_log(
        user: User, caplog: pytest.LogCaptureFixture) -> None:
    origins = ('http://evil.example', 'null', 'http://test.evil.example', 'https://test', 'http://test:8080')
    for origin in (*origins, 'http://evil.example'):
        response = await user.http_client.get(SOCKET, headers={'Origin': origin})
        assert response.status_code == 400, origin
        assert response.json() == f'{origin} is not an accepted origin.'
        assert 'access-control-allow-origin' not in response.headers
    refusals = [record for record in caplog.records if getattr(record, 'event', None) == 'socket.origin_refused']
    assert [record.origin for record in refusals] == list(origins)  # type: ignore[attr-defined]
    assert all(record.levelname == 'WARNING' and 'this server is http://test' in record.getMessage()
               for record in refusals)


async def test_the_socket_accepts_vigils_own_pages_and_clients_that_are_no_web_page(user: User) -> None:
    for headers in ({'Origin': 'http://test'}, {'Origin': 'HTTP://TEST:80'}, {}):
        response = await user.http_client.get(SOCKET, headers=headers)
        assert response.status_code == 200, headers
        assert response.text.startswith('0{"sid":'), headers  # the Engine.IO handshake


async def test_behind_a_proxy_the_socket_accepts_the_public_origin_it_forwards(user: User) -> None:
    forwarded = {'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'vigil.example.org:8443'}
    accepted = await user.http_client.get(SOCKET, headers={'Origin': 'https://vigil.example.org:8443', **forwarded})
    assert accepted.status_code == 200
    refused = await user.http_client.get(SOCKET, headers={'Origin': 'https://evil.example', **forwarded})
    assert refused.status_code == 400


@pytest.fixture
def extra_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('VIGIL_ALLOWED_ORIGINS', 'https://wards.example.org, https://vigil.example.org:8443')


async def test_a_configured_origin_may_open_the_socket(extra_origin: None, user: User) -> None:
    for origin in ('https://wards.example.org', 'https://vigil.example.org:8443', 'http://test'):
        assert (await user.http_client.get(SOCKET, headers={'Origin': origin})).status_code == 200, origin
    assert (await user.http_client.get(SOCKET, headers={'Origin': 'http://wards.example.org'})).status_code == 400


def test_the_origin_check_compares_whole_origins() -> None:
    check = SocketOrigins(['https://wards.example.org'])
    environ = {'asgi.scope': {'scheme': 'wss'}, 'HTTP_HOST': 'vigil.example.org'}
    assert check('https://vigil.example.org', environ)  # TLS straight to Vigil: a wss:// socket of https pages
    assert check('https://wards.example.org/', environ)
    for origin in (None, '', 'http://vigil.example.org', 'https://vigil.example.org.evil.example',
                   'https://evil.example/https://vigil.example.org', 'https://user@vigil.example.org',
                   'https://vigil.example.org:99999', 'javascript:alert(1)'):
        assert not check(origin, environ), origin


def upgrade(server: VigilServer, origin: str) -> str:
    """Open the socket's WebSocket transport from a page of `origin`; return the server's status line."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f'GET /_nicegui_ws/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n'
               f'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
               f'Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n')
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as connection:
        connection.sendall(request.encode())
        return connection.recv(4096).split(b'\r\n', 1)[0].decode()


def test_a_websocket_from_another_site_is_refused_by_the_real_server(tmp_path: Path) -> None:
    server = VigilServer(tmp_path / 'vigil')
    server.start()
    try:
        assert upgrade(server, 'http://evil.example').startswith('HTTP/1.1 403')
        assert upgrade(server, f'http://127.0.0.1:{server.port}').startswith('HTTP/1.1 101')
    finally:
        server.stop()


# --- the setting ---------------------------------------------------------------------------------------------------

def test_allowed_origins_are_read_comma_separated_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().allowed_origins == ()
    monkeypatch.setenv('VIGIL_ALLOWED_ORIGINS', ' HTTPS://Wards.Example.org:443/ ,, http://[::1]:8080')
    assert load_settings().allowed_origins == ('https://wards.example.org', 'http://[::1]:8080')


@pytest.mark.parametrize('value', ['*', 'wards.example.org', 'ftp://wards.example.org', 'https://', 'null',
                                   'https://wards.example.org/path', 'https://wards.example.org?x=1',
                                   'https://user:pw@wards.example.org', 'https://wards.example.org:0x50'])
def test_a_value_that_is_no_origin_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                                       value: str) -> None:
    monkeypatch.setenv('VIGIL_ALLOWED_ORIGINS', f'https://ok.example.org,{value}')
    with pytest.raises(SettingsError, match=r'^invalid setting VIGIL_ALLOWED_ORIGINS: .* is not an origin'):
        load_settings()
