"""The Web Push service (RFC 8030): ``POST {base}/push/{subscription_id}``, checked and decrypted.

Order of checks and answers (error bodies are ``{"code", "error", "message"}``):

* unknown subscription (the fleet has no keys for it) → 404;
* VAPID (``simulator.services.vapid``): missing or invalid → 401, ``k`` not the subscription's
  ``applicationServerKey`` → 403;
* ``TTL`` missing or not a non-negative integer → 400; ``Urgency`` not very-low/low/normal/high → 400;
  ``Topic`` longer than 32 characters or outside the base64url alphabet → 400;
* a body without ``Content-Encoding: aes128gcm`` → 400; a body over 4096 bytes → 413; one that does not
  decrypt with the subscription's keys → 400;
* the fleet's verdict: subscription gone → 410, device throttled → 429 + Retry-After, unknown → 404.

Injected faults answer 429 (+ Retry-After), 500, 503 or 403. Success is 201 Created with ``Location``
(``{origin}/message/{id}``) and the ``TTL`` the service will keep the message for.
"""

from __future__ import annotations

import itertools
import re
import secrets

from simulator.inbound import AcceptanceStatus, PushSink
from simulator.services.asgi import AsgiApp, Request, Response, json_response, service_app
from simulator.services.clock import WallClock, system_wall_clock, utc_from_epoch
from simulator.services.faults import FaultDecision, FaultInjector, FaultKind
from simulator.services.vapid import VapidCredential, VapidFailure, VapidVerifier, parse_vapid
from simulator.services.webpush_message import (
    DecryptionFailed,
    SubscriptionKeyCache,
    decrypt_aes128gcm,
    to_inbound_push,
)

MAX_BODY_BYTES = 4096
DEVICE_RETRY_AFTER_S = 60
_PUSH_PATH = re.compile(r"^/push/([A-Za-z0-9_\-.~]+)$")
_TOPIC = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_CREDENTIAL_CACHE_LIMIT = 1024
URGENCIES = frozenset({"very-low", "low", "normal", "high"})


def webpush_error(code: int, error: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """An error answer in the shape Mozilla's autopush uses."""
    return json_response(code, {"code": code, "error": error, "message": message}, headers)


class WebPushService:
    """Per-subscription push endpoints delivering into a ``PushSink``."""

    def __init__(
        self, *, sink: PushSink, faults: FaultInjector, now: WallClock = system_wall_clock,
    ) -> None:
        self._sink = sink
        self._faults = faults
        self._now = now
        self._vapid = VapidVerifier(now=now)
        self._keys = SubscriptionKeyCache()
        self._id_prefix = secrets.token_hex(6)
        self._id_counter = itertools.count(1)
        #: Parsed VAPID headers by their exact text: senders reuse one header per origin.
        self._credentials: dict[tuple[str | None, str | None], VapidCredential | VapidFailure] = {}

    def asgi(self) -> AsgiApp:
        """This service as an ASGI application."""
        return service_app(self.handle, self._faults, _fault_response)

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        match = _PUSH_PATH.match(request.path)
        if match is None:
            return webpush_error(404, "Not Found", "No such push endpoint.")
        if request.method != "POST":
            return webpush_error(405, "Method Not Allowed", "Push messages are POSTed.")
        subscription_id = match.group(1)
        keys = self._sink.webpush_keys(subscription_id)
        if keys is None:
            return webpush_error(404, "Not Found", "Subscription not found.")
        credential = self._credential(request.headers.get("authorization"), request.headers.get("crypto-key"))
        failure = (
            credential if isinstance(credential, VapidFailure)
            else self._vapid.check(credential, keys.application_server_key, request.origin)
        )
        if failure is not None:
            return _vapid_error(failure)
        bad = _check_headers(request)
        if bad is not None:
            return bad
        if len(request.body) > MAX_BODY_BYTES:
            return webpush_error(413, "Payload Too Large", f"Body exceeds {MAX_BODY_BYTES} bytes.")
        plaintext = b""
        if request.body:
            try:
                plaintext = decrypt_aes128gcm(request.body, keys, self._keys.private_key(keys))
            except DecryptionFailed:
                return webpush_error(400, "Bad Request", "The message does not decrypt for this subscription.")
        ttl = int(request.headers["ttl"])
        message_id = f"{self._id_prefix}{next(self._id_counter):x}"
        push = to_inbound_push(
            plaintext, subscription_id=subscription_id, message_id=message_id,
            received_at=utc_from_epoch(self._now()), ttl_s=ttl, topic=request.headers.get("topic"),
            urgency=request.headers.get("urgency", "normal"),
        )
        status = self._sink.accept(push).status
        if status is AcceptanceStatus.ACCEPTED:
            location = f"{request.origin}/message/{message_id}"
            return Response(201, b"", (("location", location), ("ttl", str(ttl))), content_type=None)
        if status is AcceptanceStatus.UNREGISTERED:
            return webpush_error(410, "Gone", "The subscription has expired or was unsubscribed.")
        if status is AcceptanceStatus.DEVICE_RATE_LIMITED:
            return webpush_error(
                429, "Too Many Requests", "Too many messages for this subscription.",
                (("retry-after", str(DEVICE_RETRY_AFTER_S)),),
            )
        return webpush_error(404, "Not Found", "Subscription not found.")


    def _credential(self, authorization: str | None, crypto_key: str | None) -> VapidCredential | VapidFailure:
        key = (authorization, crypto_key)
        found = self._credentials.get(key)
        if found is None:
            found = parse_vapid(authorization, crypto_key)
            if len(self._credentials) >= _CREDENTIAL_CACHE_LIMIT:
                self._credentials.clear()
            self._credentials[key] = found
        return found


def _check_headers(request: Request) -> Response | None:
    ttl = request.headers.get("ttl")
    if ttl is None or not ttl.strip().isdigit():
        return webpush_error(400, "Bad Request", "A TTL header with a non-negative integer is required.")
    urgency = request.headers.get("urgency")
    if urgency is not None and urgency not in URGENCIES:
        return webpush_error(400, "Bad Request", "Urgency must be very-low, low, normal or high.")
    topic = request.headers.get("topic")
    if topic is not None and not _TOPIC.match(topic):
        return webpush_error(400, "Bad Request", "Topic must be at most 32 base64url characters.")
    if request.body and request.headers.get("content-encoding", "").lower() != "aes128gcm":
        return webpush_error(400, "Bad Request", "Content-Encoding must be aes128gcm.")
    return None


def _vapid_error(failure: VapidFailure) -> Response:
    if failure is VapidFailure.KEY_MISMATCH:
        return webpush_error(403, "Forbidden", str(failure))
    return webpush_error(401, "Unauthorized", str(failure), (("www-authenticate", "vapid"),))


def _fault_response(decision: FaultDecision) -> Response:
    if decision.kind is FaultKind.THROTTLED:
        return webpush_error(
            429, "Too Many Requests", "Slow down.", (("retry-after", str(decision.retry_after_s)),)
        )
    if decision.kind is FaultKind.AUTH:
        return webpush_error(403, "Forbidden", "The VAPID credential was refused.")
    if decision.kind is FaultKind.UNAVAILABLE:
        return webpush_error(503, "Service Unavailable", "Try again later.")
    return webpush_error(500, "Internal Server Error", "Internal error.")
