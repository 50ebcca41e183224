"""NiceGUI pages; `register` adds them all to the app."""

from app.bootstrap import Vigil
from components.live import LiveHub


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add every page to the app (called once by main.py)."""
    from . import login  # NOTE: imported here so that importing `pages` stays cheap for CLI verbs

    login.register(vigil)
