"""Screenshots of every page, light and dark, at a wall screen's, a laptop's, a tablet's and a phone's size.

    .venv/bin/python -m tests.browser.screenshots OUT_DIR [--pages login,dashboard,...] [--sizes 1280x800,...]

Starts the demo server (with its simulator, so cards, charts and the kiosk show live vital signs and the scripted
alerts), raises the screenshot alerts through the HTTP API, then signs in with Debian's Chromium as the charge nurse
(dashboard, patient, audit) and the administrator (admin, connections) and writes `PAGE-WIDTHxHEIGHT-SCHEME.png` for
the login page, the dashboard, a patient page, the audit trail, the admin page, the connections page and the kiosk,
each in the light and the dark colour scheme of the system (Vigil follows it unless a user chose). Nothing is
asserted: a person looks at them. The server stops at the end, also after an error.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from bench.screens import Demo, raise_demo_alerts, settle

from .harness import VigilServer, launch_chromium, sign_in

SIZES = {'1920x1080': (1920, 1080), '1280x800': (1280, 800), '768x1024': (768, 1024), '390x844': (390, 844)}
SCHEMES = ('light', 'dark')
PAGES = ('login', 'dashboard', 'patient', 'audit', 'admin', 'connections', 'kiosk')
STAFF_USER, ADMIN_USER = 'charge', 'admin'
WARM_UP_SECONDS = 8.0  # the simulator's first readings reach the cards and the charts


def page_paths(demo: Demo) -> dict[str, tuple[str | None, str]]:
    """Return each page's user (None: anonymous) and address."""
    patient_id = next((alert['patient_id'] for alert in demo.alerts if alert.get('patient_id')), 1)
    return {'login': (None, '/login'), 'dashboard': (STAFF_USER, '/'),
            'patient': (STAFF_USER, f'/patients/{patient_id}'), 'audit': (STAFF_USER, '/audit'),
            'admin': (ADMIN_USER, '/admin'),
            'connections': (ADMIN_USER, '/admin/connections'), 'kiosk': (None, f'/kiosk?token={demo.kiosk_token}')}


def shoot(page: Page, path: Path, *, kiosk: bool = False) -> None:
    """Wait until the page is live and drawn, then save it (a page longer than the screen: all of it)."""
    if kiosk:
        expect(page.frame_locator('#display').locator('.vigil-conn-live')).to_be_visible(timeout=20_000)
        time.sleep(1.5)
    else:
        settle(page)
    page.screenshot(path=str(path), full_page=not kiosk)
    print(f'wrote {path}', flush=True)


def open_page(browser: Browser, server: VigilServer, contexts: dict[str | None, BrowserContext], size: str,
              scheme: str, user: str | None, path: str) -> Page:
    """Open the address in the context of this user (signed in the first time), at this size and colour scheme."""
    if user not in contexts:
        width, height = SIZES[size]
        context = browser.new_context(viewport={'width': width, 'height': height},
                                      color_scheme='dark' if scheme == 'dark' else 'light')
        context.set_default_timeout(20_000)
        contexts[user] = context
        if user is not None:
            sign_in(context.new_page(), server, user)
    context = contexts[user]
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f'{server.url}{path}')
    return page


def take(browser: Browser, server: VigilServer, out: Path, demo: Demo, pages: list[str], sizes: list[str]) -> None:
    """Write every screenshot asked for: one browser context per size, scheme and user, signed in once."""
    paths = page_paths(demo)
    for size in sizes:
        for scheme in SCHEMES:
            contexts: dict[str | None, BrowserContext] = {}
            try:
                for name in pages:
                    user, path = paths[name]
                    page = open_page(browser, server, contexts, size, scheme, user, path)
                    shoot(page, out / f'{name}-{size}-{scheme}.png', kiosk=name == 'kiosk')
            finally:
                for context in contexts.values():
                    context.close()


def run(out: Path, pages: list[str], sizes: list[str]) -> None:
    """Start the demo server in a temporary folder, take the screenshots, stop it."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='vigil-screenshots-') as folder:
        server = VigilServer(Path(folder), simulator=True)
        server.start()
        try:
            demo = raise_demo_alerts(server)
            time.sleep(WARM_UP_SECONDS)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                try:
                    take(browser, server, out, demo, pages, sizes)
                finally:
                    browser.close()
        except Exception:
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            server.stop()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog='python -m tests.browser.screenshots', description=__doc__.split('\n\n')[0])
    parser.add_argument('out', type=Path, help='folder for the PNGs (created if missing)')
    parser.add_argument('--pages', default=','.join(PAGES), help=f'comma-separated, of: {", ".join(PAGES)}')
    parser.add_argument('--sizes', default=','.join(SIZES), help=f'comma-separated, of: {", ".join(SIZES)}')
    args = parser.parse_args(argv)
    pages, sizes = args.pages.split(','), args.sizes.split(',')
    unknown = sorted(set(pages) - set(PAGES)) + sorted(set(sizes) - set(SIZES))
    if unknown:
        parser.error(f'unknown: {", ".join(unknown)}')
    run(args.out.resolve(), pages, sizes)


if __name__ == '__main__':
    main(sys.argv[1:])
