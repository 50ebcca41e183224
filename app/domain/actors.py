"""How a recorded actor reads to people.

The audit trail and an alert's acknowledged_by/resolved_by keep the actor exactly as recorded (the trail is
append-only): a user's username, a system part's name ("escalation"), a token as "token:<name>", and a person who
acted through an integration as "<person> (via token:<name>)". The prefix tells tokens and people apart in the
record; screens and exports for people show the same names without it.
"""

import re

# NOTE: app/services/tokens.py and app/services/kiosk.py record token actors with this prefix.
TOKEN_PREFIX = 'token:'  # noqa: S105 (a name prefix, not a secret)
# Only where a recorded name starts with the prefix: at the start, or right after "(via " (app/services/common.py
# acting_name); a person's own name that merely contains "token:" stays as it is.
_TOKEN_NAME = re.compile(rf'(^|\(via ){re.escape(TOKEN_PREFIX)}')


def display_actor(recorded: str | None) -> str:
    """Return a recorded actor as people read it ("A (via token:B)" -> "A (via B)")."""
    return _TOKEN_NAME.sub(r'\1', recorded or '')
