"""The simulator as a whole: restarts keep tokens, subscriptions, credentials and ports."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
from pywebpush import webpush

from core.domain import Platform, Provider
from simulator.runtime import RuntimeOptions, RuntimeThread


def addresses(thread: RuntimeThread) -> dict[int, tuple[str, str]]:
    fleet = thread.runtime.fleet
    assert fleet is not None
    return {d.id: (d.provider.value, d.address) for d in fleet.devices()}


def test_a_restart_keeps_every_token_port_and_key(tmp_path: Path) -> None:
    options = RuntimeOptions(devices=9, seed=3, mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1})
    first = RuntimeThread(tmp_path, options)
    info = first.start()
    before = addresses(first)
    first.stop()

    second = RuntimeThread(tmp_path, RuntimeOptions())
    again = second.start()
    try:
        assert addresses(second) == before
        assert again.profile == info.profile
        assert again.control_url == info.control_url
        fleet = second.runtime.fleet
        assert fleet is not None
        profile = again.profile
        apns = next(d for d in fleet.devices() if d.provider is Provider.APNS)
        token = jwt.encode({"iss": profile.apns_team_id, "iat": int(time.time())},
                           Path(profile.apns_key_path).read_text(), algorithm="ES256",
                           headers={"kid": profile.apns_key_id})
        with httpx.Client(http1=False, http2=True) as client:
            r = client.post(f"{profile.apns_h2c_url}/3/device/{apns.address}", json={"aps": {"alert": "hi"}},
                            headers={"authorization": f"bearer {token}", "apns-topic": profile.apns_bundle_id,
                                     "apns-push-type": "alert", "apns-id": str(uuid.uuid4())})
        assert r.status_code == 200, r.text
        web = next(d for d in fleet.devices() if d.provider is Provider.WEBPUSH)
        keys = fleet.webpush_keys(web.address)
        assert keys is not None
        subscription = {"endpoint": profile.webpush_endpoint(web.address), "keys": {
            "p256dh": _b64(keys.public_key), "auth": _b64(keys.auth_secret)}}
        response = webpush(subscription, json.dumps({"title": "still here"}),
                           vapid_private_key=profile.vapid_private_key_path,
                           vapid_claims={"sub": "mailto:qa@herald.example"}, ttl=60)
        assert response.status_code == 201
    finally:
        second.stop()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
