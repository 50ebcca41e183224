"""The connection indicator and the offline banner: live, reconnecting or offline, computed in the browser itself.

Two seconds after the socket is lost (five before a page ever connected), the banner under the header says "Offline
since 03:01:12: what you see may be out of date" (the browser's time of the last contact) and the page's values are
dimmed (the body class `vigil-offline`). On reconnect the page reloads its state from the database (pages/frame.py
`reload_after_reconnect`; after a server restart NiceGUI reloads the whole page) and the banner goes. A socket that
dies silently (no TCP close) is noticed by socket.io's heartbeat, within about 12 s.
"""

from nicegui import ui

from .assets import Asset

# NOTE: reads NiceGUI's client-side `window.socket` (socket.io). It runs in the browser, so a dead server still
# shows "Reconnecting" / "Offline" there; the server pays nothing for it. `window.vigilConnection` and the
# `vigil-connection` window event (detail: {live}) are what components/offline_queue.py builds on.
_SCRIPT = '''
<script>
(() => {
  if (window.vigilConnection) return;
  const OFFLINE_AFTER_MS = 2000;  // a blip shorter than this shows only in the pill
  const FIRST_CONNECT_MS = 5000;  // a page that never connected: its HTML is as old as the page
  const loaded = Date.now();
  const clock = new Intl.DateTimeFormat([], {hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'});
  let lastContact = null, wasLive = false, stale = false, hooked = null;
  const states = {
    live: ['Live', 'vigil-conn-live'],
    reconnecting: ['Reconnecting…', 'vigil-conn-reconnecting'],
    offline: ['Offline', 'vigil-conn-offline'],
  };
  function live() {
    return !!(window.socket && window.socket.connected && window.did_handshake);
  }
  function current() {
    if (!navigator.onLine) return 'offline';
    if (live()) return 'live';
    return 'reconnecting';
  }
  function paintBanner(isLive) {
    const now = Date.now();
    if (window.socket && hooked !== window.socket) {  // the moment of the drop, not the next half-second tick
      hooked = window.socket;
      hooked.on('disconnect', () => { lastContact = Date.now(); });
    }
    if (isLive) lastContact = now;
    const since = lastContact === null ? loaded : lastContact;
    const grace = lastContact === null ? FIRST_CONNECT_MS : OFFLINE_AFTER_MS;
    const nowStale = !isLive && (!navigator.onLine || now - since >= grace);
    if (nowStale !== stale) {
      stale = nowStale;
      document.body.classList.toggle('vigil-offline', stale);
      for (const banner of document.querySelectorAll('.vigil-offline-banner')) {
        banner.querySelector('.vigil-offline-since').textContent =
          stale ? 'Offline since ' + clock.format(new Date(since)) + ': what you see may be out of date' : '';
        banner.hidden = !stale;
      }
    }
    if (isLive !== wasLive) {
      wasLive = isLive;
      window.dispatchEvent(new CustomEvent('vigil-connection', {detail: {live: isLive}}));
    }
  }
  window.vigilConnection = {live: live, stale: () => stale};
  function paint() {
    paintBanner(live());
    const state = current();
    for (const element of document.querySelectorAll('.vigil-conn')) {
      if (element.dataset.state === state) continue;
      element.dataset.state = state;
      const [text, css] = states[state];
      element.querySelector('.vigil-conn-text').textContent = text;
      element.classList.remove('vigil-conn-live', 'vigil-conn-reconnecting', 'vigil-conn-offline');
      element.classList.add(css);
      element.setAttribute('aria-label', 'Connection: ' + text);
    }
  }
  setInterval(paint, 500);
  window.addEventListener('online', paint);
  window.addEventListener('offline', paint);
})();
</script>
<style>
.vigil-conn { display: inline-flex; align-items: center; gap: 6px; padding: 4px 10px; border-radius: 999px;
  font-weight: 600; font-size: 0.85rem; min-height: 32px; white-space: nowrap; }
.vigil-conn-dot { width: 10px; height: 10px; border-radius: 50%; background: currentColor; }
.vigil-conn-live { background: #e8f5e9; color: #1b5e20; }
.vigil-conn-reconnecting { background: #fff3e0; color: #e65100; }
.vigil-conn-reconnecting .vigil-conn-dot { animation: vigil-conn-blink 1s steps(2, start) infinite; }
.vigil-conn-offline { background: #b71c1c; color: #ffffff; }
@keyframes vigil-conn-blink { to { visibility: hidden; } }
/* The banner is in the header: shown, it takes a line of its own at the end and the page moves down beneath it. */
.vigil-conn-box { display: contents; }
.q-header:has(.vigil-offline-banner:not([hidden])) { flex-wrap: wrap; }
.vigil-offline-banner { flex: 0 0 calc(100% + 24px); order: 98; margin: 4px -12px -4px; padding: 8px 16px;
  background: #b71c1c; color: #fff; font-weight: 700; font-size: 1rem; line-height: 1.35; display: flex;
  flex-wrap: wrap; gap: 2px 16px; align-items: baseline; }
.vigil-offline-banner[hidden] { display: none; }
.vigil-offline-banner small { font-weight: 500; font-size: .875rem; }
/* Values that may be out of date look it; buttons stay usable (actions are queued, components/offline_queue.py). */
body.vigil-offline .q-page-container { opacity: .6; filter: grayscale(.6); transition: opacity .3s; }
/* NiceGUI's own "connection lost" box says less than the banner (and, on the wall display, the kiosk shell's). */
body:has(.vigil-conn) #popup { display: none; }
</style>
'''


# Served once as files (components/assets.py): inlined, each open page would hold its own copy.
CONNECTION_JS = Asset.inner('connection.js', _SCRIPT, 'script')
CONNECTION_CSS = Asset.inner('connection.css', _SCRIPT, 'style')


def connection_indicator() -> ui.element:
    """Add the indicator; it starts as "Connecting…" and the browser keeps it current."""
    ui.add_body_html(CONNECTION_JS.script_tag() + CONNECTION_CSS.stylesheet_tag())
    # One element, not three (each costs the server a few KB per open page): the script alone changes its content.
    # NOTE: sanitize=False is safe here: fixed markup.
    return ui.html('<span class="vigil-conn-dot"></span><div class="vigil-conn-text">Connecting…</div>',
                   sanitize=False) \
        .classes('vigil-conn vigil-conn-reconnecting') \
        .props('role=status aria-live=polite aria-label="Connection: connecting"')


_INDICATOR = ('<div class="vigil-conn vigil-conn-reconnecting" role="status" aria-live="polite" '
              'aria-label="Connection: connecting"><span class="vigil-conn-dot"></span>'
              '<div class="vigil-conn-text">Connecting…</div></div>')
_BANNER = ('<div class="vigil-offline-banner" role="alert" hidden><span class="vigil-offline-since"></span>'
           '<small>Acknowledge and Resolve are kept and sent when the connection returns; for an emergency, use the '
           'phone.</small></div>')


def connection_line() -> ui.element:
    """Add the indicator and the offline banner as one element (each element costs every open page memory); its box
    is left out of the layout (display: contents): the indicator sits where it is, the banner takes a line of its own
    at the end of the header."""
    ui.add_body_html(CONNECTION_JS.script_tag() + CONNECTION_CSS.stylesheet_tag())
    # NOTE: sanitize=False is safe here: fixed markup. The server never changes it; the script alone does.
    return ui.html(_INDICATOR + _BANNER, sanitize=False).classes('vigil-conn-box').mark('offline-banner')
