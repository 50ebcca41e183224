"""How a recorded actor reads to people.

The audit trail and an alert's acknowledged_by/resolved_by/created_by keep the actor exactly as recorded at the
time (the trail is append-only): a signed-in user as "<display name> (<username>)" (the name people know, and the
username for traceability; just the username where both are the same, and in records made before names were
recorded), a system part's name ("escalation"), a token as "token:<name>", and a person who acted through an
integration as "<person> (via token:<name>)". The prefix tells tokens and people apart in the record; screens and
exports show the same names without it (display_actor), and lists that name people in passing show the person
alone (person_name: "Acknowledged by Jordan Ellis").
"""

import re

# NOTE: app/services/tokens.py and app/services/kiosk.py record token actors with this prefix.
TOKEN_PREFIX = 'token:'  # noqa: S105 (a name prefix, not a secret)
# Only where a recorded name starts with the prefix: at the start, or right after "(via " (app/services/common.py
# acting_name); a person's own name that merely contains "token:" stays as it is.
_TOKEN_NAME = re.compile(rf'(^|\(via ){re.escape(TOKEN_PREFIX)}')
# NOTE: app/services/users.py USERNAME: lower-case letters, digits, ".", "_" or "-"; never a space, so "(via ...)" and
# a display name's own words in brackets ("(ICU)" has capitals) are never taken for it.
_USERNAME_SUFFIX = re.compile(r' \([a-z0-9._-]{2,64}\)$')
MAX_RECORDED = 200  # the length of the actor columns


def recorded_person(display_name: str, username: str) -> str:
    """Return how a signed-in user is recorded: "Jordan Ellis (charge)", or just the username if that is the name."""
    name = ' '.join(display_name.split())[:MAX_RECORDED - len(username) - 3]
    return username if name in ('', username) else f'{name} ({username})'


def display_actor(recorded: str | None) -> str:
    """Return a recorded actor as people read it ("A (via token:B)" -> "A (via B)")."""
    return _TOKEN_NAME.sub(r'\1', recorded or '')


def person_name(recorded: str | None) -> str:
    """Return who acted without the username of the record ("Jordan Ellis (charge)" -> "Jordan Ellis")."""
    return _USERNAME_SUFFIX.sub('', display_actor(recorded))
