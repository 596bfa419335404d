"""Credential files and the provider profile: created once, readable by the client libraries, kept on restart."""

from __future__ import annotations

import asyncio
import json
import ssl
import stat
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from firebase_admin import credentials as firebase_credentials
from py_vapid import Vapid

from simulator.credentials import (
    PLACEHOLDER_TOKEN_URI,
    b64url,
    b64url_decode,
    load_or_create_credentials,
    set_token_uri,
)
from simulator.profile import PROFILE_FILE, SimulatorProfile, load_profile
from simulator.services import SimulatorServices
from tests.simulator.conftest import RecordingSink


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_first_start_writes_every_credential_file_owner_only(tmp_path: Path) -> None:
    creds = load_or_create_credentials(tmp_path, project_id="demo-project", bundle_id="com.example.app")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([
        "service-account.json", "apns-key.p8", "apns.json", "vapid-private.pem", "vapid-public.txt", "ca.pem",
        "ca-key.pem", "server.pem", "server-key.pem",
    ])
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    info = json.loads(creds.service_account_path.read_text())
    assert info["type"] == "service_account" and info["project_id"] == "demo-project"
    assert info["private_key_id"] == creds.private_key_id and info["client_email"] == creds.client_email
    assert info["token_uri"] == PLACEHOLDER_TOKEN_URI
    assert isinstance(serialization.load_pem_private_key(info["private_key"].encode(), None), rsa.RSAPrivateKey)
    assert len(creds.apns_key_id) == 10 and len(creds.apns_team_id) == 10
    assert creds.apns_bundle_id == "com.example.app"


def test_client_libraries_accept_the_files(tmp_path: Path) -> None:
    creds = load_or_create_credentials(tmp_path)
    certificate = firebase_credentials.Certificate(str(creds.service_account_path))
    assert certificate.project_id == creds.project_id
    p8 = creds.apns_key_path.read_bytes()
    assert b"BEGIN PRIVATE KEY" in p8
    key = serialization.load_pem_private_key(p8, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    token = jwt.encode({"iss": creds.apns_team_id, "iat": 0}, p8, algorithm="ES256")
    assert jwt.decode(token, creds.apns_public_key(), algorithms=["ES256"], options={"verify_iat": False})
    vapid = Vapid.from_file(str(creds.vapid_private_key_path))
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert b64url(raw) == creds.vapid_public_key and len(b64url_decode(creds.vapid_public_key)) == 65


def test_server_certificate_is_trusted_through_the_local_ca(tmp_path: Path) -> None:
    creds = load_or_create_credentials(tmp_path)
    ca = x509.load_pem_x509_certificate(creds.ca_cert_path.read_bytes())
    server = x509.load_pem_x509_certificate(creds.server_cert_path.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ssl.create_default_context(cafile=str(creds.ca_cert_path)).cert_store_stats()["x509_ca"] == 1


def test_nothing_that_exists_is_regenerated(tmp_path: Path) -> None:
    first = load_or_create_credentials(tmp_path)
    before = _snapshot(tmp_path)
    assert load_or_create_credentials(tmp_path, project_id="ignored", bundle_id="ignored") == first
    assert _snapshot(tmp_path) == before


def test_a_missing_server_certificate_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    load_or_create_credentials(tmp_path)
    before = _snapshot(tmp_path)
    (tmp_path / "server.pem").unlink()
    load_or_create_credentials(tmp_path)
    after = _snapshot(tmp_path)
    assert after["ca.pem"] == before["ca.pem"] and after["service-account.json"] == before["service-account.json"]
    assert after["server.pem"] != before["server.pem"]


def test_set_token_uri_keeps_the_key(tmp_path: Path) -> None:
    creds = load_or_create_credentials(tmp_path)
    key_before = json.loads(creds.service_account_path.read_text())["private_key"]
    set_token_uri(creds, "http://127.0.0.1:1234/token")
    info = json.loads(creds.service_account_path.read_text())
    assert info["token_uri"] == "http://127.0.0.1:1234/token" and info["private_key"] == key_before
    assert stat.S_IMODE(creds.service_account_path.stat().st_mode) == 0o600


def test_services_write_the_profile_and_a_restart_keeps_every_credential(state_dir: Path) -> None:
    async def run_once() -> SimulatorProfile:
        async with SimulatorServices(RecordingSink(), state_dir) as profile:
            return profile

    first = asyncio.run(run_once())
    assert load_profile(state_dir) == first
    assert stat.S_IMODE((state_dir / PROFILE_FILE).stat().st_mode) == 0o600
    info = json.loads(Path(first.service_account_path).read_text())
    assert info["token_uri"] == first.oauth_token_url
    files_before = {k: v for k, v in _snapshot(state_dir).items() if k not in (PROFILE_FILE, "service-account.json")}

    second = asyncio.run(run_once())
    assert (second.apns_key_id, second.apns_team_id, second.vapid_public_key, second.project_id) == (
        first.apns_key_id, first.apns_team_id, first.vapid_public_key, first.project_id
    )
    after = _snapshot(state_dir)
    assert {k: v for k, v in after.items() if k in files_before} == files_before
    assert json.loads(after["service-account.json"])["private_key"] == info["private_key"]


def test_profile_json_round_trip(state_dir: Path) -> None:
    async def run_once() -> SimulatorProfile:
        async with SimulatorServices(RecordingSink(), state_dir) as profile:
            return profile

    profile = asyncio.run(run_once())
    data = json.loads(profile.to_json())
    assert data["fcm_send_url"] == f"{profile.fcm_url}/v1/projects/{{0}}/messages:send"
    assert data["apns_url"].startswith("https://") and data["apns_h2c_url"].startswith("http://")
    assert SimulatorProfile.from_json(profile.to_json()) == profile
    assert profile.webpush_endpoint("abc") == f"{profile.webpush_base_url}/push/abc"
