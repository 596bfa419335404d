"""firebase-admin's private attributes that Herald relies on (pinned 7.7.0): this fails if an upgrade moves them.

``FcmProvider`` points an App at another FCM origin through the cached service's ``_fcm_url`` (built from
``_MessagingService.FCM_URL``), closes ``_async_client`` itself, and counts the SDK's own retries by wrapping
``HttpxRetryTransport._wrapped_transport`` found in ``_async_client._mounts``.
"""

from __future__ import annotations

import pytest
from firebase_admin import messaging

from core.providers.factory import ProviderSettings
from core.providers.fcm import FcmProvider


def test_class_url_template_exists() -> None:
    assert "{0}" in messaging._MessagingService.FCM_URL
    assert messaging._MessagingService.FCM_URL.endswith("/v1/projects/{0}/messages:send")


@pytest.mark.asyncio
async def test_service_url_client_and_retry_transport_are_where_the_provider_expects(
    settings: ProviderSettings,
) -> None:
    assert settings.fcm is not None
    provider = FcmProvider(settings.fcm)
    try:
        app = provider._ensure_app()
        service = messaging._get_messaging_service(app)
        assert service._fcm_url == settings.fcm.send_url
        assert hasattr(service._async_client, "aclose")
        mounts = service._async_client._mounts
        assert mounts and all(hasattr(t, "_wrapped_transport") for t in mounts.values())
        assert provider.counts_sdk_retries
    finally:
        await provider.aclose()
