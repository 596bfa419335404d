"""The documented tree of Herald's errors.

Callers decide on the class, never on the message text::

    HeraldError
    ├── ConfigurationError       a setting, URL or file the user gave is unusable
    ├── StoreError               the workspace database cannot be opened or migrated
    ├── ValidationError          input (an SDK payload, a CSV row) breaks a rule; ``field`` names where
    │   └── PayloadTooLarge      a body or payload is over its byte limit
    ├── AuthenticationError      a wrong or missing SDK key
    └── ImportFileError          a CSV file cannot be read at all (rows with problems are rejects, not errors)

Provider errors (``ProviderError`` → ``TokenInvalid``, ``PayloadRejected``, ``AuthFailed``,
``Throttled``, ``Transient``) join this tree with the sending engine.
"""

from __future__ import annotations


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
