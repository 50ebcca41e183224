"""A page's last activity: when its browser last sent an event (a click, a keystroke, a toggle), at no polling cost."""

from typing import Any

from nicegui import Client

from .live import LiveHub


def track_activity(client: Client, hub: LiveHub) -> None:
    """Tell the hub each time this page's browser sends an event."""
    # NOTE: NiceGUI 3.x hands every socket.io 'event' message of a page to `Client.handle_event`. An instance
    # attribute shadows that method for this one client: nothing global changes, no timer runs, and the cost is one
    # dict write per browser event. (Events fired by the server itself, and NiceGUI's simulated test user, do not
    # pass through here: only what a browser sends counts as activity.)
    forward = client.handle_event

    def handle_event(msg: dict[str, Any]) -> None:
        hub.touch(client.id)
        forward(msg)

    client.handle_event = handle_event  # type: ignore[method-assign]
