"""Sign-in throttling policy: progressive, capped delays on decaying failure counts, per scope.

Three scopes count failed sign-ins, each keyed on what was typed and where from, never on whether the account
exists (so a throttle tells nobody which usernames are real):

- the pair (username as typed, client address): the strong throttle against one client guessing one account;
- the address: against one client trying many usernames;
- the account (username as typed, from any address): a short, capped delay against guessing from many addresses.
  It is skipped from an address where that account signed in successfully before, so nobody elsewhere can keep a
  nurse at her usual workstation waiting.

A failure adds 1 to each scope's count; counts halve continuously with the scope's half-life. After `free`
failures each further one makes that scope wait `first_wait * 2**(count - free - 1)`, at most `max_wait`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ThrottleScope(StrEnum):
    PAIR = 'pair'
    ADDRESS = 'address'
    ACCOUNT = 'account'


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int
    first_wait: timedelta
    max_wait: timedelta
    half_life: timedelta

    def decayed(self, count: float, counted_at: datetime, now: datetime) -> float:
        """Return the count as it stands at `now` after halving every half-life since `counted_at`."""
        elapsed = max(0.0, (now - counted_at).total_seconds())
        return float(count * 0.5 ** (elapsed / self.half_life.total_seconds()))

    def wait(self, count: float) -> timedelta:
        """Return how long to wait after a failure that brought the count to `count`."""
        if count <= self.free:
            return timedelta(0)
        seconds = self.first_wait.total_seconds() * 2 ** min(count - self.free - 1, 30)
        return min(self.max_wait, timedelta(seconds=seconds))


# NOTE: README "Security" states these numbers; change both together.
POLICIES: dict[ThrottleScope, ThrottlePolicy] = {
    ThrottleScope.PAIR: ThrottlePolicy(free=5, first_wait=timedelta(seconds=1), max_wait=timedelta(minutes=15),
                                       half_life=timedelta(hours=1)),
    # Higher allowance: a ward's workstations may share one address (NAT), and colleagues mistype too.
    ThrottleScope.ADDRESS: ThrottlePolicy(free=20, first_wait=timedelta(seconds=1), max_wait=timedelta(minutes=15),
                                          half_life=timedelta(hours=1)),
    ThrottleScope.ACCOUNT: ThrottlePolicy(free=5, first_wait=timedelta(seconds=1), max_wait=timedelta(seconds=30),
                                          half_life=timedelta(minutes=5)),
}
# An address where an account signed in counts as that account's own for this long (no account-wide delay there).
KNOWN_ADDRESS_FOR = timedelta(days=30)
# Rows with nothing left to say after this long are deleted (every count has halved at least 12 times by then).
FORGET_AFTER = timedelta(hours=12)
# Usernames are at most 64 characters; anything longer typed into the field is counted by its first 64.
TYPED_USERNAME_LENGTH = 64


def typed_username(username: str) -> str:
    """Return the key a typed username is counted under: trimmed, lower case, at most 64 characters."""
    return username.strip().lower()[:TYPED_USERNAME_LENGTH]


def wait_seconds(until: datetime | None, now: datetime) -> int:
    """Return the whole seconds (rounded up) from now until `until`; 0 when it has passed."""
    if until is None or until <= now:
        return 0
    remaining = (until - now).total_seconds()
    return int(remaining) + (remaining % 1 > 0)
