"""Credential files: good files parse, and every bad one is refused with the field (and file) to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.errors import CredentialError
from core.providers.credential_files import (
    SecretText,
    b64url,
    check_apns_topic,
    check_vapid_subject,
    load_apns_key,
    load_service_account,
    load_vapid_key,
    parse_apns_key,
    parse_service_account,
    parse_vapid_key,
)
from simulator.credentials import SimulatorCredentials, load_or_create_credentials

KEY_ID, TEAM_ID = "ABC123DEFG", "DEF123GHIJ"


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> SimulatorCredentials:
    return load_or_create_credentials(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def account(creds: SimulatorCredentials) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(creds.service_account_path.read_text())
    return info


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def refused(call: Any, *args: Any, **kwargs: Any) -> CredentialError:
    with pytest.raises(CredentialError) as info:
        call(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------ service account


def test_simulator_service_account_is_accepted(creds: SimulatorCredentials) -> None:
    account = load_service_account(creds.service_account_path)
    assert account.project_id == creds.project_id
    assert account.client_email == creds.client_email
    assert account.private_key_id == creds.private_key_id
    assert account.token_uri.startswith("http://127.0.0.1")
    assert account.as_info()["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert account.fingerprint.startswith("SHA256:")


def test_truncated_json_names_the_file(tmp_path: Path, creds: SimulatorCredentials) -> None:
    path = tmp_path / "sa.json"
    path.write_bytes(creds.service_account_path.read_bytes()[:300])
    error = refused(load_service_account, path)
    assert error.field == "service_account"
    assert str(path) in str(error) and "truncated" in str(error)


@pytest.mark.parametrize(("change", "field"), [
    ({"type": "authorized_user"}, "service_account.type"),
    ({"project_id": None}, "service_account.project_id"),
    ({"private_key_id": ""}, "service_account.private_key_id"),
    ({"client_email": "not-an-email"}, "service_account.client_email"),
    ({"private_key": None}, "service_account.private_key"),
    ({"token_uri": "http://oauth.example.com/token"}, "service_account.token_uri"),
    ({"token_uri": "ftp://127.0.0.1/token"}, "service_account.token_uri"),
])
def test_bad_service_account_field_is_named(account: dict[str, Any], change: dict[str, Any], field: str) -> None:
    broken = {**account, **change}
    broken = {k: v for k, v in broken.items() if v is not None}
    error = refused(parse_service_account, json.dumps(broken), source="sa.json")
    assert error.field == field
    assert "sa.json" in str(error)


def test_rsa_key_that_does_not_parse_names_private_key(account: dict[str, Any]) -> None:
    lines = account["private_key"].splitlines()
    lines[5] = lines[5][:10] + "!!!!" + lines[5][14:]
    error = refused(parse_service_account, json.dumps({**account, "private_key": "\n".join(lines[:8])}))
    assert error.field == "service_account.private_key"


def test_ec_key_in_a_service_account_is_refused(account: dict[str, Any]) -> None:
    ec_pem = pem(ec.generate_private_key(ec.SECP256R1())).decode()
    error = refused(parse_service_account, json.dumps({**account, "private_key": ec_pem}))
    assert error.field == "service_account.private_key"
    assert "RSA" in str(error)


def test_https_token_uri_and_loopback_http_are_accepted(account: dict[str, Any]) -> None:
    for uri in ("https://oauth2.googleapis.com/token", "http://localhost:8080/token", "http://[::1]:9/token"):
        assert parse_service_account(json.dumps({**account, "token_uri": uri})).token_uri == uri


def test_missing_file_is_named(tmp_path: Path) -> None:
    error = refused(load_service_account, tmp_path / "nowhere.json")
    assert error.field == "service_account" and "nowhere.json" in str(error)


# ------------------------------------------------------------------------------------------- APNs


def test_simulator_p8_is_accepted(creds: SimulatorCredentials) -> None:
    key = load_apns_key(creds.apns_key_path, key_id=creds.apns_key_id, team_id=creds.apns_team_id)
    assert (key.key_id, key.team_id) == (creds.apns_key_id, creds.apns_team_id)
    assert key.private_key().public_key().public_numbers() == creds.apns_public_key().public_numbers()


def test_sec1_ec_key_is_normalised_to_pkcs8() -> None:
    raw = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    key = parse_apns_key(raw, key_id=KEY_ID, team_id=TEAM_ID)
    assert key.pem.reveal().startswith("-----BEGIN PRIVATE KEY-----")


def test_ec_key_on_wrong_curve_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    path.write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    error = refused(load_apns_key, path, key_id=KEY_ID, team_id=TEAM_ID)
    assert error.field == "apns.key"
    assert "secp384r1" in str(error) and "P-256" in str(error) and path.name in str(error)


def test_rsa_key_given_as_p8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "AuthKey.p8"
    path.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    error = refused(load_apns_key, path, key_id=KEY_ID, team_id=TEAM_ID)
    assert error.field == "apns.key"
    assert "RSA" in str(error) and "EC P-256" in str(error)


def test_password_protected_p8_says_so() -> None:
    error = refused(parse_apns_key, pem(ec.generate_private_key(ec.SECP256R1()), b"secret"),
                    key_id=KEY_ID, team_id=TEAM_ID)
    assert error.field == "apns.key" and "password" in str(error)


def test_file_that_is_not_pem_is_refused() -> None:
    error = refused(parse_apns_key, b"hello", key_id=KEY_ID, team_id=TEAM_ID, source="AuthKey.p8")
    assert error.field == "apns.key" and "AuthKey.p8" in str(error)


@pytest.mark.parametrize(("key_id", "team_id", "field"), [
    ("ABC123", TEAM_ID, "apns.key_id"),
    ("abc123defg", TEAM_ID, "apns.key_id"),
    (KEY_ID, "DEF123GHIJK", "apns.team_id"),
    (KEY_ID, "", "apns.team_id"),
])
def test_bad_key_or_team_id_is_named(creds: SimulatorCredentials, key_id: str, team_id: str, field: str) -> None:
    error = refused(load_apns_key, creds.apns_key_path, key_id=key_id, team_id=team_id)
    assert error.field == field
    assert "10" in str(error)


def test_topic_must_be_a_bundle_id() -> None:
    assert check_apns_topic(" com.example.app ") == "com.example.app"
    assert check_apns_topic("com.example.app.voip") == "com.example.app.voip"
    assert refused(check_apns_topic, "my app").field == "apns.topic"
    assert refused(check_apns_topic, "nodots").field == "apns.topic"


# ------------------------------------------------------------------------------------------ VAPID


def test_vapid_key_in_every_accepted_form_derives_the_same_public_key(creds: SimulatorCredentials) -> None:
    from_pem = load_vapid_key(creds.vapid_private_key_path, public_key=creds.vapid_public_key)
    assert from_pem.public_key == creds.vapid_public_key
    private = from_pem.private_key()
    raw = private.private_numbers().private_value.to_bytes(32, "big")
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    for text in (b64url(raw), b64url(der), from_pem.private_key_raw().reveal()):
        assert parse_vapid_key(text, public_key=creds.vapid_public_key).public_key == creds.vapid_public_key


def test_vapid_public_key_that_does_not_match_names_the_public_key(creds: SimulatorCredentials) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    error = refused(load_vapid_key, creds.vapid_private_key_path, public_key=b64url(other))
    assert error.field == "webpush.vapid_public_key"
    assert "does not belong" in str(error) and creds.vapid_private_key_path.name in str(error)


@pytest.mark.parametrize("public_key", ["short", b64url(b"\x04" + b"\x01" * 64), b64url(b"\x02" * 33)])
def test_malformed_vapid_public_key_is_named(creds: SimulatorCredentials, public_key: str) -> None:
    error = refused(load_vapid_key, creds.vapid_private_key_path, public_key=public_key)
    assert error.field == "webpush.vapid_public_key"


@pytest.mark.parametrize("data", [
    b"not a key at all",
    pem(ec.generate_private_key(ec.SECP384R1())),
    pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
])
def test_bad_vapid_private_key_is_named(data: bytes) -> None:
    assert refused(parse_vapid_key, data).field == "webpush.vapid_private_key"


def test_vapid_subject_is_mailto_or_https() -> None:
    assert check_vapid_subject("mailto:ops@example.com") == "mailto:ops@example.com"
    assert check_vapid_subject("https://example.com/contact") == "https://example.com/contact"
    for bad in ("ops@example.com", "mailto:", "http://example.com", "https://"):
        assert refused(check_vapid_subject, bad).field == "webpush.vapid_subject"


# ------------------------------------------------------------------------------------------ secrets


def test_reprs_never_show_key_material(creds: SimulatorCredentials) -> None:
    account = load_service_account(creds.service_account_path)
    apns = load_apns_key(creds.apns_key_path, key_id=creds.apns_key_id, team_id=creds.apns_team_id)
    vapid = load_vapid_key(creds.vapid_private_key_path)
    secret_bits = [account.as_info()["private_key"].splitlines()[3], apns.pem.reveal().splitlines()[1],
                   vapid.pem.reveal().splitlines()[1], vapid.private_key_raw().reveal()]
    shown = " ".join([repr(account), str(account), repr(apns), repr(vapid), f"{vapid.pem}", str(apns.pem)])
    for bit in secret_bits:
        assert bit not in shown
    assert "********" in shown and account.client_email in shown


def test_secret_text_compares_and_pickles_without_showing_itself() -> None:
    import pickle

    secret = SecretText("hunter2-long-secret")
    assert secret == SecretText("hunter2-long-secret") and secret != SecretText("other")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret!s:>30}"
    assert pickle.loads(pickle.dumps(secret)).reveal() == "hunter2-long-secret"
