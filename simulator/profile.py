"""The provider profile: everything Herald needs to send to the simulator instead of the real providers.

A profile is the base URLs of the running services plus the credential files in the state directory. Ports
are known only once the services are bound, so ``simulator.services.server`` writes ``profile.json`` when
it starts; ``python main.py simulator profile --state DIR`` reads it back with ``load_profile``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from simulator.credentials import SimulatorCredentials, write_private_file

PROFILE_FILE = "profile.json"


@dataclass(frozen=True, slots=True)
class ServiceUrls:
    """Where the running services listen (no trailing slashes)."""

    fcm_url: str
    oauth_token_url: str
    apns_url: str
    apns_h2c_url: str
    webpush_base_url: str


@dataclass(frozen=True, slots=True)
class SimulatorProfile:
    """Base URLs, identities and credential file paths for one simulator state directory."""

    #: FCM HTTP v1 origin; the send URL is ``fcm_send_url`` (what ``_MessagingService.FCM_URL`` takes).
    fcm_url: str
    #: The service account's ``token_uri`` (plain HTTP).
    oauth_token_url: str
    #: APNs provider API over TLS (trust ``ca_cert_path``), HTTP/2 with ALPN ``h2``.
    apns_url: str
    #: APNs provider API over cleartext HTTP/2 with prior knowledge (h2c).
    apns_h2c_url: str
    #: Web Push service origin; subscription endpoints are ``{webpush_base_url}/push/{id}``.
    webpush_base_url: str
    project_id: str
    service_account_path: str
    apns_key_path: str
    apns_key_id: str
    apns_team_id: str
    apns_bundle_id: str
    vapid_private_key_path: str
    #: The sender's VAPID public key, raw uncompressed point in base64url (``applicationServerKey``).
    vapid_public_key: str
    ca_cert_path: str

    @property
    def fcm_send_url(self) -> str:
        """The send URL template with ``{0}`` for the project id, as firebase-admin formats it."""
        return f"{self.fcm_url}/v1/projects/{{0}}/messages:send"

    def webpush_endpoint(self, subscription_id: str) -> str:
        """The push endpoint of one subscription."""
        return f"{self.webpush_base_url}/push/{subscription_id}"

    def to_json(self) -> str:
        """The profile as a JSON object (field names as above, plus ``fcm_send_url``)."""
        data: dict[str, Any] = asdict(self)
        data["fcm_send_url"] = self.fcm_send_url
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SimulatorProfile:
        """Read ``to_json`` output; derived and unknown keys are ignored."""
        data = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: str(v) for k, v in data.items() if k in names})

    @classmethod
    def build(cls, credentials: SimulatorCredentials, urls: ServiceUrls) -> SimulatorProfile:
        """Combine the credentials of a state directory with the URLs of the running services."""
        return cls(
            fcm_url=urls.fcm_url,
            oauth_token_url=urls.oauth_token_url,
            apns_url=urls.apns_url,
            apns_h2c_url=urls.apns_h2c_url,
            webpush_base_url=urls.webpush_base_url,
            project_id=credentials.project_id,
            service_account_path=str(credentials.service_account_path),
            apns_key_path=str(credentials.apns_key_path),
            apns_key_id=credentials.apns_key_id,
            apns_team_id=credentials.apns_team_id,
            apns_bundle_id=credentials.apns_bundle_id,
            vapid_private_key_path=str(credentials.vapid_private_key_path),
            vapid_public_key=credentials.vapid_public_key,
            ca_cert_path=str(credentials.ca_cert_path),
        )


def write_profile(state_dir: Path, profile: SimulatorProfile) -> Path:
    """Write ``profile.json`` (mode 0600) into ``state_dir`` and return its path."""
    path = state_dir / PROFILE_FILE
    write_private_file(path, profile.to_json().encode(), replace=True)
    return path


def load_profile(state_dir: Path) -> SimulatorProfile:
    """The profile the services wrote when they last started; FileNotFoundError if they never did."""
    return SimulatorProfile.from_json((state_dir / PROFILE_FILE).read_text())
