"""The control API: look at the fleet, steer its devices and the services' faults, stream what happens.

``create_control_app(fleet, faults)`` returns a Starlette ASGI app (every endpoint is async; no threads):

==========================================  ========================================================
``GET  /control/devices``                   ``?platform=&online=&offset=&limit=``: devices with tray
                                            and pending counts, plus the total that matched
``GET  /control/devices/{id}``              one device with its tray and pending queue
``GET  /control/devices/{id}/events``       its newest events (``?limit=``), oldest first
``POST /control/devices/{id}/{action}``     ``click`` / ``dismiss`` (JSON body, optional:
                                            ``message_id``, ``delivery_id``, ``button``; default the
                                            newest notification), ``offline``, ``online``,
                                            ``uninstall``, ``reinstall``, ``opt-out``, ``opt-in``
``GET  /control/stats``                     per-platform counts and totals, per-second counters
                                            (``?seconds=``)
``GET  /control/faults``                    every service's fault settings
``GET|PUT /control/faults/{service}``       one service's settings; PUT takes the fields to change
``GET  /control/stream``                    Server-Sent Events of fleet events (``?device=`` to
                                            follow one device, ``?limit=`` to end after N events)
==========================================  ========================================================

A tray entry carries ``notification`` (the fields as received) and ``shown``: the notification as the
device's platform draws it, cut and with fields dropped by ``core.domain.display`` — the same rules the
composer's preview uses.

Errors are JSON ``{"error": ...}``: 404 for an unknown device, service or action, 400 for bad input, 409
when there is no such notification to click or dismiss.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.domain import Platform
from core.domain.display import DisplayedNotification, ShownButton, displayed
from simulator.device import PendingPush, TrayEntry, VirtualDevice
from simulator.fleet import Fleet, UnknownDevice
from simulator.inbound import RenderedNotification

MAX_PAGE = 1000
KEEPALIVE_S = 15.0


class FaultControl(Protocol):
    """What the control API needs of a service's fault injector (``simulator.services.faults``)."""

    def update(self, **changes: Any) -> Any: ...

    def snapshot(self) -> Any: ...


