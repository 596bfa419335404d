"""The documented tree of Herald's errors.

Callers decide on the class, never on the message text::

    HeraldError
    ├── ConfigurationError       a setting, URL or file the user gave is unusable
    ├── StoreError               the workspace database cannot be opened or migrated
    ├── ValidationError          input (an SDK payload, a CSV row) breaks a rule; ``field`` names where
    │   └── PayloadTooLarge      a body or payload is over its byte limit
    ├── AuthenticationError      a wrong or missing SDK key
    ├── ImportFileError          a CSV file cannot be read at all (rows with problems are rejects, not errors)
    ├── CredentialError          a credential file is unusable; ``field`` names the bad field
    └── ProviderError            a push provider refused or failed one message (the sender decides on the class)
        ├── TokenInvalid         the token/subscription is dead: invalidate the device, never retry
        ├── PayloadRejected      the message itself is wrong (too large, bad field): permanent
        ├── AuthFailed           our credentials are refused: stop the provider's lane, alert
        ├── Throttled            slow down this scope; ``retry_after`` seconds when the provider said
        └── Transient            try again later with backoff; ``ambiguous`` when it may have arrived
"""

from __future__ import annotations

from datetime import datetime


class HeraldError(Exception):
    """Base of every error Herald raises on purpose; its message says what is wrong and what to do."""


class ConfigurationError(HeraldError):
    """A setting, URL or file the user supplied cannot be used."""


class StoreError(HeraldError):
    """The workspace database cannot be opened, reached or migrated."""


class ValidationError(HeraldError):
    """Input breaks a rule. ``field`` is the dotted path of the offending field, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def as_dict(self) -> dict[str, str]:
        """The error as the JSON object the HTTP API answers with."""
        out = {"error": str(self)}
        if self.field is not None:
            out["field"] = self.field
        return out


class PayloadTooLarge(ValidationError):
    """A body or payload is larger than its limit."""

    def __init__(self, message: str, limit: int, size: int | None = None, field: str | None = None) -> None:
        super().__init__(message, field)
        self.limit = limit
        self.size = size


class AuthenticationError(HeraldError):
    """A request carried no SDK key or the wrong one."""


class ImportFileError(HeraldError):
    """A CSV file cannot be opened or has no usable header; individual bad rows are rejects instead."""


class CredentialError(HeraldError):
    """A credential file is unusable; ``field`` names the field that is missing or wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ProviderError(HeraldError):
    """A provider's answer to one message that was not a success.

    ``code`` is the provider's own reason (``UNREGISTERED``, ``BadDeviceToken``, ``410``…) and ``status`` the
    HTTP status when there was one; both are for people and logs, the class is for decisions.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    @property
    def error_class(self) -> str:
        """The class as stored in the outbox (``token_invalid``, ``throttled``…)."""
        return _ERROR_CLASS[type(self)]


class TokenInvalid(ProviderError):
    """The device's token or subscription is gone. ``invalid_since`` is the provider's time (APNs 410)."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 invalid_since: datetime | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.invalid_since = invalid_since


class PayloadRejected(ProviderError):
    """The message is malformed or too large; sending it again cannot help."""


class AuthFailed(ProviderError):
    """The provider refused our credentials (or the sender id / topic is not ours)."""


class Throttled(ProviderError):
    """Too many requests for a scope (project, device, connection); ``retry_after`` in seconds if given."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class Transient(ProviderError):
    """A temporary failure. ``ambiguous`` means the request may have been delivered (reset after sending)."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None, ambiguous: bool = False) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


_ERROR_CLASS: dict[type[ProviderError], str] = {
    ProviderError: "provider_error",
    TokenInvalid: "token_invalid",
    PayloadRejected: "payload_rejected",
    AuthFailed: "auth_failed",
    Throttled: "throttled",
    Transient: "transient",
}
