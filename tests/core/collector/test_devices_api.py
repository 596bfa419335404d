"""Device registration over the SDK API: creation, refresh, revival and field-level errors."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from core.clock import ManualClock
from core.persistence import Database
from core.persistence.models import Device, User


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription() -> dict[str, object]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": "https://push.example/push/abc", "keys": {"p256dh": b64(key), "auth": b64(b"a" * 16)}}


def test_registration_creates_user_and_device(api: httpx.Client, db: Database) -> None:
    r = api.post("/sdk/v1/devices", json={"user": "ana", "platform": "android", "provider": "fcm",
                                          "token": "tok-1", "app_version": "5.2.0", "locale": "tr-TR",
                                          "timezone": "Europe/Istanbul"})
    assert r.status_code == 201
    assert r.json()["created"] is True
    with db.transaction() as s:
        device = s.scalars(select(Device)).one()
        user = s.scalars(select(User)).one()
    assert (device.token, device.app_version, device.user_id) == ("tok-1", "5.2.0", user.id)
    assert (user.external_id, user.locale, user.timezone) == ("ana", "tr-TR", "Europe/Istanbul")


def test_reregistering_a_token_refreshes_the_same_device(api: httpx.Client, db: Database) -> None:
    body = {"user": "ana", "platform": "ios", "provider": "apns", "token": "a" * 64, "app_version": "1.0"}
    first = api.post("/sdk/v1/devices", json=body).json()
    second = api.post("/sdk/v1/devices", json={**body, "app_version": "1.1"})
    assert second.status_code == 200
    assert second.json()["device_id"] == first["device_id"] and second.json()["created"] is False
    with db.transaction() as s:
        assert s.scalars(select(Device.app_version)).all() == ["1.1"]


def test_a_newer_registration_revives_an_invalidated_device(
    api: httpx.Client, db: Database, clock: ManualClock
) -> None:
    body = {"user": "ana", "platform": "web", "provider": "webpush", "subscription": subscription()}
    device_id = api.post("/sdk/v1/devices", json=body).json()["device_id"]
    with db.transaction() as s:
        device = s.get(Device, device_id)
        assert device is not None
        device.invalidated_at = clock.now()
        device.invalid_reason = "unregistered"
    clock.advance(60)
    r = api.post("/sdk/v1/devices", json=body).json()
    assert r["revived"] is True and r["device_id"] == device_id
    with db.transaction() as s:
        device = s.get(Device, device_id)
        assert device is not None and device.invalidated_at is None and device.invalid_reason is None


def test_an_invalidation_later_than_the_registration_is_not_undone(
    api: httpx.Client, db: Database, clock: ManualClock
) -> None:
    body = {"user": "ana", "platform": "ios", "provider": "apns", "token": "b" * 64}
    device_id = api.post("/sdk/v1/devices", json=body).json()["device_id"]
    with db.transaction() as s:
        device = s.get(Device, device_id)
        assert device is not None
        device.invalidated_at = clock.now() + timedelta(minutes=5)  # APNs 410 timestamp after this
    assert api.post("/sdk/v1/devices", json=body).json()["revived"] is False


def test_bad_registrations_name_the_field(api: httpx.Client) -> None:
    cases = {
        "platform": {"user": "a", "platform": "symbian", "provider": "fcm", "token": "t"},
        "provider": {"user": "a", "platform": "android", "provider": "apns", "token": "t"},
        "token": {"user": "a", "platform": "android", "provider": "fcm"},
        "subscription.keys.auth": {"user": "a", "platform": "web", "provider": "webpush",
                                   "subscription": {**subscription(), "keys": {
                                       "p256dh": subscription()["keys"]["p256dh"],  # type: ignore[index]
                                       "auth": b64(b"short")}}},
        "timezone": {"user": "a", "platform": "android", "provider": "fcm", "token": "t", "timezone": "Mars/Base"},
        "user": {"platform": "android", "provider": "fcm", "token": "t"},
    }
    for field, body in cases.items():
        r = api.post("/sdk/v1/devices", json=body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["field"] == field
