"""Signals: short-lived notices to every process that are no events (no sequence number, not in the event log)."""

from enum import StrEnum

# A user's account changed in a way their open pages must follow at once: every page of theirs, on every process,
# re-reads the account and leaves (sign-in ended) or reloads (role or wards changed).
# NOTE: the wire name predates the reasons ("log out on all devices" sent it alone); processes of both versions
# understand each other during a rolling update.
ACCOUNT_CHANGED = 'signed_out'


class AccountChange(StrEnum):
    """Why an account signal was sent; the sign-in page tells the user in these words' terms."""

    SIGNED_OUT = 'signed_out'  # "log out on all devices"
    DEACTIVATED = 'deactivated'  # an administrator deactivated the account
    CHANGED = 'changed'  # role or wards changed: pages reload with the new scope
