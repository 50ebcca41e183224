"""Real headings (<h1>, <h2>) for screen readers to find their way by, styled by the caller's classes.

Every page has exactly one <h1>; a page whose design has no room for a visible title gives it the `sr-only` class
(read out, not drawn). Tailwind's reset takes the browser's heading margins and sizes away, so a heading looks like
the label it replaces.
"""

from nicegui.elements.mixins.text_element import TextElement


def heading(text: str, level: int = 1) -> TextElement:
    """Add an <h1>..<h6> with this text (its look comes from the classes the caller adds)."""
    if not 1 <= level <= 6:
        raise ValueError(f'a heading level is 1 to 6, not {level}')
    return TextElement(tag=f'h{level}', text=text)
