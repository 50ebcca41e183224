"""A bar of a user's choices as plain HTML controls in one element (choices.js), instead of a Quasar field each.

Each Quasar select or toggle is a few elements the server keeps for every open page, with their options and event
listeners; this bar is one element with one listener, whose controls (native selects, toggle buttons, checkboxes
behind a button) keep their own state in the browser. A change arrives as one event, {name: value}; the server
checks the value against the field's options, remembers it and applies it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nicegui import ui
from nicegui.events import GenericEventArguments

from .assets import Asset

Kind = Literal['select', 'multi', 'toggle']

_STYLE = '''
<style>
.vigil-choices { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; width: 100%; }
.vigil-field { position: relative; display: block; flex: 1 1 0; min-width: 130px; min-height: 56px;
  border: 1px solid rgba(0,0,0,.24); border-radius: 4px; }
.vigil-field:hover { border-color: rgba(0,0,0,.87); }
body.body--dark .vigil-field { border-color: rgba(255,255,255,.6); }
body.body--dark .vigil-field:hover { border-color: #fff; }
.vigil-field-label { position: absolute; left: 12px; top: 8px; font-size: .75rem; line-height: 1; color: #616161;
  pointer-events: none; }
body.body--dark .vigil-field-label { color: var(--vigil-muted); }
.vigil-field-label.vigil-field-empty { top: 50%; transform: translateY(-50%); font-size: 1rem; }
.vigil-field select, .vigil-multi-button { appearance: none; display: block; width: 100%; min-height: 54px;
  padding: 22px 32px 6px 12px; border: 0; border-radius: 4px; background: transparent; color: inherit;
  font: inherit; text-align: left; cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.vigil-field::after { content: ''; position: absolute; right: 12px; top: 50%; margin-top: -2px; pointer-events: none;
  border: 5px solid transparent; border-top-color: currentColor; opacity: .6; }
.vigil-multi-panel { position: absolute; z-index: 20; left: 0; right: 0; top: calc(100% + 2px); padding: 4px 0;
  background: #fff; border-radius: 4px; box-shadow: 0 3px 10px rgba(0,0,0,.25); }
body.body--dark .vigil-multi-panel { background: var(--vigil-raised); }
.vigil-check { display: flex; align-items: center; gap: 10px; min-height: 44px; padding: 0 12px; cursor: pointer; }
.vigil-check input { width: 18px; height: 18px; accent-color: #0b5cad; }
.vigil-toggle { display: inline-flex; border: 1px solid #0b5cad; border-radius: 22px; }
body.body--dark .vigil-toggle { border-color: currentColor; }
.vigil-toggle button { min-height: 44px; padding: 0 14px; border: 0; background: transparent; color: inherit;
  font: inherit; font-weight: 500; cursor: pointer; }
.vigil-toggle button:first-child { border-radius: 22px 0 0 22px; }
.vigil-toggle button:last-child { border-radius: 0 22px 22px 0; }
.vigil-toggle button[aria-pressed="true"] { background: #0b5cad; color: #fff; }
</style>
'''
CHOICES_CSS = Asset.inner('choices.css', _STYLE, 'style')  # served once as a file (components/assets.py)


@dataclass(frozen=True)
class Field:
    """One choice: its name (the key of its value), its words, how it is chosen, and its options (value, words)."""

    name: str
    label: str
    kind: Kind
    options: Sequence[tuple[Any, str]]

    def admits(self, value: Any) -> bool:
        """Tell whether a value the browser sent is one of the options (or, for a multiple choice, some of them)."""
        known = [option for option, _ in self.options]
        if self.kind == 'multi':
            return isinstance(value, list) and all(v in known for v in value)
        return value in known


class Choices(ui.element, component='choices.js'):
    """The controls of some choices, one element; `on_change` is called after a valid change was taken."""

    def __init__(self, fields: Sequence[Field], values: dict[str, Any], *, on_change: Callable[[], None]) -> None:
        super().__init__()
        tag = CHOICES_CSS.stylesheet_tag()
        if tag not in self.client.head_html:  # one link for the page's bars
            ui.add_head_html(tag)
        self._fields = {f.name: f for f in fields}
        self._on_change = on_change
        self.values = dict(values)
        self._props['fields'] = [{'name': f.name, 'label': f.label, 'kind': f.kind,
                                  'options': [[value, words] for value, words in f.options]} for f in fields]
        self._props['values'] = self.values
        self.on('change', self._changed)

    def options(self, name: str) -> dict[Any, str]:
        """Return a field's options (value -> words)."""
        return dict(self._fields[name].options)

    def _changed(self, event: GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        taken = {name: value for name, value in args.items()
                 if name in self._fields and self._fields[name].admits(value)}
        if taken:
            # The browser shows the choice already: the props follow (for a reload of the element), not re-sent.
            self.values.update(taken)
            self._on_change()
