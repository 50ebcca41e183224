"""Keyboard focus: a visible ring on everything focusable, and focus that survives live updates.

A card or an alert row is one HTML element whose content the server re-sends when it changes (every second while
vitals stream in); it is patched into the nodes shown (morph_html.js), but a control that went away with the update,
or a card or row that moved when the order changed, takes the keyboard focus away from whatever control had it.
A small delegated script remembers how to find the focused control again (its NiceGUI element, or the nearest
NiceGUI element plus the control's identifying attributes) and puts the focus back on the same control after the
update, without scrolling. When the control is gone or disabled (an Acknowledge that
was just pressed), the focus goes to its row or card instead, never to a neighbouring button that Enter would press.
Hand-written: focus libraries trap or move focus on purpose; none follows an element whose HTML the server re-sends.
"""

from nicegui import ui

from .assets import Asset

# The ring: 3 px, offset from the control, in a colour of at least 3:1 against what surrounds it (WCAG 2.4.13):
# blue on light surfaces, light blue on dark ones, the text colour on the coloured header and on toasts.
_STYLE = '''<style>
:root { --vigil-focus: #0b5cad; }
body.body--dark { --vigil-focus: #90caf9; }
/* NOTE: !important inside `@layer overrides`: Quasar's buttons carry `no-outline` (outline: 0 !important, in the
   `quasar_importants` layer), and for !important declarations an earlier layer wins over a later one. */
@layer overrides {
  :where(a, button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])):not(.q-field *):focus-visible,
  .vigil-focus-anchor:focus-visible { outline: 3px solid var(--vigil-focus) !important; outline-offset: 2px; }
  .q-header :focus-visible, .q-notification :focus-visible { outline-color: currentColor !important; }
}
/* A Quasar field shows its focus with its own thicker border and label, in its control's colour: Quasar's primary
   blue is too dark for that on the night theme's surfaces. */
body.body--dark .q-field__control { color: var(--vigil-focus); }
</style>'''

_SCRIPT = '''<script>
(() => {
  if (window.vigilFocus) return;
  const NICEGUI_ID = /^c[0-9]+$/;
  // Attributes that tell one control of a card or row from the others, whatever else the update changed.
  const KEYS = ['data-vigil-action', 'data-alert', 'data-vigil-raise', 'data-vigil-news2', 'href', 'aria-label'];
  let kept = null, pointerAt = -1e9;

  function anchorOf(element) {
    for (let node = element.parentElement; node; node = node.parentElement) if (NICEGUI_ID.test(node.id)) return node;
    return null;
  }
  function remember(element) {
    if (!element || element === document.body) { kept = null; return; }
    if (NICEGUI_ID.test(element.id)) { kept = {element, selector: '#' + element.id, anchor: null}; return; }
    const anchor = anchorOf(element);
    const selector = element.tagName.toLowerCase() + KEYS.filter((name) => element.hasAttribute(name))
      .map((name) => `[${name}="${CSS.escape(element.getAttribute(name))}"]`).join('');
    kept = {element, selector, anchor: anchor && anchor.id};
  }
  function restore() {
    const was = kept;
    const anchor = was.anchor ? document.getElementById(was.anchor) : null;
    let target = was.element.isConnected ? was.element
      : (anchor || document).querySelector(anchor ? ':scope ' + was.selector : was.selector);
    if (target) target.focus({preventScroll: true});
    if (document.activeElement !== target && anchor) {
      anchor.classList.add('vigil-focus-anchor');
      if (!anchor.hasAttribute('tabindex')) anchor.setAttribute('tabindex', '-1');
      anchor.focus({preventScroll: true});
      target = anchor;
    }
    if (document.activeElement === target) remember(target);
    else kept = null;
  }
  document.addEventListener('focusin', (event) => remember(event.target), true);
  document.addEventListener('pointerdown', () => { pointerAt = performance.now(); }, true);
  // After any change to the page: was the remembered control replaced, or moved (which blurs it)? A blur that
  // follows a click or a tap is the user's own doing and stays.
  new MutationObserver(() => {
    if (!kept || (document.activeElement && document.activeElement !== document.body)) return;
    if (performance.now() - pointerAt < 1000) { kept = null; return; }
    restore();
  }).observe(document.body, {childList: true, subtree: true});
  window.vigilFocus = {remembered: () => kept && kept.selector};
})();
</script>'''


# Served once as files (components/assets.py): inlined, each open page would hold its own copy.
FOCUS_CSS = Asset.inner('focus.css', _STYLE, 'style')
FOCUS_JS = Asset.inner('focus.js', _SCRIPT, 'script')


def install() -> None:
    """Add the focus ring and the focus keeper to the page (part of its initial HTML)."""
    ui.add_head_html(FOCUS_CSS.stylesheet_tag())
    ui.add_body_html(FOCUS_JS.script_tag())
