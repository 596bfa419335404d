"""Exact platform payloads: one ``PushContent`` for one device becomes an FCM, APNs or Web Push request.

Every request carries Herald's delivery id where the device's SDK looks for it (``push_contract``), and a
replace key — the content's own, or ``herald-<campaign>`` — as FCM collapse key and Android tag, APNs
collapse id and Web Push Topic/tag, so a resend after an ambiguous failure collapses on the device. Sizes
are checked on the exact bytes that will be sent; an oversized payload raises ``PayloadTooLarge`` naming the
platform, the delivery and the excess.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.composer.content import PushContent
from core.domain import Platform, Provider
from core.domain import push_contract as contract
from core.errors import PayloadTooLarge, ValidationError
from core.providers.base import ApnsRequest, FcmRequest, PushRequest, WebPushRequest

FCM_MAX_BYTES = 4096
APNS_MAX_BYTES = 4096
#: RFC 8291 with one aes128gcm record of 4,096 bytes leaves 3,993 bytes of plaintext.
WEBPUSH_MAX_PLAINTEXT = 3993
#: Namespace for apns-id UUIDs derived from delivery ids.
_APNS_ID_NAMESPACE = uuid.UUID("6f1d8a52-3b59-4c1e-9a8e-2f7f3f6f9a10")


@dataclass(frozen=True, slots=True)
class Target:
    """One device a delivery goes to."""

    delivery_id: int
    campaign_id: int
    platform: Platform
    provider: Provider
    token: str
    subscription: Mapping[str, Any] | None = None


def replace_key(content: PushContent, campaign_id: int) -> str:
    """The key that makes a resend replace instead of double."""
    return content.replace_key or f"herald-{campaign_id}"


def apns_id(delivery_id: int) -> str:
    """A stable apns-id per delivery (a retry carries the same one)."""
    return str(uuid.uuid5(_APNS_ID_NAMESPACE, str(delivery_id)))


def _compact(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None and v != "" and v != [] and v != {}}


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _check(size: int, limit: int, platform: str, target: Target) -> None:
    if size > limit:
        raise PayloadTooLarge(
            f"the {platform} payload for delivery {target.delivery_id} is {size} bytes, {size - limit} over the "
            f"{limit}-byte limit; shorten the body or drop fields",
            limit=limit, size=size, field=platform,
        )


def build_request(content: PushContent, target: Target, now_epoch: int) -> PushRequest:
    """The provider request that shows ``content`` on ``target``."""
    if target.provider is Provider.FCM:
        return _fcm(content, target)
    if target.provider is Provider.APNS:
        return _apns(content, target, now_epoch)
    return _webpush(content, target)


def _herald(target: Target, kind: str = contract.TYPE_MESSAGE) -> dict[str, Any]:
    return {"delivery_id": target.delivery_id, "campaign_id": target.campaign_id, "type": kind}


def _fcm(content: PushContent, target: Target) -> FcmRequest:
    key = replace_key(content, target.campaign_id)
    data = {
        **content.data,
        contract.FCM_DELIVERY_ID: str(target.delivery_id),
        contract.FCM_CAMPAIGN_ID: str(target.campaign_id),
        contract.FCM_TYPE: contract.TYPE_MESSAGE,
    }
    if content.deep_link:
        data["herald_link"] = content.deep_link
    if content.buttons:
        data["herald_buttons"] = _json_bytes([{"id": b.id, "label": b.label, "link": b.link}
                                              for b in content.buttons]).decode()
    android: dict[str, Any] = {"priority": "high" if content.priority == "high" else "normal",
                               "ttl": f"{content.ttl_seconds}s", "collapse_key": key}
    message: dict[str, Any] = {"data": data, "android": android}
    if not content.silent:
        message["notification"] = _compact({"title": content.title, "body": content.body, "image": content.image})
        android["notification"] = _compact({
            "tag": key, "channel_id": content.channel, "click_action": content.deep_link, "sound": content.sound,
            "image": content.image, "icon": content.icon,
            "notification_count": content.badge,
        })
    size = len(_json_bytes({"message": {**message, "token": target.token}}))
    _check(size, FCM_MAX_BYTES, "fcm", target)
    return FcmRequest(target.token, message, target.delivery_id)


def _apns(content: PushContent, target: Target, now_epoch: int) -> ApnsRequest:
    key = replace_key(content, target.campaign_id)
    payload: dict[str, Any] = {contract.HERALD_KEY: _herald(target)}
    if content.silent:
        payload["aps"] = {"content-available": 1}
        push_type, priority = "background", 5
    else:
        alert = _compact({"title": content.title, "subtitle": content.subtitle, "body": content.body})
        payload["aps"] = _compact({
            "alert": alert, "badge": content.badge, "sound": content.sound, "category": content.category,
            "mutable-content": 1 if content.image else None, "thread-id": f"campaign-{target.campaign_id}",
        })
        push_type, priority = "alert", 10 if content.priority == "high" else 5
    if content.image:
        payload["image_url"] = content.image
    if content.deep_link:
        payload["deep_link"] = content.deep_link
    if content.buttons:
        payload["buttons"] = [{"id": b.id, "label": b.label, "link": b.link} for b in content.buttons]
    payload.update({k: v for k, v in content.data.items() if k not in payload})
    body = _json_bytes(payload)
    _check(len(body), APNS_MAX_BYTES, "apns", target)
    expiration = now_epoch + content.ttl_seconds if content.ttl_seconds else 0
    return ApnsRequest(target.token, body, push_type, priority, expiration, key, apns_id(target.delivery_id),
                       target.delivery_id)


def _webpush(content: PushContent, target: Target) -> WebPushRequest:
    if target.subscription is None:
        raise ValidationError(f"delivery {target.delivery_id}: a Web Push device has no subscription", "subscription")
    key = replace_key(content, target.campaign_id)
    document: dict[str, Any] = {contract.HERALD_KEY: _herald(target)}
    if not content.silent:
        document.update(_compact({
            "title": content.title, "body": content.body, "icon": content.icon, "image": content.image,
            "tag": key, "renotify": True, "badge": content.badge,
            "actions": [{"action": b.id, "title": b.label} for b in content.buttons],
        }))
    data = _compact({"url": content.deep_link, **content.data,
                     "links": {b.id: b.link for b in content.buttons if b.link} or None})
    if data:
        document["data"] = data
    body = _json_bytes(document)
    _check(len(body), WEBPUSH_MAX_PLAINTEXT, "webpush", target)
    return WebPushRequest(target.subscription, body, content.ttl_seconds,
                          "high" if content.priority == "high" else "normal", key[:32], target.delivery_id)


def build_recall(target: Target, keys: Sequence[str], delivery_ids: Sequence[int], ttl_seconds: int) -> PushRequest:
    """The recall signal for ``target``: removes notifications with ``keys`` or ``delivery_ids`` (push_contract)."""
    if target.provider is Provider.FCM:
        message = {
            "data": {contract.FCM_TYPE: contract.TYPE_RECALL, contract.FCM_RECALL_TAGS: ",".join(keys),
                     contract.FCM_RECALL_IDS: ",".join(str(i) for i in delivery_ids),
                     contract.FCM_DELIVERY_ID: str(target.delivery_id),
                     contract.FCM_CAMPAIGN_ID: str(target.campaign_id)},
            "android": {"priority": "high", "ttl": f"{ttl_seconds}s"},
        }
        return FcmRequest(target.token, message, target.delivery_id)
    recall = {"type": contract.TYPE_RECALL, "delivery_id": target.delivery_id,
              "campaign_id": target.campaign_id, "delivery_ids": list(delivery_ids)}
    if target.provider is Provider.APNS:
        document = {"aps": {"content-available": 1}, contract.HERALD_KEY: {**recall, "collapse_ids": list(keys)}}
        body = _json_bytes(document)
        return ApnsRequest(target.token, body, "background", 5, 0, None, apns_id(target.delivery_id),
                           target.delivery_id)
    assert target.subscription is not None
    body = _json_bytes({contract.HERALD_KEY: {**recall, "tags": list(keys)}})
    return WebPushRequest(target.subscription, body, ttl_seconds, "high", None, target.delivery_id)
