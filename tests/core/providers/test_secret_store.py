"""The encrypted credential store: keyring or passphrase, private files, clear errors, nothing leaked.

The user's real keyring is never touched: every store gets an injected backend object (an in-memory one
written here, or keyring's own ``fail``/``null`` backends) or has the keyring switched off.
"""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail, null
from keyring.compat import properties

from core.errors import CredentialError, ValidationError
from core.providers.secret_store import KEYRING_SERVICE, PASSPHRASE_ENV, KeySource, SecretStore

SECRET = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-very-secret\n"
PASSPHRASE = "correct horse battery"
FAST_N = 2**12  # scrypt cost kept low so the suite stays quick; the default is 2^15


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in a dict; never chosen by keyring on its own (not viable)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("test-only backend, injected explicitly")

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class RefusingKeyring(MemoryKeyring):
    """A keyring that is there but refuses to store anything (a locked collection, say)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


@pytest.fixture(autouse=True)
def no_env_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def passphrase_store(root: Path, passphrase: str | None = PASSPHRASE) -> SecretStore:
    return SecretStore(root, use_keyring=False, passphrase=passphrase, scrypt_n=FAST_N)


def test_passphrase_round_trip_and_private_files(tmp_path: Path) -> None:
    root = tmp_path / "profiles"
    store = passphrase_store(root)
    store.put("prod", {"project_id": "acme"}, {"apns_key": SECRET})
    assert store.key_source is KeySource.PASSPHRASE

    reopened = passphrase_store(root)
    assert reopened.secret_values("prod") == {"apns_key": SECRET}
    assert reopened.metadata("prod") == {"project_id": "acme"}
    assert reopened.names() == ["prod"]

    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for path in root.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_encrypted_file_is_not_readable_as_plaintext(tmp_path: Path) -> None:
    store = passphrase_store(tmp_path)
    store.put("prod", {}, {"apns_key": SECRET})
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for needle in (b"very-secret", b"BEGIN PRIVATE KEY", base64.b64encode(SECRET.encode())[:24],
                   PASSPHRASE.encode()):
        assert needle not in on_disk


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    passphrase_store(tmp_path).put("prod", {}, {"k": SECRET})
    with pytest.raises(CredentialError) as info:
        passphrase_store(tmp_path, "not the passphrase").secret_values("prod")
    assert info.value.field == "passphrase"
    assert "Wrong passphrase" in str(info.value) and PASSPHRASE_ENV in str(info.value)


def test_passphrase_comes_from_the_environment_then_the_prompt(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []

    def prompt(new: bool) -> str:
        asked.append(new)
        return PASSPHRASE

    SecretStore(tmp_path, use_keyring=False, prompt=prompt, scrypt_n=FAST_N).put("a", {}, {"k": "v"})
    assert asked == [True]
    assert SecretStore(tmp_path, use_keyring=False, prompt=prompt, scrypt_n=FAST_N).secret_values("a") == {"k": "v"}
    assert asked == [True, False]

    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert SecretStore(tmp_path, use_keyring=False, prompt=prompt).secret_values("a") == {"k": "v"}
    assert asked == [True, False]


def test_no_passphrase_anywhere_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as info:
        passphrase_store(tmp_path, None).put("a", {}, {"k": "v"})
    assert info.value.field == "passphrase" and PASSPHRASE_ENV in str(info.value)


def test_a_new_store_refuses_a_short_passphrase(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as info:
        passphrase_store(tmp_path, "short").put("a", {}, {"k": "v"})
    assert info.value.field == "passphrase"


def test_keyring_round_trip(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    store = SecretStore(tmp_path, keyring_backend=backend)
    store.put("prod", {"team": "X"}, {"apns_key": SECRET})
    assert store.key_source is KeySource.KEYRING and store.notice is None
    [(service, _user)] = backend.items
    assert service == KEYRING_SERVICE

    assert SecretStore(tmp_path, keyring_backend=backend).secret_values("prod") == {"apns_key": SECRET}
    assert b"very-secret" not in (tmp_path / "prod.secrets").read_bytes()


def test_keyring_store_without_its_keyring_entry_is_a_clear_error(tmp_path: Path) -> None:
    SecretStore(tmp_path, keyring_backend=MemoryKeyring()).put("prod", {}, {"k": SECRET})
    with pytest.raises(CredentialError) as info:
        SecretStore(tmp_path, keyring_backend=MemoryKeyring()).secret_values("prod")
    assert info.value.field == "keyring" and "import them again" in str(info.value)

    with pytest.raises(CredentialError) as info:
        SecretStore(tmp_path, keyring_backend=fail.Keyring()).secret_values("prod")
    assert info.value.field == "keyring" and "no OS keyring" in str(info.value)


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), RefusingKeyring()],
                         ids=["fail", "null", "refusing"])
def test_unusable_keyring_falls_back_to_the_passphrase_with_a_notice(
        tmp_path: Path, backend: keyring.backend.KeyringBackend) -> None:
    store = SecretStore(tmp_path, keyring_backend=backend, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    store.put("prod", {}, {"k": SECRET})
    assert store.key_source is KeySource.PASSPHRASE
    assert store.notice is not None and "passphrase" in store.notice and PASSPHRASE_ENV in store.notice
    assert passphrase_store(tmp_path).secret_values("prod") == {"k": SECRET}
    if isinstance(backend, RefusingKeyring):
        assert backend.items == {}


def test_tampered_or_moved_ciphertext_is_refused(tmp_path: Path) -> None:
    store = passphrase_store(tmp_path)
    store.put("a", {}, {"k": SECRET})
    (tmp_path / "b.secrets").write_bytes((tmp_path / "a.secrets").read_bytes())
    (tmp_path / "b.meta.json").write_text("{}")
    with pytest.raises(CredentialError) as info:
        store.secret_values("b")
    assert info.value.field == "secrets"

    sealed = bytearray((tmp_path / "a.secrets").read_bytes())
    sealed[-5] ^= 1
    (tmp_path / "a.secrets").write_bytes(bytes(sealed))
    with pytest.raises(CredentialError):
        passphrase_store(tmp_path).secret_values("a")


def test_entries_are_listed_and_removed(tmp_path: Path) -> None:
    store = SecretStore(tmp_path, keyring_backend=MemoryKeyring())
    assert store.names() == []
    store.put("b", {}, {"k": "1"})
    store.put("a", {}, {"k": "2"})
    assert store.names() == ["a", "b"] and store.exists("a")
    assert store.remove("a") and not store.remove("a")
    assert store.names() == ["b"]
    with pytest.raises(KeyError):
        store.secret_values("a")
    with pytest.raises(ValidationError) as info:
        store.put("../escape", {}, {})
    assert info.value.field == "name"


def test_secrets_never_reach_logs_or_reprs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = SecretStore(tmp_path, keyring_backend=fail.Keyring(), passphrase=PASSPHRASE, scrypt_n=FAST_N)
    store.put("prod", {}, {"k": SECRET})
    store.secret_values("prod")
    assert caplog.records, "the store should say what it did"
    logged = caplog.text + repr(store)
    assert "very-secret" not in logged and PASSPHRASE not in logged