class _BadRequest(Exception):
    """Input the API refuses, with the message to answer."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _when(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def notification_dict(note: RenderedNotification | None) -> dict[str, Any] | None:
    """A rendered notification as JSON."""
    if note is None:
        return None
    return {
        "title": note.title, "subtitle": note.subtitle, "body": note.body, "image": note.image,
        "icon": note.icon, "buttons": [{"id": b.id, "label": b.label, "link": b.link} for b in note.buttons],
        "deep_link": note.deep_link, "badge": note.badge, "sound": note.sound, "tray_key": note.tray_key,
        "channel": note.channel, "category": note.category,
    }


def shown_notification(platform: Platform, note: RenderedNotification) -> DisplayedNotification:
    """The notification as the device's platform draws it (the composer's preview uses the same rules)."""
    return displayed(
        platform, title=note.title, subtitle=note.subtitle, body=note.body, image=note.image, icon=note.icon,
        buttons=tuple(ShownButton(b.id, b.label, b.link) for b in note.buttons), deep_link=note.deep_link,
        badge=note.badge, sound=note.sound,
    )


def _tray_dict(entry: TrayEntry, platform: Platform) -> dict[str, Any]:
    return {
        "message_id": entry.message_id, "delivery_id": entry.delivery_id, "campaign_id": entry.campaign_id,
        "received_at": _when(entry.received_at), "displayed_at": _when(entry.displayed_at),
        "notification": notification_dict(entry.notification),
        "shown": shown_notification(platform, entry.notification).as_dict(),
    }


def _pending_dict(item: PendingPush) -> dict[str, Any]:
    push = item.push
    return {
        "message_id": push.message_id, "kind": push.kind.value, "delivery_id": item.meta.delivery_id,
        "campaign_id": item.meta.campaign_id, "type": item.meta.type, "collapse_key": push.collapse_key,
        "received_at": _when(push.received_at), "expires_at": _when(push.expires_at),
        "notification": notification_dict(push.notification),
    }


def device_summary(device: VirtualDevice) -> dict[str, Any]:
    """A device as the list shows it."""
    return {
        "id": device.id, "platform": device.platform.value, "provider": device.provider.value,
        "user": device.user, "address": device.address, "locale": device.locale, "timezone": device.timezone,
        "app_version": device.app_version, "online": device.online, "installed": device.installed,
        "uninstalled_at": _when(device.uninstalled_at), "push_enabled": device.push_enabled,
        "generation": device.generation, "tray_count": len(device.tray or ()),
        "pending_count": len(device.pending or ()),
    }


def device_detail(device: VirtualDevice) -> dict[str, Any]:
    """A device with its tray (oldest first) and pending queue (in delivery order)."""
    detail = device_summary(device)
    sub = device.subscription
    detail["subscription"] = None if sub is None else {"id": sub.id, "endpoint_path": sub.endpoint_path}
    detail["tray"] = [_tray_dict(e, device.platform) for e in device.tray or ()]
    detail["pending"] = [_pending_dict(p) for p in device.pending or ()]
    return detail


def _int(request: Request, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise _BadRequest(f"{name} must be between {low} and {high if high is not None else 'any'}")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    return body


def create_control_app(fleet: Fleet, faults: Mapping[str, FaultControl] | None = None) -> Starlette:
    """The control API over ``fleet`` and the services' fault injectors (by service name)."""
    injectors: Mapping[str, FaultControl] = faults or {}

    async def list_devices(request: Request) -> Response:
        platform = request.query_params.get("platform") or None
        online = request.query_params.get("online") or None
        if platform is not None and platform not in {p.value for p in Platform}:
            raise _BadRequest(f"unknown platform {platform!r}")
        if online is not None and online not in ("true", "false"):
            raise _BadRequest("online must be true or false")
        offset = _int(request, "offset", 0)
        limit = _int(request, "limit", 100, 1, MAX_PAGE)
        matched = [
            d for d in fleet.devices()
            if (platform is None or d.platform.value == platform)
            and (online is None or d.online == (online == "true"))
        ]
        page = [device_summary(d) for d in matched[offset : offset + limit]]
        return JSONResponse({"total": len(matched), "offset": offset, "limit": limit, "devices": page})

    async def get_device(request: Request) -> Response:
        return JSONResponse(device_detail(fleet.device(request.path_params["id"])))

    async def device_events(request: Request) -> Response:
        device = fleet.device(request.path_params["id"])
        limit = _int(request, "limit", 100, 1, MAX_PAGE)
        return JSONResponse({"events": [e.to_dict() for e in fleet.events(device.id, limit)]})

    async def device_action(request: Request) -> Response:
        device_id: int = request.path_params["id"]
        action: str = request.path_params["action"]
        body = await _json_body(request)
        fleet.device(device_id)
        if action in ("click", "dismiss"):
            message_id = body.get("message_id")
            delivery_id = body.get("delivery_id")
            button = body.get("button")
            if not all(v is None or isinstance(v, str) for v in (message_id, button)) or not (
                delivery_id is None or (isinstance(delivery_id, int) and not isinstance(delivery_id, bool))
            ):
                raise _BadRequest("message_id and button must be strings, delivery_id an integer")
            try:
                event = (fleet.click(device_id, message_id, delivery_id, button) if action == "click"
                         else fleet.dismiss(device_id, message_id, delivery_id))
            except ValueError as exc:
                raise _BadRequest(str(exc)) from None
            if event is None:
                return _error(409, "no such notification in the tray")
            return JSONResponse({"event": event.to_dict(), "device": device_summary(fleet.device(device_id))})
        if action in ("offline", "online"):
            fleet.set_online(device_id, action == "online")
        elif action == "uninstall":
            fleet.uninstall(device_id)
        elif action == "reinstall":
            fleet.reinstall(device_id)
        elif action == "opt-out":
            fleet.opt_out(device_id)
        elif action == "opt-in":
            fleet.opt_in(device_id)
        else:
            return _error(404, f"unknown action {action!r}")
        return JSONResponse({"device": device_summary(fleet.device(device_id))})

    async def stats(request: Request) -> Response:
        return JSONResponse(fleet.stats(_int(request, "seconds", 60, 1, 600)))

    def _settings(injector: FaultControl, value: Any = None) -> Any:
        found = injector.snapshot() if value is None else value
        return found.to_dict() if hasattr(found, "to_dict") else found

    async def all_faults(request: Request) -> Response:
        return JSONResponse({name: _settings(inj) for name, inj in injectors.items()})

    async def service_faults(request: Request) -> Response:
        name = request.path_params["service"]
        injector = injectors.get(name)
        if injector is None:
            return _error(404, f"unknown service {name!r}; known: {sorted(injectors)}")
        if request.method == "PUT":
            changes = await _json_body(request)
            try:
                return JSONResponse(_settings(injector, injector.update(**changes)))
            except (TypeError, ValueError) as exc:
                raise _BadRequest(str(exc)) from None
        return JSONResponse(_settings(injector))

    async def stream(request: Request) -> Response:
        limit = _int(request, "limit", 0)
        device = _int(request, "device", 0)
        queue = fleet.subscribe()

        async def events() -> AsyncIterator[str]:
            sent = 0
            try:
                yield ": herald simulator fleet events\n\n"
                while not limit or sent < limit:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if device and event.device_id != device:
                        continue
                    sent += 1
                    yield f"id: {event.seq}\nevent: {event.name}\ndata: {json.dumps(event.to_dict())}\n\n"
            finally:
                fleet.unsubscribe(queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(400, str(exc))

    async def unknown_device(request: Request, exc: Exception) -> Response:
        return _error(404, f"no device {exc}")

    routes = [
        Route("/control/devices", list_devices, methods=["GET"]),
        Route("/control/devices/{id:int}", get_device, methods=["GET"]),
        Route("/control/devices/{id:int}/events", device_events, methods=["GET"]),
        Route("/control/devices/{id:int}/{action}", device_action, methods=["POST"]),
        Route("/control/stats", stats, methods=["GET"]),
        Route("/control/faults", all_faults, methods=["GET"]),
        Route("/control/faults/{service}", service_faults, methods=["GET", "PUT"]),
        Route("/control/stream", stream, methods=["GET"]),
    ]
    return Starlette(routes=routes,
                     exception_handlers={_BadRequest: bad_request, UnknownDevice: unknown_device})
