"""Build the three providers from plain settings, or from a simulator's exported ``profile.json``.

A profile store (``core.providers.profiles``) holds one ``FcmSettings`` / ``ApnsSettings`` /
``WebPushSettings`` per provider and calls ``build_fcm`` / ``build_apns`` / ``build_webpush`` (or
``build_providers``) inside the engine's event loop thread. For the simulator::

    settings = settings_from_simulator_profile(json.loads(Path(state_dir, "profile.json").read_text()))
    providers = build_providers(settings)          # {Provider.FCM: FcmProvider, …}

The simulator profile is read as a plain mapping so ``core`` never imports ``simulator``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.domain import Provider
from core.providers.apns import ApnsProvider
from core.providers.base import PushProvider
from core.providers.fcm import FcmProvider
from core.providers.settings import ApnsSettings, FcmSettings, WebPushSettings
from core.providers.webpush import WebPushProvider

__all__ = [
    "ApnsSettings",
    "FcmSettings",
    "ProviderSettings",
    "WebPushSettings",
    "build_apns",
    "build_fcm",
    "build_providers",
    "build_webpush",
    "settings_from_simulator_profile",
]

#: The VAPID ``sub`` used with the simulator when the profile names none.
SIMULATOR_VAPID_SUBJECT = "mailto:simulator@herald.invalid"


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """The settings of every provider a profile configures (None: that provider is not set up)."""

    fcm: FcmSettings | None = None
    apns: ApnsSettings | None = None
    webpush: WebPushSettings | None = None


def build_fcm(settings: FcmSettings) -> FcmProvider:
    """An FCM provider (its firebase-admin App is created on first use, in the running loop)."""
    return FcmProvider(settings)


def build_apns(settings: ApnsSettings, clock: Clock | None = None) -> ApnsProvider:
    """An APNs provider (its connection opens on first use)."""
    return ApnsProvider(settings, clock=clock)


def build_webpush(settings: WebPushSettings, clock: Clock | None = None) -> WebPushProvider:
    """A Web Push provider (its HTTP session and process pool start on first use)."""
    return WebPushProvider(settings, clock=clock)


def build_providers(settings: ProviderSettings, clock: Clock | None = None) -> dict[Provider, PushProvider]:
    """One provider per configured platform."""
    out: dict[Provider, PushProvider] = {}
    if settings.fcm is not None:
        out[Provider.FCM] = build_fcm(settings.fcm)
    if settings.apns is not None:
        out[Provider.APNS] = build_apns(settings.apns, clock)
    if settings.webpush is not None:
        out[Provider.WEBPUSH] = build_webpush(settings.webpush, clock)
    return out


def settings_from_simulator_profile(
    profile: Mapping[str, Any], *, apns_h2c: bool = False, vapid_subject: str = SIMULATOR_VAPID_SUBJECT,
) -> ProviderSettings:
    """Settings that send to a running simulator, from its ``profile.json`` (``SimulatorProfile.to_json``).

    APNs goes over TLS trusting the simulator's CA, or over h2c when ``apns_h2c`` is set.
    """
    def field(name: str) -> str:
        value = profile.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"the simulator profile has no {name}")
        return value

    return ProviderSettings(
        fcm=FcmSettings(project_id=field("project_id"), service_account_path=field("service_account_path"),
                        base_url=field("fcm_url")),
        apns=ApnsSettings(
            base_url=field("apns_h2c_url") if apns_h2c else field("apns_url"), key_id=field("apns_key_id"),
            team_id=field("apns_team_id"), topic=field("apns_bundle_id"), key_path=field("apns_key_path"),
            ca_cert_path=None if apns_h2c else field("ca_cert_path"),
        ),
        webpush=WebPushSettings(subject=vapid_subject, vapid_private_key_path=field("vapid_private_key_path"),
                                vapid_public_key=field("vapid_public_key")),
    )
