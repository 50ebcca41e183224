"""NiceGUI pages; `register` adds them all to the app."""

from app.bootstrap import Vigil
from components.live import LiveHub


def register(vigil: Vigil, hub: LiveHub, version: str) -> None:
    """Add every page to the app (called once by main.py; the version names the web app's cache)."""
    from components import assets
    from components.alarm import ALARM_JS
    from components.kiosk_board import KIOSK_CSS, KIOSK_JS
    from components.metrics_overview import MetricsFeed

    # NOTE: imported here so that importing `pages` stays cheap for CLI verbs
    from . import admin, audit, connections, dashboard, kiosk, login, patient, pwa, webhooks

    assets.serve([ALARM_JS, KIOSK_CSS, KIOSK_JS])
    login.register(vigil)
    dashboard.register(vigil, hub, MetricsFeed(vigil.metrics))
    kiosk.register(vigil, hub)
    patient.register(vigil, hub)
    audit.register(vigil, hub)
    admin.register(vigil, hub)
    connections.register(vigil, hub)
    webhooks.register(vigil, hub)
    pwa.register(version)
