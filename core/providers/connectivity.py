""""Test connection" for a whole profile: build each provider it configures and ask it to prove its credentials.

Each provider knows how to check itself (``PushProvider.check_connection``: an FCM validate-only send, an
APNs request to a dummy token where 400 BadDeviceToken means the key works, a VAPID self-check); this
module only builds the providers from a ``ProviderProfile`` through the factory, runs the checks, and turns
a provider that cannot even be built into a failed check instead of an exception::

    checks = await check_connections(load_profile(store, "prod"))
    for check in checks:
        print(check.provider, "ok" if check.ok else "FAILED", check.detail)

Run it on the engine's long-lived event loop: the FCM client binds to the loop that first uses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.clock import Clock
from core.domain import Provider
from core.errors import HeraldError
from core.providers.base import ConnectionCheck, PushProvider
from core.providers.factory import build_apns, build_fcm, build_webpush
from core.providers.profiles import ProviderProfile, provider_settings

log = logging.getLogger(__name__)

async def check_connections(profile: ProviderProfile, *, apns_h2c: bool = False, clock: Clock | None = None,
                           timeout_s: float = 30.0) -> list[ConnectionCheck]:
    """One ``ConnectionCheck`` per provider the profile configures, in the order FCM, APNs, Web Push."""
    providers: list[tuple[Provider, PushProvider | ConnectionCheck]] = []
    with provider_settings(profile, apns_h2c=apns_h2c) as settings:
        if settings.fcm is not None:
            fcm_settings = settings.fcm
            providers.append((Provider.FCM, _build(Provider.FCM, lambda: build_fcm(fcm_settings))))
        if settings.apns is not None:
            apns_settings = settings.apns
            providers.append((Provider.APNS, _build(Provider.APNS, lambda: build_apns(apns_settings, clock))))
        if settings.webpush is not None:
            webpush_settings = settings.webpush
            providers.append((Provider.WEBPUSH,
                              _build(Provider.WEBPUSH, lambda: build_webpush(webpush_settings, clock))))
    try:
        return list(await asyncio.gather(*(_check(kind, item, timeout_s) for kind, item in providers)))
    finally:
        for kind, item in providers:
            if not isinstance(item, ConnectionCheck):
                try:
                    await item.aclose()
                except Exception:  # a provider that fails to close must not hide the other checks' results
                    log.warning("closing the %s provider after its connection test raised", kind.value,
                                exc_info=True)



def _build(kind: Provider, build: Callable[[], PushProvider]) -> PushProvider | ConnectionCheck:
    try:
        provider: PushProvider = build()
    except (HeraldError, ValueError, OSError) as exc:
        return ConnectionCheck(kind, False, f"cannot set up {kind.value}: {exc}")
    return provider


async def _check(kind: Provider, item: PushProvider | ConnectionCheck, timeout_s: float) -> ConnectionCheck:
    if isinstance(item, ConnectionCheck):
        return item
    try:
        return await asyncio.wait_for(item.check_connection(), timeout_s)
    except TimeoutError:
        return ConnectionCheck(kind, False, f"no answer within {timeout_s:g} s")
    except HeraldError as exc:
        return ConnectionCheck(kind, False, str(exc))
