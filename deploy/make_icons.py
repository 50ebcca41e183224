"""Render the installable web app's PNG icons from their SVG sources: `python deploy/make_icons.py`.

The PNGs are committed (pages/static/); run this again after changing icon.svg or icon-maskable.svg. It draws with
Debian's Chromium through Playwright, both already used by the browser tests, so no image library is needed.
"""

import base64
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: the harness lives in the repository's tests

from tests.browser.harness import launch_chromium  # noqa: E402

STATIC = REPO / 'pages' / 'static'
# (source, output, size in px): the manifest's "any" icons, its maskable icon, and iOS's home screen icon (iOS
# rounds the corners itself, so it gets the full-bleed drawing).
ICONS = [('icon.svg', 'icon-192.png', 192), ('icon.svg', 'icon-512.png', 512),
         ('icon-maskable.svg', 'icon-maskable-512.png', 512), ('icon-maskable.svg', 'apple-touch-icon.png', 180)]


def main() -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for source, output, size in ICONS:
                svg = base64.b64encode((STATIC / source).read_bytes()).decode()
                page = browser.new_page(viewport={'width': size, 'height': size})
                page.set_content(f'<html><body style="margin:0"><img src="data:image/svg+xml;base64,{svg}" '
                                 f'width="{size}" height="{size}" style="display:block"></body></html>')
                page.locator('img').screenshot(path=str(STATIC / output), omit_background=True)
                page.close()
                print(f'wrote pages/static/{output} ({size}x{size})')
        finally:
            browser.close()


if __name__ == '__main__':
    main()
