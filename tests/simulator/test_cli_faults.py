"""Faults switched on from the command line: parsed with clear errors, and in force once the simulator runs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
import typer

from core.domain import Platform, Provider
from simulator.cli import parse_faults
from simulator.runtime import RuntimeOptions, RuntimeThread


def test_fault_flags_parse_into_settings_per_service() -> None:
    parsed = parse_faults(["apns.rate_503=1", "apns.retry_after_s=7", "webpush.latency={\"kind\": \"fixed\"}"])
    assert parsed == {"apns": {"rate_503": 1, "retry_after_s": 7}, "webpush": {"latency": {"kind": "fixed"}}}


@pytest.mark.parametrize(
    ("spec", "says"),
    [("apns", "SERVICE.SETTING=VALUE"), ("mqtt.rate_503=1", "one of oauth, fcm"),
     ("apns.rate_999=1", "the setting is one of"), ("apns.rate_503=2", "fault rates must lie in [0, 1]")],
)
def test_bad_fault_flags_say_what_to_write(spec: str, says: str) -> None:
    with pytest.raises(typer.BadParameter) as info:
        parse_faults([spec])
    assert says in str(info.value)


def test_a_fault_given_at_start_is_in_force(tmp_path: Path) -> None:
    options = RuntimeOptions(devices=3, seed=2, mix={Platform.IOS: 1},
                             faults=parse_faults(["apns.rate_429=1", "apns.retry_after_s=7"]))
    thread = RuntimeThread(tmp_path, options)
    info = thread.start()
    try:
        fleet = thread.runtime.fleet
        assert fleet is not None
        device = next(d for d in fleet.devices() if d.provider is Provider.APNS)
        p = info.profile
        token = jwt.encode({"iss": p.apns_team_id, "iat": int(time.time())}, Path(p.apns_key_path).read_text(),
                           algorithm="ES256", headers={"kid": p.apns_key_id})
        with httpx.Client(http1=False, http2=True) as client:
            r = client.post(f"{p.apns_h2c_url}/3/device/{device.address}", json={"aps": {"alert": "hi"}},
                            headers={"authorization": f"bearer {token}", "apns-topic": p.apns_bundle_id,
                                     "apns-push-type": "alert", "apns-id": str(uuid.uuid4())})
        assert r.status_code == 429 and r.json()["reason"] == "TooManyRequests"
        assert r.headers.get("retry-after") == "7"
    finally:
        thread.stop()
