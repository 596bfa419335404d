"""The clients ``bench.simulator_services`` drives the simulator's services with.

Two kinds, both returning ``(accepted, errors, seconds)`` for one run:

* **library** clients — exactly what a sender uses: ``pywebpush.webpush_async`` (which encrypts every message;
  the VAPID header is made once per origin and passed in, as Herald's provider does), ``httpx.AsyncClient
  (http2=True)`` with one provider token, and ``firebase_admin.messaging.send_each_async`` batches;
* **lean** clients — the same requests with the client's own work taken out, so the service, not the library,
  is the limit: Web Push bodies encrypted once per subscription by pywebpush and re-sent with valid headers
  (``aiohttp``), FCM v1 JSON with a google-auth access token (``aiohttp``), and APNs over a bare hyper-h2
  connection (``BareH2Client``). ``lean_worker`` runs one in a child process so several can run at once.

Every request is a real, valid one: the service checks and decrypts it as it would Herald's.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import h2.settings

from simulator.profile import SimulatorProfile

#: What the server sends the clients: Web Push subscriptions ``[id, p256dh, auth]`` and tokens per provider.
Targets = dict[str, list[Any]]
Outcome = tuple[int, int, float]

NOTIFICATION = {"title": "Flash sale", "body": "40% off today only", "tag": "sale", "data": {"url": "/sale"}}
APNS_BODY = json.dumps({"aps": {"alert": {"title": "Flash sale", "body": "40% off today only"}}}).encode()


async def drive(send_one: Callable[[int], Awaitable[bool]], in_flight: int, duration_s: float) -> Outcome:
    """Keep ``in_flight`` calls going for ``duration_s``; return (accepted, errors, seconds)."""
    accepted = errors = 0
    deadline = time.perf_counter() + duration_s
    counter = 0

    async def worker() -> None:
        nonlocal accepted, errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            try:
                ok = await send_one(counter)
            except Exception:
                ok = False
            if ok:
                accepted += 1
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return accepted, errors, time.perf_counter() - started


def vapid_header(profile: SimulatorProfile) -> str:
    """One ``Authorization: vapid t=…,k=…`` for the Web Push origin, valid 12 hours (made once, reused)."""
    from py_vapid import Vapid02

    vapid = Vapid02.from_file(profile.vapid_private_key_path)
    claims = {"sub": "mailto:bench@herald.test", "aud": profile.webpush_base_url,
              "exp": int(time.time()) + 12 * 3600}
    return cast(str, vapid.sign(claims)["Authorization"])


def _subscription_info(profile: SimulatorProfile, sub: list[str]) -> dict[str, Any]:
    return {"endpoint": profile.webpush_endpoint(sub[0]), "keys": {"p256dh": sub[1], "auth": sub[2]}}


# -- library clients --------------------------------------------------------------------------------------


async def library_webpush(profile: SimulatorProfile, targets: Targets, in_flight: int, duration_s: float) -> Outcome:
    """``pywebpush.webpush_async`` on one aiohttp session, ``in_flight`` calls at once."""
    import aiohttp
    from pywebpush import webpush_async

    infos = [_subscription_info(profile, s) for s in targets["webpush"]]
    body = json.dumps(NOTIFICATION)
    headers = {"Authorization": vapid_header(profile)}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:

        async def send_one(i: int) -> bool:
            response = await webpush_async(infos[i % len(infos)], body, headers=dict(headers), ttl=3600,
                                           aiohttp_session=session)
            return getattr(response, "status", 0) == 201

        return await drive(send_one, in_flight, duration_s)


def apns_token(profile: SimulatorProfile) -> str:
    """One ES256 provider token, reused for the whole run (as Apple asks)."""
    import jwt

    return jwt.encode({"iss": profile.apns_team_id, "iat": int(time.time())},
                      Path(profile.apns_key_path).read_bytes(), algorithm="ES256",
                      headers={"kid": profile.apns_key_id})


async def library_apns(profile: SimulatorProfile, targets: Targets, in_flight: int, duration_s: float) -> Outcome:
    """``httpx.AsyncClient(http2=True)`` over TLS, ``in_flight`` streams on one connection."""
    import httpx

    context = ssl.create_default_context(cafile=profile.ca_cert_path)
    headers = {"authorization": f"bearer {apns_token(profile)}", "apns-topic": profile.apns_bundle_id,
               "apns-push-type": "alert"}
    tokens = targets["apns"]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(http2=True, verify=context, limits=limits) as client:

        async def send_one(i: int) -> bool:
            response = await client.post(f"{profile.apns_url}/3/device/{tokens[i % len(tokens)]}",
                                         headers=headers, content=APNS_BODY)
            return response.status_code == 200

        return await drive(send_one, in_flight, duration_s)


async def library_fcm(app: Any, targets: Targets, batch: int, duration_s: float) -> Outcome:
    """``firebase_admin.messaging.send_each_async`` with ``batch`` messages a call."""
    from firebase_admin import messaging

    tokens = targets["fcm"]
    messages = [
        messaging.Message(
            token=tokens[i % len(tokens)], data={"herald_delivery_id": str(i)},
            android=messaging.AndroidConfig(notification=messaging.AndroidNotification(title="Hi", body="Sale")),
        )
        for i in range(batch)
    ]
    accepted = errors = 0
    deadline = time.perf_counter() + duration_s
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        result = await messaging.send_each_async(messages, app=app)
        accepted += result.success_count
        errors += result.failure_count
    return accepted, errors, time.perf_counter() - started


def firebase_app(profile: SimulatorProfile) -> Any:
    """A firebase-admin App on the profile's service account, sending to the simulator's FCM URL."""
    import secrets

    import firebase_admin
    from firebase_admin import credentials, messaging

    app = firebase_admin.initialize_app(
        credentials.Certificate(profile.service_account_path), {"projectId": profile.project_id},
        name=f"bench-{secrets.token_hex(4)}",
    )
    messaging._get_messaging_service(app)._fcm_url = profile.fcm_send_url.format(profile.project_id)
    return app


# -- lean clients -----------------------------------------------------------------------------------------


async def lean_webpush(profile: SimulatorProfile, targets: Targets, in_flight: int, duration_s: float) -> Outcome:
    """Bodies encrypted once per subscription by pywebpush, re-sent with a cached VAPID header (aiohttp)."""
    import aiohttp
    from pywebpush import WebPusher

    body = json.dumps(NOTIFICATION).encode()
    requests = []
    for sub in targets["webpush"]:
        info = _subscription_info(profile, sub)
        requests.append((info["endpoint"], WebPusher(info).encode(body, "aes128gcm")["body"]))
    headers = {"Authorization": vapid_header(profile), "TTL": "3600", "Content-Encoding": "aes128gcm",
               "Content-Type": "application/octet-stream"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",)) as session:

        async def send_one(i: int) -> bool:
            endpoint, data = requests[i % len(requests)]
            async with session.post(endpoint, data=data, headers=headers) as response:
                await response.read()
                return response.status == 201

        return await drive(send_one, in_flight, duration_s)


async def lean_fcm(profile: SimulatorProfile, targets: Targets, in_flight: int, duration_s: float) -> Outcome:
    """FCM v1 ``messages:send`` JSON as firebase-admin writes it, with one google-auth access token."""
    import aiohttp
    import google.auth.transport.requests
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(
        profile.service_account_path, scopes=["https://www.googleapis.com/auth/firebase.messaging"])
    await asyncio.to_thread(creds.refresh, google.auth.transport.requests.Request())
    url = profile.fcm_send_url.format(profile.project_id)
    bodies = [
        json.dumps({"message": {"token": token, "data": {"herald_delivery_id": str(i)},
                                "android": {"notification": {"title": "Hi", "body": "Sale"}}},
                    "validate_only": False}).encode()
        for i, token in enumerate(targets["fcm"])
    ]
    headers = {"Authorization": f"Bearer {creds.token}", "Content-Type": "application/json; charset=UTF-8"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",)) as session:

        async def send_one(i: int) -> bool:
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as response:
                await response.read()
                return response.status == 200

        return await drive(send_one, in_flight, duration_s)


class BareH2Client(asyncio.Protocol):
    """A minimal HTTP/2 client on hyper-h2: POSTs with a body, answers resolved by stream id."""

    def __init__(self) -> None:
        config = h2.config.H2Configuration(client_side=True, header_encoding=None, validate_inbound_headers=False,
                                           validate_outbound_headers=False, normalize_outbound_headers=False)
        self._conn = h2.connection.H2Connection(config=config)
        self._transport: asyncio.Transport | None = None
        self._waiting: dict[int, asyncio.Future[int]] = {}
        self._status: dict[int, int] = {}
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window((1 << 24) - 65535)
        self._transport.write(self._conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self._conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                for name, value in event.headers or ():
                    if name == b":status":
                        self._status[event.stream_id] = int(value)
            elif isinstance(event, h2.events.DataReceived):
                self._conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                future = self._waiting.pop(event.stream_id, None)
                if future is not None and not future.done():
                    future.set_result(self._status.pop(event.stream_id, 0))
            elif isinstance(event, h2.events.RemoteSettingsChanged) and not self.ready.done():
                self.ready.set_result(None)
        data_out = self._conn.data_to_send()
        if data_out and self._transport is not None:
            self._transport.write(data_out)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self._waiting.clear()

    async def post(self, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
        """Send one request; the answer's status."""
        stream_id = self._conn.get_next_available_stream_id()
        self._conn.send_headers(stream_id, headers)
        self._conn.send_data(stream_id, body, end_stream=True)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[stream_id] = future
        assert self._transport is not None
        self._transport.write(self._conn.data_to_send())
        return await future

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


