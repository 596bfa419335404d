"""``herald profile``: what a person sees when importing, listing, showing and removing profiles.

Each test runs in its own ``HERALD_HOME``. The keyring is switched off (``HERALD_KEYRING=off``) except in
the keyring test, which installs an in-memory backend object and restores the previous one afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from keyring.compat import properties
from typer.testing import CliRunner, Result

from core.providers.profile_cli import register
from core.providers.secret_store import KEYRING_ENV, PASSPHRASE_ENV
from simulator.credentials import SimulatorCredentials, b64url, load_or_create_credentials, set_token_uri
from simulator.profile import ServiceUrls, SimulatorProfile, write_profile

PASSPHRASE = "a long enough passphrase"
URLS = ServiceUrls(fcm_url="http://127.0.0.1:7101", oauth_token_url="http://127.0.0.1:7102/token",
                   apns_url="https://127.0.0.1:7103", apns_h2c_url="http://127.0.0.1:7104",
                   webpush_base_url="http://127.0.0.1:7105")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A dict-backed keyring, installed explicitly for one test (never chosen by keyring on its own)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("test-only backend, installed explicitly")

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setenv(KEYRING_ENV, "off")
    return tmp_path / "home"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[Path, SimulatorCredentials]]:
    root = tmp_path / "sim"
    creds = load_or_create_credentials(root)
    set_token_uri(creds, URLS.oauth_token_url)
    write_profile(root, SimulatorProfile.build(creds, URLS))
    yield root, creds


def run(*args: str) -> Result:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root() -> None:
        """Herald (test root)."""

    register(app)
    return CliRunner().invoke(app, ["profile", *args])


def flat(result: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def mentions_file(result: Result, path: Path) -> bool:
    """Whether the output names ``path`` (rich may fold a long path across lines)."""
    return str(path) in "".join(result.output.split())


def secret_lines(creds: SimulatorCredentials) -> list[str]:
    sa = json.loads(creds.service_account_path.read_text())["private_key"].splitlines()
    return [sa[2], creds.apns_key_path.read_text().splitlines()[1],
            creds.vapid_private_key_path.read_text().splitlines()[1]]


def production_args(creds: SimulatorCredentials, **override: str) -> list[str]:
    options = {
        "--name": "prod", "--service-account": str(creds.service_account_path),
        "--apns-key": str(creds.apns_key_path), "--apns-key-id": creds.apns_key_id,
        "--apns-team-id": creds.apns_team_id, "--apns-topic": "com.example.app",
        "--vapid-key": str(creds.vapid_private_key_path), "--vapid-subject": "mailto:ops@example.com",
        **override,
    }
    return ["import-production", *[part for item in options.items() for part in item]]


def test_import_simulator_then_list_show_remove(home: Path, sim: tuple[Path, SimulatorCredentials]) -> None:
    root, creds = sim
    imported = run("import-simulator", "--state", str(root))
    assert imported.exit_code == 0, imported.output
    assert "Imported simulator profile simulator" in flat(imported)
    assert "passphrase" in flat(imported)  # says why the keyring is not used

    listed = run("list")
    assert listed.exit_code == 0 and "simulator" in listed.output and "fcm" in listed.output

    shown = run("show", "simulator")
    assert shown.exit_code == 0
    assert creds.apns_key_id in shown.output and creds.project_id in shown.output

    as_json = json.loads(run("show", "simulator", "--json").output)
    assert as_json["apns"]["team_id"] == creds.apns_team_id
    assert as_json["webpush"]["vapid_public_key"] == creds.vapid_public_key
    assert "ca_pem" not in as_json["apns"]

    everything = imported.output + listed.output + shown.output + json.dumps(as_json)
    for line in secret_lines(creds):
        assert line not in everything

    assert run("import-simulator", "--state", str(root)).output.startswith("Updated")
    removed = run("remove", "simulator")
    assert removed.exit_code == 0 and "Removed" in removed.output
    gone = run("remove", "simulator")
    assert gone.exit_code == 1 and "no profile named 'simulator'" in flat(gone)
    assert "No profiles yet" in flat(run("list"))


def test_import_simulator_from_a_folder_it_never_ran_in(home: Path, tmp_path: Path) -> None:
    result = run("import-simulator", "--state", str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert "field: simulator_profile" in flat(result) and "Traceback" not in result.output


def test_import_production_and_refuse_to_overwrite(home: Path, sim: tuple[Path, SimulatorCredentials]) -> None:
    _, creds = sim
    result = run(*production_args(creds))
    assert result.exit_code == 0, result.output
    assert "Imported production profile prod (fcm, apns, webpush)" in flat(result)
    shown = json.loads(run("show", "prod", "--json").output)
    assert shown["kind"] == "production" and shown["apns"]["base_url"] == "https://api.push.apple.com"
    assert shown["fcm"]["base_url"] == "https://fcm.googleapis.com"

    again = run(*production_args(creds))
    assert again.exit_code == 1 and "--replace" in flat(again) and "field: name" in flat(again)
    sandbox = run(*production_args(creds), "--apns-sandbox", "--replace")
    assert sandbox.exit_code == 0, sandbox.output
    assert json.loads(run("show", "prod", "--json").output)["apns"]["environment"] == "sandbox"


def test_mismatched_vapid_public_key_names_field_and_file(home: Path, sim: tuple[Path, SimulatorCredentials]) -> None:
    _, creds = sim
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    result = run(*production_args(creds), "--vapid-public-key", b64url(other))
    assert result.exit_code == 1
    text = flat(result)
    assert "field: webpush.vapid_public_key" in text and mentions_file(result, creds.vapid_private_key_path)
    assert "Traceback" not in result.output
    assert "No profiles yet" in flat(run("list"))


def test_rsa_key_given_as_p8_names_field_and_file(home: Path, tmp_path: Path,
                                                  sim: tuple[Path, SimulatorCredentials]) -> None:
    _, creds = sim
    wrong = tmp_path / "AuthKey_WRONG.p8"
    wrong.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    result = run(*production_args(creds, **{"--apns-key": str(wrong)}))
    assert result.exit_code == 1
    assert "field: apns.key" in flat(result) and mentions_file(result, wrong)


def test_short_key_id_is_named(home: Path, sim: tuple[Path, SimulatorCredentials]) -> None:
    _, creds = sim
    result = run(*production_args(creds, **{"--apns-key-id": "ABC"}))
    assert result.exit_code == 1 and "field: apns.key_id" in flat(result)


def test_wrong_passphrase_is_reported_without_traceback(home: Path, sim: tuple[Path, SimulatorCredentials],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("import-simulator", "--state", str(sim[0])).exit_code == 0
    monkeypatch.setenv(PASSPHRASE_ENV, "a different passphrase")
    result = run(*production_args(sim[1]))
    assert result.exit_code == 1
    assert "Wrong passphrase" in flat(result) and "field: passphrase" in flat(result)
    assert "Traceback" not in result.output


def test_keyring_is_used_when_one_is_there(home: Path, sim: tuple[Path, SimulatorCredentials],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYRING_ENV)
    monkeypatch.delenv(PASSPHRASE_ENV)
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        result = run(*production_args(sim[1]))
        assert result.exit_code == 0, result.output
        assert "key: keyring" in flat(result) and "note:" not in result.output
        assert [service for service, _ in backend.items] == ["herald"]
        assert run("show", "prod").exit_code == 0
    finally:
        keyring.set_keyring(previous)
