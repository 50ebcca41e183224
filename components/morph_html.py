"""An HTML element whose updates patch the nodes the browser already shows (morph_html.js) instead of replacing them.

For content with controls that changes while people use it (patient cards, alert rows): a button being pressed when
an update arrives stays the same node, so the press is not lost; focus and animations survive too.
"""

from nicegui import ui


class MorphHtml(ui.html, component='morph_html.js', dependencies=['dom_patch.js']):
    """Trusted HTML (the caller escapes what comes from outside), patched in place on every change."""

    def __init__(self, content: str = '', *, tag: str = 'div') -> None:
        super().__init__(content, sanitize=False, tag=tag)
        self._props.pop('sanitize', None)
