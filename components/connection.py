"""The connection indicator: live, reconnecting or offline, always visible, computed in the browser itself."""

from nicegui import ui

# NOTE: reads NiceGUI's client-side `window.socket` (socket.io). It runs in the browser, so a dead server still
# shows "Reconnecting" / "Offline" there; the server pays nothing for it.
_SCRIPT = '''
<script>
(() => {
  const states = {
    live: ['Live', 'vigil-conn-live'],
    reconnecting: ['Reconnecting…', 'vigil-conn-reconnecting'],
    offline: ['Offline', 'vigil-conn-offline'],
  };
  function current() {
    if (!navigator.onLine) return 'offline';
    if (window.socket && window.socket.connected && window.did_handshake) return 'live';
    return 'reconnecting';
  }
  function paint() {
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
</style>
'''


def connection_indicator() -> ui.element:
    """Add the indicator; it starts as "Connecting…" and the browser keeps it current."""
    ui.add_body_html(_SCRIPT)
    with ui.element('div').classes('vigil-conn vigil-conn-reconnecting').props(
            'role=status aria-live=polite aria-label="Connection: connecting"') as indicator:
        ui.element('span').classes('vigil-conn-dot')
        ui.label('Connecting…').classes('vigil-conn-text')
    return indicator