async def lean_apns(profile: SimulatorProfile, targets: Targets, in_flight: int, duration_s: float) -> Outcome:
    """APNs requests over one TLS connection with a bare hyper-h2 client, ``in_flight`` streams at once."""
    from urllib.parse import urlsplit

    url = urlsplit(profile.apns_url)
    context = ssl.create_default_context(cafile=profile.ca_cert_path)
    context.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(BareH2Client, url.hostname, url.port, ssl=context)
    await client.ready
    authority = url.netloc.encode()
    common = [(b"authorization", f"bearer {apns_token(profile)}".encode()),
              (b"apns-topic", profile.apns_bundle_id.encode()), (b"apns-push-type", b"alert")]
    paths = [f"/3/device/{token}".encode() for token in targets["apns"]]
    try:

        async def send_one(i: int) -> bool:
            headers = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", authority),
                       (b":path", paths[i % len(paths)]), *common]
            return await client.post(headers, APNS_BODY) == 200

        return await drive(send_one, in_flight, duration_s)
    finally:
        client.close()


LEAN = {"webpush": lean_webpush, "apns": lean_apns, "fcm": lean_fcm}


def lean_worker(service: str, profile_json: str, targets: Targets, in_flight: int, duration_s: float,
                barrier: Any, out: Any) -> None:
    """Child-process entry: set up, wait for the others at ``barrier``, drive ``service``, put the outcome."""
    profile = SimulatorProfile.from_json(profile_json)

    async def main() -> Outcome:
        run = LEAN[service]

        async def after_barrier(*args: Any) -> Outcome:
            await asyncio.to_thread(barrier.wait)
            return await run(*args)

        return await after_barrier(profile, targets, in_flight, duration_s)

    try:
        import uvloop

        out.put(uvloop.run(main()))
    except ImportError:
        out.put(asyncio.run(main()))
