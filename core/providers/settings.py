"""Plain settings for the three providers: paths, URLs and ids, nothing live.

A profile store (production or simulator) fills these; ``core.providers.factory`` turns them into providers.
Secrets are never held here, only the paths of the files that contain them (or, for FCM, an already-loaded
service-account mapping when the credential store decrypts it in memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Google's FCM HTTP v1 origin (the SDK's default).
FCM_PRODUCTION_URL = "https://fcm.googleapis.com"
#: Apple's provider API, production and development environments.
APNS_PRODUCTION_URL = "https://api.push.apple.com"
APNS_SANDBOX_URL = "https://api.sandbox.push.apple.com"


@dataclass(frozen=True, slots=True)
class FcmSettings:
    """How to reach FCM HTTP v1 for one Firebase project.

    Exactly one of ``service_account_path`` and ``service_account_info`` is given. ``base_url`` is the FCM
    origin (``https://fcm.googleapis.com`` in production, the simulator's ``fcm_url`` offline); the send URL
    is ``{base_url}/v1/projects/{project_id}/messages:send``.
    """

    project_id: str
    service_account_path: str | None = None
    #: The parsed JSON, e.g. decrypted from the credential store (never shown by ``repr``).
    service_account_info: Mapping[str, Any] | None = field(default=None, repr=False)
    base_url: str = FCM_PRODUCTION_URL
    #: Per-request timeout of the SDK's HTTP client, in seconds.
    timeout_s: float = 30.0
    #: Requests in flight at once (and the SDK client's connection pool size): a batch goes to the SDK in
    #: slices so no request waits in the pool, whose queue scans grow with its length.
    max_in_flight: int = 64
    #: Messages per ``send_each_async`` call; ``max_in_flight // slice_size`` calls run at once.
    slice_size: int = 6

    @property
    def send_url(self) -> str:
        """The messages:send URL of the project."""
        return f"{self.base_url.rstrip('/')}/v1/projects/{self.project_id}/messages:send"


@dataclass(frozen=True, slots=True)
class ApnsSettings:
    """How to reach the APNs provider API with token (``.p8``) authentication.

    ``base_url`` is ``https://…`` (TLS, HTTP/2 by ALPN; ``ca_cert_path`` adds a CA to trust, e.g. the
    simulator's) or ``http://…`` (cleartext HTTP/2 with prior knowledge, for the simulator's h2c port).
    """

    base_url: str
    key_id: str
    team_id: str
    #: The app's bundle id, sent as ``apns-topic``.
    topic: str
    #: The ``.p8`` key: a file path, or its PEM text (e.g. decrypted from the credential store).
    key_path: str | None = None
    key_pem: str | None = field(default=None, repr=False)
    ca_cert_path: str | None = None
    #: Requests in flight at once on the one connection (the server's SETTINGS_MAX_CONCURRENT_STREAMS and
    #: httpx's own stream limit apply on top).
    max_in_flight: int = 500
    #: Age after which the provider token is signed anew; Apple wants 20–60 minutes.
    token_refresh_s: float = 40 * 60
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 20 * 60 <= self.token_refresh_s <= 60 * 60:
            raise ValueError("token_refresh_s must lie between 20 and 60 minutes (Apple's rule)")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if (self.key_path is None) == (self.key_pem is None):
            raise ValueError("give exactly one of key_path and key_pem")


@dataclass(frozen=True, slots=True)
class WebPushSettings:
    """VAPID identity and sending limits for Web Push (the endpoints come with each subscription)."""

    #: ``sub`` claim: ``mailto:`` or ``https:`` contact for the push services.
    subject: str
    #: The VAPID private key: a PEM file path, or the PEM text itself.
    vapid_private_key_path: str | None = None
    vapid_private_key_pem: str | None = field(default=None, repr=False)
    #: The public key subscriptions were made with (raw point, base64url); checked by "test connection".
    vapid_public_key: str | None = None
    #: Requests in flight at once over the shared HTTP client.
    max_in_flight: int = 64
    #: Batches with at least this many messages are encrypted in a process pool; None never uses one.
    process_pool_threshold: int | None = 512
    #: Worker processes of that pool (None: the number of CPUs).
    process_pool_workers: int | None = None
    #: Lifetime of a VAPID JWT (``exp`` - now); at most 24 h. It is re-signed at half its lifetime.
    vapid_lifetime_s: int = 12 * 3600
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 60 <= self.vapid_lifetime_s <= 24 * 3600:
            raise ValueError("vapid_lifetime_s must lie between one minute and 24 hours")
        if (self.vapid_private_key_path is None) == (self.vapid_private_key_pem is None):
            raise ValueError("give exactly one of vapid_private_key_path and vapid_private_key_pem")
        if not self.subject.startswith(("mailto:", "https:")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
