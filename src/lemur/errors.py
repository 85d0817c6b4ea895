"""One error hierarchy for the whole service.

Every failure a user can see is a :class:`LemurError` with a stable ``code`` (part of the
API contract: scripts match on it), an HTTP ``status``, a ``message`` that is safe to show
(never a secret, never a key) and, where one input is at fault, the ``field`` that names it.
The API renders all of them through one handler as
``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations


class LemurError(Exception):
    """Base class. Subclasses fix the status; callers choose a specific code."""

    status: int = 500
    default_code: str = "internal_error"
    # Seconds after which a retry may succeed; sent as Retry-After when set.
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(LemurError):
    """The request is well-formed but a value in it is wrong (bad PEM, bad name, ...)."""

    status = 422
    default_code = "invalid_input"


class BadRequest(LemurError):
    status = 400
    default_code = "bad_request"


class AuthenticationRequired(LemurError):
    """No credentials, or credentials that do not identify an active principal."""

    status = 401
    default_code = "authentication_required"


class PermissionDenied(LemurError):
    status = 403
    default_code = "permission_denied"


class NotFound(LemurError):
    status = 404
    default_code = "not_found"


class Conflict(LemurError):
    """The request collides with existing state (duplicate name, fingerprint, ...)."""

    status = 409
    default_code = "conflict"


class PayloadTooLarge(LemurError):
    status = 413
    default_code = "payload_too_large"


class TooManyRequests(LemurError):
    status = 429
    default_code = "too_many_requests"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.retry_after: int | None = retry_after


class ServiceUnavailable(LemurError):
    status = 503
    default_code = "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached or used now (stopped, restarting, replaced, corrupt);
    the request changed nothing and may be retried."""

    default_code = "database_unavailable"
    retry_after = 5


class StorageFull(LemurError):
    """The database's storage is full (RFC 4918 section 11.5); nothing was written."""

    status = 507
    default_code = "storage_full"
    retry_after = 30


class ConfigurationError(LemurError):
    """Lemur cannot start or run as configured; the message says what to do."""

    status = 500
    default_code = "configuration_error"
