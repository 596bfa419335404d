"""The provider interface: what the sending engine hands a provider and what it gets back.

A request is already provider-shaped (built by ``core.composer.payloads``); a provider only signs, encrypts
and transmits it, and turns every answer into a ``SendResult`` or one of the ``core.errors.ProviderError``
classes — never a string for the caller to parse::

    outcomes = await provider.send_batch(requests)     # one outcome per request, same order
    for request, outcome in zip(requests, outcomes):
        if isinstance(outcome, ProviderError): ...     # TokenInvalid, Throttled(retry_after), Transient…
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.domain import Provider
from core.errors import ProviderError


@dataclass(frozen=True, slots=True)
class FcmRequest:
    """One FCM HTTP v1 message: ``message`` is the v1 ``message`` object without ``token``."""

    token: str
    message: Mapping[str, Any]
    delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class ApnsRequest:
    """One APNs request: the JSON payload bytes and the ``apns-*`` headers."""

    token: str
    payload: bytes
    push_type: str = "alert"
    priority: int = 10
    #: Epoch seconds after which APNs drops it; 0 means deliver now or never.
    expiration: int = 0
    collapse_id: str | None = None
    #: A UUID; stable per delivery so a retry is recognisably the same notification.
    apns_id: str | None = None
    delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class WebPushRequest:
    """One Web Push message: the plaintext (encrypted by the provider) and the RFC 8030 headers."""

    subscription: Mapping[str, Any]
    payload: bytes
    ttl: int
    urgency: str = "normal"
    topic: str | None = None
    delivery_id: int | None = None


PushRequest = FcmRequest | ApnsRequest | WebPushRequest


@dataclass(frozen=True, slots=True)
class SendResult:
    """A provider accepted the message; ``sdk_retries`` counts retries a client library made on its own."""

    message_id: str | None
    sdk_retries: int = 0


Outcome = SendResult | ProviderError


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The result of "test connection": whether the credentials work, and what was learned."""

    provider: Provider
    ok: bool
    detail: str
    facts: dict[str, str] = field(default_factory=dict)


class PushProvider(Protocol):
    """A connection to one push service for one set of credentials."""

    provider: Provider

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        """Send every request (concurrently as the provider allows); one outcome per request, in order."""
        ...

    async def check_connection(self) -> ConnectionCheck:
        """Prove the credentials work without reaching a real device."""
        ...

    async def aclose(self) -> None:
        """Close connections and release resources."""
        ...
