"""The installable web app's service worker and the dark theme in real Chromium."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import OpenAs
from .harness import VigilServer, sign_in

pytestmark = pytest.mark.browser

_CACHED_PATHS = '''async () => {
  const found = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) found.push([name, new URL(request.url).pathname]);
  }
  return found;
}'''


def luminance(css_colour: str) -> float:
    """Return the WCAG relative luminance of a computed `rgb(...)` / `rgba(...)` colour."""
    red, green, blue = (int(part) / 255 for part in re.findall(r'[\d.]+', css_colour)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def panel_background(page: Page) -> str:
    panel = page.locator('.vigil-panel').first
    expect(panel).to_be_visible()
    return str(panel.evaluate('(element) => getComputedStyle(element).backgroundColor'))


def test_the_service_worker_caches_only_the_shell_and_shows_the_offline_page(open_as: OpenAs,
                                                                              server: VigilServer) -> None:
    page = open_as(server, 'nurse', path='/audit')
    # The worker installs and takes over the open page by itself (clients.claim), without a reload.
    page.wait_for_function('navigator.serviceWorker.controller !== null', timeout=20_000)
    page.reload()  # this load's requests pass through the worker
    expect(page.locator('.vigil-conn-live').first).to_be_visible()
    assert page.evaluate("fetch('/api/v1/alerts').then((response) => response.status)") == 401  # no bearer token

    cached = page.evaluate(_CACHED_PATHS)
    names, paths = {name for name, _ in cached}, {path for _, path in cached}
    assert len(names) == 1 and names.pop().startswith('vigil-shell-')
    assert '/pwa/offline.html' in paths
    assert any(re.match(r'/_nicegui/\d[^/]*/static/', path) for path in paths)  # NiceGUI's versioned assets
    leaked = [path for path in paths if not path.startswith(('/pwa/', '/_nicegui/'))
              or path.startswith('/_nicegui_ws') or '/dynamic_resources/' in path]
    assert leaked == []  # no page, no API answer, no socket request

    page.context.set_offline(True)
    page.goto(f'{server.url}/audit')
    expect(page.get_by_role('heading', name='Vigil is offline')).to_be_visible()
    expect(page.get_by_text('For emergencies, use the phone.')).to_be_visible()
    outcome = page.evaluate("fetch('/api/v1/alerts').then((response) => 'answered ' + response.status, "
                            "() => 'failed')")
    assert outcome == 'failed'  # an API answer never comes from a cache

    page.context.set_offline(False)  # the offline page reloads the page it stands for once Vigil answers
    expect(page.get_by_role('heading', name='Audit trail')).to_be_visible(timeout=20_000)


def test_the_dark_theme_follows_the_system_then_the_users_choice_from_the_first_paint(browser: Browser,
                                                                                       own_server: VigilServer) -> None:
    context = browser.new_context(viewport={'width': 1280, 'height': 800}, color_scheme='dark')
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, own_server, 'doctor', next_path='/audit')
        expect(page.locator('body')).to_have_class(re.compile(r'\bbody--dark\b'))
        assert luminance(panel_background(page)) < 0.05  # a dark panel on a dark system

        page.get_by_role('button', name='Account').click()
        page.get_by_role('button', name='Light').click()
        expect(page.locator('body')).not_to_have_class(re.compile(r'\bbody--dark\b'))
        assert luminance(panel_background(page)) > 0.9
        page.reload()  # remembered, although the system is still dark
        expect(page.locator('.vigil-conn-live').first).to_be_visible()
        assert luminance(panel_background(page)) > 0.9

        page.get_by_role('button', name='Account').click()
        page.get_by_role('button', name='Dark').click()
        expect(page.locator('body')).to_have_class(re.compile(r'\bbody--dark\b'))
        # The server builds the page dark: its head paints the page dark before the body, or any script in it, has
        # drawn a thing (no white flash while Vue starts).
        first_html = context.request.get(f'{own_server.url}/audit').text()
        assert '<style>html { background: #121212; }' in first_html[:first_html.index('</head>')]
    finally:
        context.close()

    light_system = browser.new_context(viewport={'width': 1280, 'height': 800}, color_scheme='light')
    try:
        page = light_system.new_page()
        sign_in(page, own_server, 'doctor', next_path='/audit')  # another device: the choice follows the account
        assert luminance(panel_background(page)) < 0.05
        sign_in(page, own_server, 'nurse', next_path='/audit')  # someone who never chose: the system's light
        assert luminance(panel_background(page)) > 0.9
    finally:
        light_system.close()
