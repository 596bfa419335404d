"""FCM HTTP v1: ``POST /v1/projects/{project}/messages:send``, answered as Google answers.

Requests must carry a bearer token issued by the simulator's OAuth endpoint. Errors use Google's shape,
``{"error": {"code", "message", "status", "details": [FcmError]}}``, so firebase-admin raises the same
exception classes it raises against Google:

=====================================  ======================================  ===============================
cause                                  answer                                  firebase-admin raises
=====================================  ======================================  ===============================
no / unknown / expired bearer token    401 UNAUTHENTICATED                     UnauthenticatedError
project in the URL is not ours         403 SENDER_ID_MISMATCH                  SenderIdMismatchError
invalid message, unknown token         400 INVALID_ARGUMENT                    InvalidArgumentError
app uninstalled                        404 UNREGISTERED                        UnregisteredError
device quota, injected throttling      429 QUOTA_EXCEEDED + Retry-After        QuotaExceededError
injected auth fault                    401 THIRD_PARTY_AUTH_ERROR              ThirdPartyAuthError
injected 500 / 503                     500 INTERNAL / 503 UNAVAILABLE          InternalError / UnavailableError
=====================================  ======================================  ===============================

``validate_only`` requests are checked but never delivered, and answer ``.../messages/fake_message_id``.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable

import orjson

from simulator.inbound import AcceptanceStatus, PushSink
from simulator.services.asgi import AsgiApp, Request, Response, json_response, service_app
from simulator.services.clock import WallClock, system_wall_clock, utc_from_epoch
from simulator.services.faults import FaultDecision, FaultInjector, FaultKind
from simulator.services.fcm_message import FcmInvalidArgument, parse_fcm_message, to_inbound_push
from simulator.services.oauth import AccessTokens, TokenStatus

_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
DEVICE_QUOTA_RETRY_AFTER_S = 60

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}


def fcm_error(
    code: int, message: str, error_code: str | None = None, *, field: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """Google's error body for ``code``, with an FcmError detail when ``error_code`` is given."""
    details: list[dict[str, object]] = []
    if error_code is not None:
        details.append({"@type": _FCM_ERROR, "errorCode": error_code})
    if field is not None:
        details.append({"@type": _BAD_REQUEST, "fieldViolations": [{"field": field, "description": message}]})
    error: dict[str, object] = {"code": code, "message": message, "status": _STATUS_NAMES[code]}
    if details:
        error["details"] = details
    return json_response(code, {"error": error}, headers)


class FcmService:
    """The FCM send endpoint for one project, delivering into a ``PushSink``."""

    def __init__(
        self, *, project_id: str, sink: PushSink, tokens: AccessTokens, faults: FaultInjector,
        now: WallClock = system_wall_clock, message_ids: Callable[[], str] | None = None,
    ) -> None:
        self._project_id = project_id
        self._sink = sink
        self._tokens = tokens
        self._faults = faults
        self._now = now
        self._message_ids = message_ids or _message_ids()

    def asgi(self) -> AsgiApp:
        """This service as an ASGI application."""
        return service_app(self.handle, self._faults, _fault_response)

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        match = _SEND_PATH.match(request.path)
        if match is None:
            return fcm_error(404, f"Method not found: {request.path}")
        if request.method != "POST":
            return fcm_error(404, "Method not found.")
        denied = self._authenticate(request.headers.get("authorization", ""))
        if denied is not None:
            return denied
        project = match.group(1)
        if project != self._project_id:
            return fcm_error(403, "SenderId mismatch", "SENDER_ID_MISMATCH")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return fcm_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if not isinstance(body, dict):
            return fcm_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        try:
            message = parse_fcm_message(body.get("message"))
        except FcmInvalidArgument as exc:
            return fcm_error(400, str(exc), "INVALID_ARGUMENT", field=exc.field)
        if body.get("validate_only") is True:
            return json_response(200, {"name": f"projects/{project}/messages/fake_message_id"})
        message_id = self._message_ids()
        push = to_inbound_push(message, message_id=message_id, received_at=utc_from_epoch(self._now()))
        status = self._sink.accept(push).status
        if status is AcceptanceStatus.ACCEPTED:
            return json_response(200, {"name": f"projects/{project}/messages/{message_id}"})
        if status is AcceptanceStatus.UNREGISTERED:
            return fcm_error(404, "Requested entity was not found.", "UNREGISTERED")
        if status is AcceptanceStatus.DEVICE_RATE_LIMITED:
            return fcm_error(
                429, "Quota exceeded for the device.", "QUOTA_EXCEEDED",
                headers=(("retry-after", str(DEVICE_QUOTA_RETRY_AFTER_S)),),
            )
        return fcm_error(
            400, "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT",
            field="message.token",
        )

    def _authenticate(self, authorization: str) -> Response | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return fcm_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        if self._tokens.check(token.strip()) is not TokenStatus.VALID:
            return fcm_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential.",
            )
        return None


def _message_ids() -> Callable[[], str]:
    prefix = f"0:{secrets.randbelow(10**12):012d}%"
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):016x}"


def _fault_response(decision: FaultDecision) -> Response:
    if decision.kind is FaultKind.THROTTLED:
        return fcm_error(
            429, "Quota exceeded for quota metric 'Send requests'.", "QUOTA_EXCEEDED",
            headers=(("retry-after", str(decision.retry_after_s)),),
        )
    if decision.kind is FaultKind.AUTH:
        return fcm_error(401, "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR")
    if decision.kind is FaultKind.UNAVAILABLE:
        return fcm_error(503, "The service is currently unavailable.", "UNAVAILABLE")
    return fcm_error(500, "Internal error encountered.", "INTERNAL")
