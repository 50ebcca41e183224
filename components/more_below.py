"""The Alert List's "N more alerts below" cue under its scroll area, kept current by the browser alone."""

from nicegui import ui

from .assets import Asset

# Keeps each list's "N more below" cue current in the browser (scrolling costs the server nothing); a click on the cue
# scrolls the list down. Rows count as below while their bottom edge is not in view.
_SCRIPT = '''
<script>
(() => {
  if (window.vigilMore) return;
  function update(list) {
    const cue = list.parentElement && list.parentElement.querySelector('.vigil-more');
    if (!cue) return;
    const bottom = list.scrollTop + list.clientHeight + 1;
    let below = 0;
    for (const row of list.children) if (row.offsetTop + row.offsetHeight > bottom) below++;
    const text = below === 1 ? '1 more alert below' : below + ' more alerts below';
    const label = cue.querySelector('.vigil-more-text');
    if (label && label.textContent !== text) label.textContent = text;
    if (cue.hidden !== !below) cue.hidden = !below;
  }
  let scheduled = false;
  function all() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; document.querySelectorAll('.vigil-alerts').forEach(update); });
  }
  window.vigilMore = all;
  document.addEventListener('scroll', (event) => {
    if (event.target.classList && event.target.classList.contains('vigil-alerts')) update(event.target);
  }, true);
  document.addEventListener('click', (event) => {
    const cue = event.target.closest && event.target.closest('.vigil-more');
    const list = cue && cue.parentElement.parentElement.querySelector('.vigil-alerts');
    if (list) list.scrollBy({top: list.clientHeight * 0.8, behavior: 'smooth'});
  });
  window.addEventListener('resize', all);
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(all).observe(document.body, {childList: true, subtree: true, characterData: true});
    all();
  });
})();
</script>
'''
MORE_BELOW_JS = Asset.inner('more-below.js', _SCRIPT, 'script')  # served once as a file (components/assets.py)
_HTML = ('<button type="button" class="vigil-more" hidden><i class="q-icon notranslate material-icons" '
              'aria-hidden="true">expand_more</i><span class="vigil-more-text"></span></button>')


def more_below_cue() -> None:
    """Add the cue under the list just built (hidden while every row is in view)."""
    # NOTE: sanitize=False is safe here: fixed markup. Its text and visibility belong to _SCRIPT; the server never
    # changes this element, so scrolling and new rows cost it nothing.
    ui.html(_HTML, sanitize=False).classes('w-full').mark('alerts-more')
    ui.add_body_html(MORE_BELOW_JS.script_tag())
