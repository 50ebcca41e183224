"""NiceGUI pages; `register` adds them all to the app."""

from app.bootstrap import Vigil
from components.live import LiveHub


def register(vigil: Vigil, hub: LiveHub, version: str) -> None:
    """Add every page to the app (called once by main.py; the version names the web app's cache)."""
    from nicegui import app as nicegui_app

    from components import assets
    from components.alarm import ALARM_CSS, ALARM_JS
    from components.choices import CHOICES_CSS
    from components.connection import CONNECTION_CSS, CONNECTION_JS
    from components.dark_theme import DARK_CSS
    from components.focus import FOCUS_CSS, FOCUS_JS
    from components.keyboard import SHORTCUTS_CSS, SHORTCUTS_JS
    from components.kiosk_board import KIOSK_CSS, KIOSK_JS
    from components.metrics_overview import MetricsFeed
    from components.more_below import MORE_BELOW_JS
    from components.offline_queue import QUEUE_CSS, QUEUE_JS
    from components.theme import THEME_CSS
    from components.times import TIMES_JS
    from components.timestamps import TIMESTAMPS_JS
    from components.toasts import TOASTS_CSS

    # NOTE: imported here so that importing `pages` stays cheap for CLI verbs
    from . import admin, audit, connections, dashboard, kiosk, login, patient, pwa, webhooks

    # NOTE: every Asset a page links to is listed here, or the browser gets no file for it.
    assets.serve([ALARM_CSS, ALARM_JS, CHOICES_CSS, CONNECTION_CSS, CONNECTION_JS, DARK_CSS, FOCUS_CSS, FOCUS_JS,
                  KIOSK_CSS, KIOSK_JS, MORE_BELOW_JS, QUEUE_CSS, QUEUE_JS, SHORTCUTS_CSS, SHORTCUTS_JS, THEME_CSS,
                  TIMES_JS, TIMESTAMPS_JS, TOASTS_CSS])
    # The staff pages' blue (NiceGUI's lighter default fails 4.5:1 under white text), for the whole app: a ui.colors
    # on every page would be one more element each open page keeps.
    nicegui_app.colors(primary='#0b5cad')
    login.register(vigil)
    dashboard.register(vigil, hub, MetricsFeed(vigil.metrics, hub))
    kiosk.register(vigil, hub)
    patient.register(vigil, hub)
    audit.register(vigil, hub)
    admin.register(vigil, hub)
    connections.register(vigil, hub)
    webhooks.register(vigil, hub)
    pwa.register(version)
