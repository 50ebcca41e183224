"""Keyboard shortcuts of the staff pages: acknowledge the top alert in two keystrokes, and a list of the shortcuts.

`A` (outside a text field; `Alt+A` anywhere) moves the focus to the Acknowledge button of the first alert that waits
for acknowledgement, in the list's needs-attention order, and a screen reader hears which alert it is; `Enter` then
presses it. Nothing is acknowledged by the shortcut alone: a stray key press only moves the focus. `?` opens the
list of shortcuts, which the account menu also offers.
"""

from nicegui import context, ui

from .assets import Asset

# NOTE: the Acknowledge buttons are components/alert_row.py's `button[data-vigil-action="acknowledge"]`, in the
# needs-attention order of the list; a disabled one is an acknowledgement already on its way.
_SCRIPT = '''<script>
(() => {
  if (window.vigilShortcuts) return;
  const live = document.createElement('div');
  live.id = 'vigil-shortcut-status';
  live.className = 'sr-only';
  live.setAttribute('role', 'status');
  live.setAttribute('aria-live', 'assertive');
  document.body.appendChild(live);
  function say(text) {
    live.textContent = '';
    setTimeout(() => { live.textContent = text; }, 50);  // a change, even when the same words come again
  }
  function typing(target) {
    return target.closest && target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
  }
  function topAlert() {
    const buttons = document.querySelectorAll('[role="list"] button[data-vigil-action="acknowledge"]:not([disabled])');
    return [...buttons].find((button) => button.offsetParent !== null) || null;
  }
  function goToTopAlert() {
    const button = topAlert();
    if (!button) { say('No alert is waiting for acknowledgement.'); return; }
    const row = button.closest('[role="listitem"]');
    const part = (selector) => (row && row.querySelector(selector) || {textContent: ''}).textContent;
    button.focus();
    button.scrollIntoView({block: 'nearest'});
    say(`Top alert: ${part('.vigil-chip')}, ${part('.vigil-alert-who')}: ${part('.vigil-alert-msg')}. ` +
        'Press Enter to acknowledge.');
  }
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.repeat) return;
    if (document.querySelector('.q-dialog')) return;  // never act behind an open dialog
    const inField = typing(event.target);
    // Alt+A by the key's place (Alt changes the character on a Mac), A alone by its character (any layout).
    const plainA = !inField && !event.altKey && !event.shiftKey && event.key === 'a';
    if ((event.altKey && event.code === 'KeyA') || plainA) {
      event.preventDefault();
      goToTopAlert();
    } else if (event.key === '?' && !inField && !event.altKey) {
      event.preventDefault();
      emitEvent('vigil_shortcuts');
    }
  });
  window.vigilShortcuts = {topAlert};
})();
</script>'''

_STYLE = '''<style>
.vigil-shortcuts { border-collapse: collapse; width: 100%; }
.vigil-shortcuts th { text-align: left; padding: 6px 12px 6px 0; white-space: nowrap; vertical-align: top; width: 1%; }
.vigil-shortcuts td { padding: 6px 0; }
.vigil-shortcuts kbd { font: inherit; font-weight: 700; border: 1px solid currentColor; border-radius: 4px;
  padding: 0 6px; }
</style>'''
SHORTCUTS = [
    ('A', 'Go to the Acknowledge button of the top alert that waits (Alt+A inside a text field)'),
    ('Enter', 'Press the focused button: after A, acknowledges that alert'),
    ('Tab / Shift+Tab', 'Next / previous control'),
    ('?', 'This list'),
    ('Esc', 'Close a dialog or menu'),
]


# Served once as files (components/assets.py): inlined, each open page would hold its own copy.
SHORTCUTS_CSS = Asset.inner('shortcuts.css', _STYLE, 'style')
SHORTCUTS_JS = Asset.inner('shortcuts.js', _SCRIPT, 'script')


class ShortcutsHelp:
    """The list of keyboard shortcuts, in a dialog built when first asked for."""

    def __init__(self) -> None:
        self._client = context.client
        self._dialog: ui.dialog | None = None
        ui.add_head_html(SHORTCUTS_CSS.stylesheet_tag())
        ui.add_body_html(SHORTCUTS_JS.script_tag())
        ui.on('vigil_shortcuts', self.open)

    def open(self) -> None:
        """Show the list."""
        if self._dialog is None:
            self._dialog = self._build()
        self._dialog.open()

    def _build(self) -> ui.dialog:
        with self._client.content, ui.dialog().props('aria-labelledby=vigil-shortcuts-title') \
                .mark('shortcuts-dialog') as dialog, ui.card().classes('w-[32rem] max-w-full gap-3'):
            ui.label('Keyboard shortcuts').classes('text-h6').props('id=vigil-shortcuts-title')
            rows = ''.join(f'<tr><th scope="row"><kbd>{key}</kbd></th><td>{text}</td></tr>' for key, text in SHORTCUTS)
            ui.html(f'<table class="vigil-shortcuts">{rows}</table>', sanitize=False)
            ui.label('The shortcuts work on every staff page except inside a dialog.') \
                .classes('text-caption text-grey-8')
            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=dialog.close).props('flat no-caps').classes('vigil-touch')
        return dialog
