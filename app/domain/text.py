"""Free text that people and integrations send (names, notes, reasons, messages): one line of printable text.

A line break in a name would forge a second, well-formed line in a text log and a fake entry in whatever reads the
audit trail line by line; other control characters (tab, escape, bell, NUL) hide or reorder text on a terminal.
Such text is refused, not silently cleaned: what was said goes on the record as it was said, or not at all.
"""

import unicodedata

from app.errors import InvalidInput

# NOTE: Unicode's line and paragraph separators (U+2028, U+2029) and NEL (U+0085) end a line for many log viewers,
# although they are not ASCII control characters; the bidirectional overrides reorder what a reader sees.
_NAMES = {'\n': 'a line break', '\r': 'a carriage return', '\t': 'a tab', '\u2028': 'a line separator',
          '\u2029': 'a paragraph separator', '\x85': 'a next-line character'}
_BIDI_CONTROLS = frozenset('\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069')
# The same characters as a regular expression class, for API documents (JSON Schema `pattern`): Cc is U+0000-U+001F
# and U+007F-U+009F, Zl U+2028, Zp U+2029. NOTE: tests/test_api_schema.py checks it against is_unsafe.
UNSAFE_CLASS = r'\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069'
ONE_LINE_PATTERN = f'^[^{UNSAFE_CLASS}]*$'
# One line with at least one character that is not white space (the API strips text before it checks it).
ONE_LINE_TEXT_PATTERN = rf'^[^{UNSAFE_CLASS}]*[^{UNSAFE_CLASS}\s][^{UNSAFE_CLASS}]*$'


def is_unsafe(character: str) -> bool:
    """Tell whether a character must not appear in one-line free text."""
    category = unicodedata.category(character)
    return category in ('Cc', 'Zl', 'Zp') or character in _BIDI_CONTROLS


def check_one_line(value: str | None, what: str) -> None:
    """Refuse text with line breaks or other control characters, naming the field and the first offender."""
    if not value:
        return
    for character in value:
        if is_unsafe(character):
            name = _NAMES.get(character, 'a control character')
            raise InvalidInput(f'{what} must be one line of printable text: it contains {name} '
                               f'(U+{ord(character):04X}).')
