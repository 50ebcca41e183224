"""The installable web app and the dark theme through HTTP and NiceGUI's simulated user: the manifest, its icons,
the service worker's rules, and the theme choice remembered for the user."""

import json
import re
import struct
import tomllib
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from .test_ui_dashboard import sign_in

pytestmark = pytest.mark.usefixtures('quiet_demo')

REPO = Path(__file__).resolve().parents[1]


def png_size(data: bytes) -> tuple[int, int]:
    """Return a PNG's width and height, read from its IHDR chunk (the first one, right after the signature)."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR'
    width, height = struct.unpack('>II', data[16:24])
    return width, height


async def test_the_manifest_makes_vigil_installable_full_screen_with_its_icons(user: User) -> None:
    response = await user.http_client.get('/manifest.webmanifest', follow_redirects=False)  # no session needed

    assert response.status_code == 200
    assert response.headers['content-type'].startswith('application/manifest+json')
    manifest = json.loads(response.text)
    assert manifest['name'] and manifest['short_name'] == 'Vigil'
    assert manifest['start_url'] == '/' and manifest['scope'] == '/' and manifest['display'] == 'standalone'
    assert re.fullmatch(r'#[0-9a-f]{6}', manifest['theme_color'])
    assert re.fullmatch(r'#[0-9a-f]{6}', manifest['background_color'])
    declared = {(icon['sizes'], icon['type'], icon['purpose']) for icon in manifest['icons']}
    assert {('192x192', 'image/png', 'any'), ('512x512', 'image/png', 'any'), ('512x512', 'image/png', 'maskable'),
            ('any', 'image/svg+xml', 'any')} <= declared
    for icon in manifest['icons']:
        file = await user.http_client.get(icon['src'], follow_redirects=False)
        assert file.status_code == 200, icon['src']
        assert file.headers['content-type'] == icon['type']
        if icon['type'] == 'image/png':
            assert '{}x{}'.format(*png_size(file.content)) == icon['sizes'], icon['src']
        else:
            assert file.text.lstrip().startswith('<svg')
    touch = await user.http_client.get('/pwa/apple-touch-icon.png')
    assert png_size(touch.content) == (180, 180)


async def test_the_login_page_links_the_manifest_the_icons_and_the_service_worker(user: User) -> None:
    page = (await user.http_client.get('/login')).text

    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<link rel="apple-touch-icon" href="/pwa/apple-touch-icon.png">' in page
    assert 'name="theme-color"' in page
    assert "navigator.serviceWorker.register('/sw.js', {scope: '/'})" in page


async def test_the_service_worker_is_served_at_the_root_and_renamed_with_each_version(user: User) -> None:
    response = await user.http_client.get('/sw.js', follow_redirects=False)

    assert response.status_code == 200
    assert response.headers['content-type'].startswith('text/javascript')
    assert response.headers['cache-control'] == 'no-cache'  # browsers look for a new worker at every load
    with (REPO / 'pyproject.toml').open('rb') as file:
        version = tomllib.load(file)['project']['version']
    assert re.search(rf"const VERSION = '{re.escape(version)}-[0-9a-f]{{12}}';", response.text)
    assert '__VIGIL_VERSION__' not in response.text


def worker_rules(script: str) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    """Return the service worker's cache-first and never rules, as written in the script (plain regular expressions
    that mean the same in JavaScript and Python)."""
    def patterns(name: str) -> list[re.Pattern[str]]:
        block = re.search(rf'const {name} = \[(.*?)\];', script, re.DOTALL)
        assert block is not None, name
        return [re.compile(source.replace(r'\/', '/')) for source in re.findall(r'/(\^.*?)/,?\s', block.group(1))]
    return patterns('CACHE_FIRST'), patterns('NEVER')


# What a browser asks for, and whether the worker may answer it from its cache.
REQUESTS = {
    '/_nicegui/3.18.0/static/quasar.umd.prod.js': True, '/_nicegui/3.18.0/components/abc/echart.js': True,
    '/_nicegui/3.18.0/libraries/abc/echarts.min.js': True, '/pwa/icon-192.png': True, '/pwa/offline.html': True,
    '/api/v1/alerts': False, '/api/v1/patients/3/vitals': False, '/_nicegui_ws/socket.io/': False,
    '/_nicegui/3.18.0/dynamic_resources/abc': False, '/_nicegui/client/abc/upload': False, '/': False,
    '/patients/3': False, '/audit': False, '/kiosk/display': False, '/healthz': False, '/manifest.webmanifest': False,
}


async def test_the_service_worker_caches_only_the_shell_never_api_answers_or_pages(user: User) -> None:
    script = (await user.http_client.get('/sw.js')).text
    cache_first, never = worker_rules(script)

    for path, cached in REQUESTS.items():
        from_cache = any(rule.search(path) for rule in cache_first) and not any(rule.search(path) for rule in never)
        assert from_cache is cached, path
    assert any(rule.search('/api/') for rule in never)


async def test_the_shell_files_are_public_and_nothing_else_is_served_from_their_folder(user: User) -> None:
    offline = await user.http_client.get('/pwa/offline.html', follow_redirects=False)
    assert offline.status_code == 200 and offline.headers['content-type'].startswith('text/html')
    assert 'Vigil is offline' in offline.text and 'use the phone' in offline.text
    for path in ('/pwa/sw.js', '/pwa/make_icons.py', '/pwa/..%2F..%2Fmain.py', '/pwa/'):
        assert (await user.http_client.get(path, follow_redirects=False)).status_code == 404, path


def theme_choice(user: User) -> ui.toggle:
    user.find(marker='account').click()  # the theme choice is in the account menu, built when first opened
    element = user.find(kind=ui.toggle, marker='theme').elements.pop()
    assert isinstance(element, ui.toggle)
    return element


def dark_mode(user: User) -> bool | None:
    element = user.find(kind=ui.dark_mode).elements.pop()
    assert isinstance(element, ui.dark_mode)
    value: bool | None = element.value
    return value


async def test_the_theme_follows_the_system_until_the_user_chooses_and_the_choice_is_remembered(user: User) -> None:
    await sign_in(user, 'nurse')
    assert theme_choice(user).value == 'system'
    assert dark_mode(user) is None  # Quasar's auto: the system's colour scheme

    theme_choice(user).set_value('dark')
    assert dark_mode(user) is True

    await user.open('/audit')  # another page, a new load: the server builds it dark from the start
    await user.should_see(marker='account')
    assert theme_choice(user).value == 'dark'
    assert dark_mode(user) is True

    theme_choice(user).set_value('light')
    await sign_in(user, 'nurse')  # signing in again clears the browser's copy; the account's copy remains
    assert theme_choice(user).value == 'light'
    assert dark_mode(user) is False


async def test_one_users_theme_is_not_anothers(user: User) -> None:
    await sign_in(user, 'nurse')
    theme_choice(user).set_value('dark')

    await sign_in(user, 'doctor')
    assert theme_choice(user).value == 'system'
    assert dark_mode(user) is None
