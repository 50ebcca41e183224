"""Domain errors: each says what went wrong in words a nurse or an integrator can act on.

Pages and API routes translate them at their boundary (NotFound -> 404, NotAllowed -> 403,
Conflict -> 409, InvalidInput -> 422, AuthenticationFailed -> 401).
"""


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object does not exist in the caller's hospital (other hospitals' objects are reported the same way)."""


class HospitalNotFound(NotFound):
    pass


class WardNotFound(NotFound):
    pass


class PatientNotFound(NotFound):
    pass


class AlertNotFound(NotFound):
    pass


class UserNotFound(NotFound):
    pass


class TokenNotFound(NotFound):
    pass


class NotAllowed(DomainError):
    """The caller is known but its role, token kind or ward assignment does not permit this."""


class Conflict(DomainError):
    """The action clashes with the current state; reload and decide again."""


class InvalidTransition(Conflict):
    pass


class AlertAlreadyAcknowledged(InvalidTransition):
    pass


class AlertAlreadyResolved(InvalidTransition):
    pass


class StaleVersion(Conflict):
    """Somebody changed the object since the caller last saw it."""


class AlreadyExists(Conflict):
    pass


class InvalidInput(DomainError):
    pass


class AuthenticationFailed(DomainError):
    """Credentials were not accepted (the message never says whether the user or the password was wrong)."""


class TokenInvalid(AuthenticationFailed):
    pass
