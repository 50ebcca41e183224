"""Per-user preferences of the staff UI (alert filters, sound), kept across reloads, sign-ins and devices."""

from typing import Any

from nicegui import app as nicegui_app

_ACCOUNTS_KEY = 'vigil_preferences'
_BROWSER_KEY = 'preferences'


class Preferences:
    """One user's preferences, read once when a page is built and written on every change.

    Two copies: `app.storage.user` (this browser, NiceGUI's per-user store) and an account copy in
    `app.storage.general` keyed by user id. Sign-in clears the browser copy, and a browser copy cannot follow the
    user to another device; the account copy does both, so it wins when the two disagree.
    """

    def __init__(self, user_id: int) -> None:
        self._user_id = str(user_id)
        browser = nicegui_app.storage.user.get(_BROWSER_KEY)
        account = nicegui_app.storage.general.get(_ACCOUNTS_KEY, {}).get(self._user_id)
        self._values: dict[str, Any] = {**(browser if isinstance(browser, dict) else {}),
                                        **(account if isinstance(account, dict) else {})}

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Remember a value (JSON-compatible) in both copies."""
        self._values[key] = value
        accounts = dict(nicegui_app.storage.general.get(_ACCOUNTS_KEY, {}))
        accounts[self._user_id] = dict(self._values)
        nicegui_app.storage.general[_ACCOUNTS_KEY] = accounts
        nicegui_app.storage.user[_BROWSER_KEY] = dict(self._values)
