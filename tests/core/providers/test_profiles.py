"""Provider profiles: a simulator's export and production files load through the same checks, survive the
encrypted store, and become the settings the providers are built from."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from core.domain import Provider
from core.errors import CredentialError
from core.providers import connectivity
from core.providers.profiles import (
    APNS_PRODUCTION_URL,
    APNS_SANDBOX_URL,
    FCM_PRODUCTION_URL,
    ProfileKind,
    list_profiles,
    load_profile,
    load_simulator_profile,
    production_profile,
    provider_settings,
    remove_profile,
    save_profile,
)
from core.providers.secret_store import SecretStore
from simulator.credentials import SimulatorCredentials, load_or_create_credentials, set_token_uri
from simulator.profile import PROFILE_FILE, ServiceUrls, SimulatorProfile, write_profile
from simulator.runtime import RuntimeThread

URLS = ServiceUrls(fcm_url="http://127.0.0.1:7001", oauth_token_url="http://127.0.0.1:7002/token",
                   apns_url="https://127.0.0.1:7003", apns_h2c_url="http://127.0.0.1:7004",
                   webpush_base_url="http://127.0.0.1:7005")


def simulator_state(root: Path) -> SimulatorCredentials:
    """A simulator state folder as a simulator leaves it after its first start."""
    creds = load_or_create_credentials(root)
    set_token_uri(creds, URLS.oauth_token_url)
    write_profile(root, SimulatorProfile.build(creds, URLS))
    return creds


@pytest.fixture
def state(tmp_path: Path) -> tuple[Path, SimulatorCredentials]:
    root = tmp_path / "sim"
    return root, simulator_state(root)


def store_in(root: Path) -> SecretStore:
    return SecretStore(root, use_keyring=False, passphrase="a long enough passphrase", scrypt_n=2**12)


def test_simulator_profile_loads_from_its_folder_file_or_text(state: tuple[Path, SimulatorCredentials]) -> None:
    root, creds = state
    text = (root / PROFILE_FILE).read_text()
    for source in (root, root / PROFILE_FILE, text):
        profile = load_simulator_profile(source)
        assert profile.kind is ProfileKind.SIMULATOR and profile.name == "simulator"
        assert profile.providers == [Provider.FCM, Provider.APNS, Provider.WEBPUSH]
        assert profile.fcm is not None and profile.apns is not None and profile.webpush is not None
        assert profile.fcm.project_id == creds.project_id and profile.fcm.base_url == URLS.fcm_url
        assert profile.fcm.token_uri == URLS.oauth_token_url
        assert (profile.apns.key.key_id, profile.apns.key.team_id) == (creds.apns_key_id, creds.apns_team_id)
        assert profile.apns.topic == creds.apns_bundle_id and profile.apns.base_url == URLS.apns_url
        assert profile.apns.h2c_url == URLS.apns_h2c_url and profile.apns.environment == "custom"
        assert profile.apns.ca_pem is not None and "BEGIN CERTIFICATE" in profile.apns.ca_pem
        assert profile.webpush.vapid.public_key == creds.vapid_public_key


def test_simulator_profile_goes_through_the_production_checks(state: tuple[Path, SimulatorCredentials]) -> None:
    root, creds = state
    creds.apns_key_path.write_text("garbage")
    with pytest.raises(CredentialError) as info:
        load_simulator_profile(root)
    assert info.value.field == "apns.key" and str(creds.apns_key_path) in str(info.value)


def test_folder_without_a_running_simulator_is_explained(tmp_path: Path) -> None:
    load_or_create_credentials(tmp_path)
    with pytest.raises(CredentialError) as info:
        load_simulator_profile(tmp_path)
    assert info.value.field == "simulator_profile" and "herald simulator --state" in str(info.value)


def test_simulator_profile_missing_a_field_names_it(state: tuple[Path, SimulatorCredentials]) -> None:
    root, _ = state
    data = json.loads((root / PROFILE_FILE).read_text())
    del data["apns_key_id"]
    with pytest.raises(CredentialError) as info:
        load_simulator_profile(json.dumps(data))
    assert info.value.field == "simulator_profile.apns_key_id"


def test_production_profile_uses_the_real_endpoints(state: tuple[Path, SimulatorCredentials]) -> None:
    _, creds = state
    profile = production_profile(
        "prod", service_account=creds.service_account_path, apns_key=creds.apns_key_path,
        apns_key_id=creds.apns_key_id, apns_team_id=creds.apns_team_id, apns_topic="com.example.app",
        vapid_key=creds.vapid_private_key_path, vapid_public_key=creds.vapid_public_key,
        vapid_subject="mailto:ops@example.com",
    )
    assert profile.kind is ProfileKind.PRODUCTION
    assert profile.fcm is not None and profile.fcm.base_url == FCM_PRODUCTION_URL
    assert profile.apns is not None and profile.apns.base_url == APNS_PRODUCTION_URL
    assert profile.apns.environment == "production" and profile.apns.ca_pem is None
    sandbox = production_profile("dev", apns_key=creds.apns_key_path, apns_key_id=creds.apns_key_id,
                                 apns_team_id=creds.apns_team_id, apns_topic="com.example.app", apns_sandbox=True)
    assert sandbox.apns is not None and sandbox.apns.base_url == APNS_SANDBOX_URL
    assert sandbox.providers == [Provider.APNS]


@pytest.mark.parametrize(("missing", "field"), [
    ("apns_key_id", "apns.key_id"), ("apns_team_id", "apns.team_id"), ("apns_topic", "apns.topic"),
])
def test_incomplete_apns_settings_name_the_missing_one(state: tuple[Path, SimulatorCredentials],
                                                       missing: str, field: str) -> None:
    _, creds = state
    options = {"apns_key_id": creds.apns_key_id, "apns_team_id": creds.apns_team_id, "apns_topic": "com.x.y"}
    del options[missing]
    with pytest.raises(CredentialError) as info:
        production_profile("prod", apns_key=creds.apns_key_path, **options)  # type: ignore[arg-type]
    assert info.value.field == field


def test_production_profile_needs_some_credentials_and_a_vapid_subject(
        state: tuple[Path, SimulatorCredentials]) -> None:
    _, creds = state
    with pytest.raises(CredentialError) as info:
        production_profile("prod")
    assert info.value.field == "providers"
    with pytest.raises(CredentialError) as info:
        production_profile("prod", vapid_key=creds.vapid_private_key_path)
    assert info.value.field == "webpush.vapid_subject"


def test_profile_survives_the_encrypted_store(tmp_path: Path, state: tuple[Path, SimulatorCredentials]) -> None:
    root, creds = state
    original = load_simulator_profile(root)
    store = store_in(tmp_path / "profiles")
    save_profile(store, original)
    creds.apns_key_path.unlink()  # imported once: the store no longer needs the original files

    loaded = load_profile(store_in(tmp_path / "profiles"), "simulator")
    assert loaded.fcm is not None and original.fcm is not None
    assert loaded.fcm.service_account == original.fcm.service_account
    assert loaded.apns is not None and original.apns is not None
    assert loaded.apns.key == original.apns.key and loaded.apns.h2c_url == original.apns.h2c_url
    assert loaded.apns.ca_file is not None and loaded.apns.ca_file.read_text() == original.apns.ca_pem
    assert loaded.webpush == original.webpush
    assert [m["name"] for m in list_profiles(store)] == ["simulator"]

    metadata = (tmp_path / "profiles" / "simulator.meta.json").read_text()
    assert "PRIVATE KEY" not in metadata and original.apns.key.key_id in metadata
    assert remove_profile(store, "simulator") and list_profiles(store) == []
    assert not (tmp_path / "profiles" / "simulator.ca.pem").exists()


def test_profile_repr_shows_no_secret(state: tuple[Path, SimulatorCredentials]) -> None:
    profile = load_simulator_profile(state[0])
    assert profile.apns is not None and profile.fcm is not None
    shown = repr(profile)
    assert profile.apns.key.pem.reveal().splitlines()[1] not in shown
    assert profile.fcm.service_account.as_info()["private_key"].splitlines()[2] not in shown
    assert profile.apns.key.key_id in shown


def test_provider_settings_hold_key_files_only_inside_the_block(state: tuple[Path, SimulatorCredentials]) -> None:
    profile = load_simulator_profile(state[0])
    assert profile.apns is not None and profile.fcm is not None
    with provider_settings(profile) as settings:
        assert settings.fcm is not None and settings.apns is not None and settings.webpush is not None
        assert settings.fcm.service_account_info == profile.fcm.service_account.as_info()
        assert settings.fcm.base_url == URLS.fcm_url and settings.fcm.service_account_path is None
        assert settings.apns.base_url == URLS.apns_url and settings.apns.ca_cert_path is not None
        key_file, vapid_file = Path(settings.apns.key_path), Path(settings.webpush.vapid_private_key_path)
        for path in (key_file, vapid_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
        assert key_file.read_text() == profile.apns.key.pem.reveal()
        assert settings.webpush.vapid_public_key == profile.webpush.vapid.public_key  # type: ignore[union-attr]
    assert not key_file.exists() and not vapid_file.exists() and not key_file.parent.exists()

    with provider_settings(profile, apns_h2c=True) as settings:
        assert settings.apns is not None and settings.apns.base_url == URLS.apns_h2c_url


@pytest.mark.asyncio
async def test_connection_test_proves_apns_and_vapid_against_the_simulator(
        simulator: RuntimeThread) -> None:
    from dataclasses import replace

    profile = replace(load_simulator_profile(simulator.runtime.state_dir), fcm=None)
    checks = await connectivity.check_connections(profile)
    assert [c.provider for c in checks] == [Provider.APNS, Provider.WEBPUSH]
    assert all(c.ok for c in checks), checks
