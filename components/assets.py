"""Scripts and styles that pages share, served once as files rather than inlined into every page.

An inlined copy is part of each open page's HTML head or body, which the server keeps for the page's whole life:
tens of KiB per open page for the alarm script and the wall display's styles. Served as a file under a URL that
names a hash of its content, a browser caches it for good and an upgrade changes the URL.
"""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from fastapi import Response
from nicegui import app as nicegui_app

# NOTE: public (pages/frame.py PUBLIC_PREFIXES): the wall display has no sign-in, and nothing here is secret.
PREFIX = '/assets/'


@dataclass(frozen=True)
class Asset:
    """One file of text a page links to."""

    name: str
    media_type: str
    text: str

    @cached_property
    def url(self) -> str:
        return f'{PREFIX}{self.name}?v={hashlib.sha256(self.text.encode()).hexdigest()[:16]}'

    def script_tag(self) -> str:
        """Return the tag that runs it where it stands (parser-blocking, as the inlined script did)."""
        return f'<script src="{self.url}"></script>'

    def stylesheet_tag(self) -> str:
        return f'<link rel="stylesheet" href="{self.url}">'

    @classmethod
    def inner(cls, name: str, html: str, tag: str) -> 'Asset':
        """Return the content of the one <style> or <script> block of inline HTML as an asset (a script with a
        src, or one among several blocks, is an error: its content would be lost)."""
        blocks = re.findall(rf'<{tag}>(.*?)</{tag}>', html, flags=re.S)
        if len(blocks) != 1 or html.count(f'<{tag}') != 1:
            raise ValueError(f'{name}: expected one plain <{tag}> block, found {html.count(f"<{tag}")}')
        return cls(name, {'style': 'text/css', 'script': 'text/javascript'}[tag], blocks[0])


def serve(assets: Iterable[Asset]) -> None:
    """Add a route for each asset (once, at start-up)."""
    for asset in assets:
        body = asset.text.encode()
        media_type = asset.media_type

        def respond(body: bytes = body, media_type: str = media_type) -> Response:
            # The URL changes with the content (?v=hash): cache it for good.
            return Response(body, media_type=media_type,
                            headers={'Cache-Control': 'public, max-age=31536000, immutable'})

        nicegui_app.add_api_route(PREFIX + asset.name, respond, methods=['GET'], include_in_schema=False)
