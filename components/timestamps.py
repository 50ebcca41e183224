"""Dates with times, shown in the browser's own time zone as YYYY-MM-DD HH:MM:SS (24-hour, whatever its locale).

The server writes UTC into the page, which is what tests and a browser without JavaScript see; a small script
rewrites every `[data-vigil-datetime]` in the local zone of the reader, once when it appears.
"""

from datetime import UTC, datetime
from html import escape

from nicegui import ui

from .assets import Asset

_SCRIPT = '''
<script>
(() => {
  // YYYY-MM-DD HH:MM:SS in 24-hour time whatever the browser's locale (a US locale would say "03:44:32 PM"),
  // as the charts, the kiosk and clinical records write it.
  const two = (n) => String(n).padStart(2, '0');
  function format(at, timeOnly) {
    const time = `${two(at.getHours())}:${two(at.getMinutes())}`;
    if (timeOnly) return time;
    return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${time}:${two(at.getSeconds())}`;
  }
  function paint() {
    for (const element of document.querySelectorAll('[data-vigil-datetime]:not([data-vigil-local])')) {
      element.textContent = format(new Date(element.dataset.vigilDatetime), 'vigilTimeOnly' in element.dataset);
      element.dataset.vigilLocal = '1';
    }
  }
  let scheduled = false;
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(() => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => { scheduled = false; paint(); });
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
    paint();
  });
})();
</script>
'''

TIMESTAMPS_JS = Asset.inner('timestamps.js', _SCRIPT, 'script')  # served once as a file (components/assets.py)

# The browser's time zone, asked once per page for reading dates the user typed (see browser_zone in pages).
ZONE_SCRIPT = 'Intl.DateTimeFormat().resolvedOptions().timeZone'


def install() -> None:
    """Add the formatter to the page (part of the first HTML)."""
    ui.add_body_html(TIMESTAMPS_JS.script_tag())


def utc_text(at: datetime) -> str:
    """Return a date and time in UTC as the server writes it."""
    return f'{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC'


def datetime_html(at: datetime) -> str:
    """Return a <time> element the browser shows in its own zone."""
    iso = at.astimezone(UTC).isoformat()
    return f'<time datetime="{iso}" data-vigil-datetime="{iso}">{escape(utc_text(at))}</time>'


def time_html(at: datetime) -> str:
    """Return a <time> element the browser shows as HH:MM in its own zone (for times of the last hours)."""
    iso = at.astimezone(UTC).isoformat()
    return (f'<time datetime="{iso}" data-vigil-datetime="{iso}" data-vigil-time-only>'
            f'{at.astimezone(UTC):%H:%M} UTC</time>')
