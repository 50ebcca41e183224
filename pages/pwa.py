"""The installable web app: manifest, icons, the service worker and its offline page, and the head tags that link them.

Staff open Vigil from a tablet's or phone's home screen, full screen. The service worker (pages/static/sw.js) keeps
only the shell: NiceGUI's versioned assets and the icons, cache first, and an offline page shown when a page cannot
be loaded at all. It never stores pages, API answers or the socket: what a page shows always comes from the server.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from fastapi.responses import FileResponse, Response
from nicegui import app as nicegui_app
from nicegui import ui

from components.dark_theme import HEADER_LIGHT, PAGE

STATIC = Path(__file__).parent / 'static'
# NOTE: pages/frame.py lists these prefixes as public (no sign-in): a browser fetches them without the session.
MANIFEST_PATH, WORKER_PATH, FILES_PREFIX = '/manifest.webmanifest', '/sw.js', '/pwa/'
FILES = {'offline.html': 'text/html; charset=utf-8', 'icon.svg': 'image/svg+xml',
         'icon-maskable.svg': 'image/svg+xml', 'icon-192.png': 'image/png', 'icon-512.png': 'image/png',
         'icon-maskable-512.png': 'image/png', 'apple-touch-icon.png': 'image/png'}
MANIFEST: dict[str, Any] = {
    'name': 'Vigil hospital alerts',
    'short_name': 'Vigil',
    'description': 'Real-time hospital alerts: who needs you most, now.',
    'id': '/',
    'start_url': '/',
    'scope': '/',
    'display': 'standalone',
    'orientation': 'any',
    'lang': 'en-GB',
    'theme_color': HEADER_LIGHT,
    'background_color': PAGE,  # the splash screen while the first page loads; dark spares eyes at night
    'icons': [
        {'src': '/pwa/icon-192.png', 'sizes': '192x192', 'type': 'image/png', 'purpose': 'any'},
        {'src': '/pwa/icon-512.png', 'sizes': '512x512', 'type': 'image/png', 'purpose': 'any'},
        {'src': '/pwa/icon-maskable-512.png', 'sizes': '512x512', 'type': 'image/png', 'purpose': 'maskable'},
        {'src': '/pwa/icon.svg', 'sizes': 'any', 'type': 'image/svg+xml', 'purpose': 'any'},
    ],
}
_HEAD = f'''
<link rel="manifest" href="{MANIFEST_PATH}">
<link rel="apple-touch-icon" href="/pwa/apple-touch-icon.png">
<meta name="mobile-web-app-capable" content="yes">
<meta name="apple-mobile-web-app-capable" content="yes">
<meta name="apple-mobile-web-app-title" content="Vigil">
<script>
if ('serviceWorker' in navigator) {{
  window.addEventListener('load', () => navigator.serviceWorker.register('{WORKER_PATH}', {{scope: '/'}})
    .catch((error) => console.warn('Vigil: the service worker was not installed', error)));
}}
</script>
'''


def install() -> None:
    """Link the manifest, the home screen icon and the service worker from this page (part of its initial HTML)."""
    ui.add_head_html(_HEAD)


def worker_script(version: str) -> str:
    """Return the service worker with its cache name: Vigil's version and a digest of the shell's files, so an
    upgrade (or any changed icon or offline page) installs a fresh cache and deletes the old one."""
    digest = hashlib.sha256()
    for name in [*sorted(FILES), 'sw.js']:
        digest.update((STATIC / name).read_bytes())
    return (STATIC / 'sw.js').read_text(encoding='utf-8').replace('__VIGIL_VERSION__',
                                                                  f'{version}-{digest.hexdigest()[:12]}')


def register(version: str) -> None:
    """Add the manifest, the service worker and the shell's files to the app."""
    manifest = json.dumps(MANIFEST, indent=2)
    worker = worker_script(version)

    @nicegui_app.get(MANIFEST_PATH, include_in_schema=False)
    def manifest_route() -> Response:
        return Response(manifest, media_type='application/manifest+json',
                        headers={'Cache-Control': 'no-cache'})

    @nicegui_app.get(WORKER_PATH, include_in_schema=False)
    def worker_route() -> Response:
        # NOTE: no-cache, so browsers look for a new worker (a new version) at every page load.
        return Response(worker, media_type='text/javascript; charset=utf-8', headers={'Cache-Control': 'no-cache'})

    @nicegui_app.get(FILES_PREFIX + '{name}', include_in_schema=False)
    def file_route(name: str) -> FileResponse:
        if name not in FILES:  # a fixed list: no path from the address ever reaches the file system
            raise HTTPException(status_code=404)
        return FileResponse(STATIC / name, media_type=FILES[name], headers={'Cache-Control': 'no-cache'})
