"""Relative ages ("3 min ago") and clock times that the browser keeps current, so the server pays nothing for it.

The server renders the text once (correct at that moment, and what tests see); a small script in the page then
refreshes every `[data-vigil-since]` age and formats every `[data-vigil-at]` time in the browser's time zone.
A per-client `ui.timer` would cost a server round trip per open page for each refresh.
"""

from datetime import UTC, datetime
from html import escape

from nicegui import ui

from .assets import Asset

# NOTE: the script repeats `age_text` in JavaScript: change both together.
_SCRIPT = '''
<script>
(() => {
  const skew = window.vigilServerMs - Date.now();  // set inline just before this script (install)
  window.vigilTimes = window.vigilTimes || {};
  function age(seconds) {
    if (seconds < 45) return 'just now';
    const minutes = Math.max(1, Math.floor(seconds / 60));
    if (minutes < 60) return minutes + ' min ago';
    const hours = Math.floor(minutes / 60), rest = minutes % 60;
    if (hours < 24) return rest ? hours + ' h ' + rest + ' min ago' : hours + ' h ago';
    return Math.floor(hours / 24) + ' d ago';
  }
  const clock = new Intl.DateTimeFormat([], {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
  function paint() {
    const now = Date.now() + skew;
    for (const element of document.querySelectorAll('[data-vigil-since]')) {
      const text = age(Math.max(0, (now - Date.parse(element.dataset.vigilSince)) / 1000));
      if (element.textContent !== text) element.textContent = text;
    }
    for (const element of document.querySelectorAll('[data-vigil-at]')) {
      const text = clock.format(new Date(element.dataset.vigilAt));
      if (element.textContent !== text) element.textContent = text;
    }
  }
  let scheduled = false;
  function soon() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; paint(); });
  }
  window.vigilTimes.paint = paint;
  setInterval(paint, 15000);
  document.addEventListener('DOMContentLoaded', () => {
    // characterData too: a live card or row patched in place (dom_patch.js) gets the server's text back in the
    // text node it changed ("14:30 UTC", "just now"), which must be painted again at once, not at the next interval.
    new MutationObserver(soon).observe(document.body, {childList: true, subtree: true, characterData: true});
    paint();
  });
})();
</script>
'''


# Served once as a file (components/assets.py): inlined, each open page would hold its own copy.
TIMES_JS = Asset.inner('times.js', _SCRIPT, 'script')


def install(now: datetime) -> None:
    """Add the browser-side clock to the page (once per page, with the server's time to correct clock skew)."""
    ui.add_body_html(f'<script>window.vigilServerMs = {int(now.timestamp() * 1000)};</script>'
                     + TIMES_JS.script_tag())


def age_text(then: datetime, now: datetime) -> str:
    """Return how long ago `then` was, in the words the page uses ("just now", "3 min ago", "2 h 5 min ago")."""
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 45:
        return 'just now'
    minutes = max(1, int(seconds // 60))
    if minutes < 60:
        return f'{minutes} min ago'
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f'{hours} h {rest} min ago' if rest else f'{hours} h ago'
    return f'{hours // 24} d ago'


def age_html(then: datetime, now: datetime, css: str = 'vigil-age') -> str:
    """Return an HTML span with the age of `then` that the browser keeps current."""
    return (f'<span class="{css}" data-vigil-since="{then.astimezone(UTC).isoformat()}">'
            f'{escape(age_text(then, now))}</span>')


def clock_html(at: datetime) -> str:
    """Return an HTML time element that the browser shows in its own time zone (UTC until the script ran)."""
    iso = at.astimezone(UTC).isoformat()
    return f'<time datetime="{iso}" data-vigil-at="{iso}">{at.astimezone(UTC):%H:%M} UTC</time>'
