"""Credentials at rest: encrypted with AES-GCM in the data folder, the key in the OS keyring or a passphrase.

Layout of the store folder (``<data dir>/profiles``, mode 0700; every file 0600)::

    keystore.json         how the data key is obtained (keyring entry or scrypt salt) + an encrypted check value
    <name>.meta.json      non-secret metadata of one entry (ids, URLs, fingerprints), plain JSON
    <name>.secrets        the entry's secrets: AES-256-GCM, a fresh nonce per write, the name as associated data

The **data key** is chosen once, when the store is first written to:

1. the OS keyring (``keyring``; service ``herald``) when a usable backend exists: a random 256-bit key is
   stored there and read back to prove it sticks;
2. otherwise (no backend, a ``fail``/``null`` backend as on a headless Linux box, a keyring that refuses to
   store, or ``HERALD_KEYRING=off``) a key derived with scrypt from a **passphrase**: the ``passphrase``
   argument, else ``HERALD_PASSPHRASE``, else the ``prompt`` callback (the CLI asks interactively).
   ``notice`` then says why the keyring was not used.

A store created with one source keeps it; a wrong passphrase or a missing keyring entry is a
``CredentialError`` with ``field="passphrase"`` / ``field="keyring"`` that says what to do. Secrets are
never logged; the store's ``repr`` shows only its folder and key source.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.config import data_dir
from core.errors import CredentialError, ValidationError

log = logging.getLogger(__name__)

#: Keyring service name under which the data key is kept.
KEYRING_SERVICE = "herald"
#: Environment variable carrying the store passphrase when no keyring is usable.
PASSPHRASE_ENV = "HERALD_PASSPHRASE"
#: Set to ``off`` to never use the OS keyring (CI, shared accounts, or to prefer a passphrase).
KEYRING_ENV = "HERALD_KEYRING"
#: Default scrypt cost (2^15, r=8: about 32 MiB and a few tens of milliseconds on a desktop).
SCRYPT_N = 2**15
MIN_PASSPHRASE_LENGTH = 8

KEYSTORE_FILE = "keystore.json"
_FORMAT = 1
_CHECK_PLAINTEXT = b"herald credential store"
_CHECK_AAD = b"herald-keystore-check"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: Asks a person for the passphrase; the argument is True when the store is new (ask twice to confirm).
PassphrasePrompt = Callable[[bool], str]


class KeySource(StrEnum):
    """Where the data key of a store comes from."""

    KEYRING = "keyring"
    PASSPHRASE = "passphrase"


def keyring_unusable_reason(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why ``backend`` cannot keep a secret safely, or None when it can."""
    from keyring.backends import chainer, fail, null

    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring | null.Keyring):
        return f"no OS keyring is available here (keyring backend {name})"
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return f"no OS keyring is available here (keyring backend {name} has nothing to chain)"
    if "plaintext" in name.lower():
        return f"the keyring backend {name} stores secrets unencrypted"
    return None


def check_entry_name(name: str) -> str:
    """A store entry (profile) name: letters, digits, ``_ . -``, at most 64 characters."""
    if not _NAME.match(name):
        raise ValidationError(
            f"Profile name {name!r} is not allowed: use letters, digits, '_', '.' or '-' (at most 64, "
            "starting with a letter or digit).",
            field="name",
        )
    return name


class SecretStore:
    """Named entries of secrets (encrypted) and metadata (plain JSON) in one private folder."""

    def __init__(
        self,
        root: Path,
        *,
        keyring_backend: keyring.backend.KeyringBackend | None = None,
        use_keyring: bool = True,
        passphrase: str | None = None,
        prompt: PassphrasePrompt | None = None,
        scrypt_n: int = SCRYPT_N,
    ) -> None:
        """Open (without touching the disk yet) the store in ``root``.

        ``keyring_backend`` defaults to ``keyring.get_keyring()``; tests inject their own object so the
        user's real keyring is never touched. ``use_keyring=False`` forces the passphrase.
        """
        self.root = root
        self._backend = keyring_backend
        self._use_keyring = use_keyring
        self._passphrase = passphrase
        self._prompt = prompt
        self._scrypt_n = scrypt_n
        self._key: bytes | None = None
        #: Why the keyring was not used, set when a new store falls back to a passphrase.
        self.notice: str | None = None

    @classmethod
    def default(cls, *, passphrase: str | None = None, prompt: PassphrasePrompt | None = None) -> SecretStore:
        """The user's store in ``<data dir>/profiles``; ``HERALD_KEYRING=off`` disables the keyring."""
        use_keyring = os.environ.get(KEYRING_ENV, "").strip().lower() not in {"off", "0", "no", "false"}
        return cls(data_dir() / "profiles", use_keyring=use_keyring, passphrase=passphrase, prompt=prompt)

    def __repr__(self) -> str:
        return f"SecretStore(root={str(self.root)!r}, key_source={self.key_source!r})"

    # ------------------------------------------------------------------------------------ entries

    @property
    def key_source(self) -> KeySource | None:
        """How this store's data key is kept; None while the store has never been written."""
        info = self._read_keystore()
        return None if info is None else KeySource(info["source"])

    def names(self) -> list[str]:
        """The names of all entries, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name.removesuffix(".meta.json") for p in self.root.glob("*.meta.json"))

    def exists(self, name: str) -> bool:
        """Whether an entry named ``name`` is stored."""
        return self._meta_path(check_entry_name(name)).exists()

    def put(self, name: str, metadata: Mapping[str, Any], secret_values: Mapping[str, str]) -> None:
        """Store (or replace) an entry: ``metadata`` as plain JSON, ``secret_values`` encrypted."""
        check_entry_name(name)
        key = self._data_key(create=True)
        nonce = secrets.token_bytes(12)
        plaintext = json.dumps(dict(secret_values), sort_keys=True).encode()
        sealed = AESGCM(key).encrypt(nonce, plaintext, _entry_aad(name))
        envelope = {"format": _FORMAT, "cipher": "AES-256-GCM", "nonce": _b64(nonce), "ciphertext": _b64(sealed)}
        self._write(self._secrets_path(name), json.dumps(envelope).encode())
        self._write(self._meta_path(name), json.dumps(dict(metadata), indent=2, sort_keys=True).encode())
        log.info("stored credentials %r in %s (key source: %s)", name, self.root, self.key_source)

    def metadata(self, name: str) -> dict[str, Any]:
        """The non-secret metadata of an entry (needs no key); KeyError when there is no such entry."""
        path = self._meta_path(check_entry_name(name))
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyError(name) from None
        return data

    def secret_values(self, name: str) -> dict[str, str]:
        """Decrypt an entry's secrets; KeyError when there is no such entry."""
        path = self._secrets_path(check_entry_name(name))
        try:
            envelope = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyError(name) from None
        except ValueError:
            raise self._damaged(path) from None
        key = self._data_key(create=False)
        try:
            plaintext = AESGCM(key).decrypt(_unb64(envelope["nonce"]), _unb64(envelope["ciphertext"]),
                                            _entry_aad(name))
        except (InvalidTag, KeyError, TypeError, ValueError):
            raise self._damaged(path) from None
        values: dict[str, str] = json.loads(plaintext)
        return values

    def remove(self, name: str) -> bool:
        """Delete an entry; False when there was none. The data key stays for the other entries."""
        check_entry_name(name)
        found = False
        for path in (self._secrets_path(name), self._meta_path(name)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                found = True
        return found

    # -------------------------------------------------------------------------------- the data key

    def _data_key(self, *, create: bool) -> bytes:
        if self._key is not None:
            return self._key
        info = self._read_keystore()
        if info is None:
            if not create:
                raise CredentialError(f"The credential store in {self.root} holds no key yet; import a profile "
                                      "first.", field="keystore")
            self._create_keystore()
        else:
            self._key = self._unlock(info)
        assert self._key is not None
        return self._key

    def _create_keystore(self) -> None:
        info: dict[str, Any] = {"format": _FORMAT, "id": secrets.token_hex(8)}
        key: bytes | None = None
        reason = self._keyring_reason()
        if reason is None:
            key = secrets.token_bytes(32)
            user = f"data-key-{info['id']}"
            try:
                backend = self._keyring()
                backend.set_password(KEYRING_SERVICE, user, _b64(key))
                stored_ok = backend.get_password(KEYRING_SERVICE, user) == _b64(key)
            except (keyring.errors.KeyringError, RuntimeError, OSError) as exc:
                stored_ok = False
                reason = f"the OS keyring refused to store the key ({type(exc).__name__})"
            if stored_ok:
                info.update(source=KeySource.KEYRING.value, keyring_service=KEYRING_SERVICE, keyring_user=user)
            else:
                reason = reason or "the OS keyring did not keep the key"
                key = None
                with contextlib.suppress(Exception):
                    self._keyring().delete_password(KEYRING_SERVICE, user)
        if key is None:
            self.notice = (
                f"Not using the OS keyring: {reason}. Credentials are encrypted with a key derived from a "
                f"passphrase instead (give it with {PASSPHRASE_ENV} or when asked; it is needed to send)."
            )
            log.info("%s", self.notice)
            passphrase = self._get_passphrase(new=True)
            salt = secrets.token_bytes(16)
            params = {"salt": _b64(salt), "n": self._scrypt_n, "r": 8, "p": 1}
            key = _scrypt(passphrase, params)
            info.update(source=KeySource.PASSPHRASE.value, scrypt=params)
        nonce = secrets.token_bytes(12)
        info["check"] = {"nonce": _b64(nonce), "ciphertext": _b64(AESGCM(key).encrypt(nonce, _CHECK_PLAINTEXT,
                                                                                     _CHECK_AAD))}
        self.root.mkdir(parents=True, exist_ok=True)
        self._write(self.root / KEYSTORE_FILE, json.dumps(info, indent=2).encode())
        self._key = key

    def _unlock(self, info: dict[str, Any]) -> bytes:
        source = info.get("source")
        if source == KeySource.KEYRING:
            key = self._key_from_keyring(info)
            if not self._check(info, key):
                raise CredentialError(
                    f"The data key in the OS keyring (service {KEYRING_SERVICE!r}) does not open the credential "
                    f"store in {self.root}; it was replaced. Remove the profiles and import them again.",
                    field="keyring",
                )
            return key
        if source == KeySource.PASSPHRASE:
            passphrase = self._get_passphrase(new=False)
            key = _scrypt(passphrase, info["scrypt"])
            if not self._check(info, key):
                raise CredentialError(
                    f"Wrong passphrase for the credential store in {self.root}. Give the passphrase used when "
                    f"the first profile was imported ({PASSPHRASE_ENV} or when asked).",
                    field="passphrase",
                )
            return key
        raise CredentialError(f"{self.root / KEYSTORE_FILE} is damaged (unknown key source {source!r}); remove "
                              "the profiles folder and import the profiles again.", field="keystore")

    def _key_from_keyring(self, info: dict[str, Any]) -> bytes:
        user = str(info.get("keyring_user"))
        service = str(info.get("keyring_service", KEYRING_SERVICE))
        reason = self._keyring_reason()
        if reason is not None:
            raise CredentialError(
                f"The credential store in {self.root} keeps its key in the OS keyring, but {reason}. Unlock or "
                "start the keyring (e.g. log in to the desktop session), or remove and re-import the profiles.",
                field="keyring",
            )
        try:
            value = self._keyring().get_password(service, user)
        except (keyring.errors.KeyringError, RuntimeError, OSError) as exc:
            raise CredentialError(
                f"The OS keyring could not be read ({type(exc).__name__}); unlock it and try again.",
                field="keyring",
            ) from None
        if value is None:
            raise CredentialError(
                f"The OS keyring has no entry {service!r}/{user!r}, which holds the key of the credential store in "
                f"{self.root}. Without it the stored credentials cannot be decrypted: remove the profiles and "
                "import them again.",
                field="keyring",
            )
        return _unb64(value)

    def _keyring_reason(self) -> str | None:
        if not self._use_keyring:
            return f"{KEYRING_ENV}=off" if self._backend is None else "the keyring is switched off"
        try:
            return keyring_unusable_reason(self._keyring())
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            return f"the keyring could not be opened ({type(exc).__name__})"

    def _keyring(self) -> keyring.backend.KeyringBackend:
        if self._backend is None:
            self._backend = keyring.get_keyring()
        return self._backend

    def _get_passphrase(self, *, new: bool) -> str:
        passphrase = self._passphrase or os.environ.get(PASSPHRASE_ENV)
        if not passphrase and self._prompt is not None:
            passphrase = self._prompt(new)
        if not passphrase:
            raise CredentialError(
                f"The credential store in {self.root} needs a passphrase (no usable OS keyring): set "
                f"{PASSPHRASE_ENV} or run the command in a terminal to be asked.",
                field="passphrase",
            )
        if new and len(passphrase) < MIN_PASSPHRASE_LENGTH:
            raise CredentialError(f"The passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters.",
                                  field="passphrase")
        return passphrase

    @staticmethod
    def _check(info: dict[str, Any], key: bytes) -> bool:
        try:
            check = info["check"]
            return AESGCM(key).decrypt(_unb64(check["nonce"]), _unb64(check["ciphertext"]),
                                       _CHECK_AAD) == _CHECK_PLAINTEXT
        except (InvalidTag, KeyError, TypeError, ValueError):
            return False

    # ------------------------------------------------------------------------------------- files

    def _read_keystore(self) -> dict[str, Any] | None:
        path = self.root / KEYSTORE_FILE
        try:
            info: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise CredentialError(f"{path} is damaged; remove the profiles folder and import the profiles again.",
                                  field="keystore") from None
        return info

    def _damaged(self, path: Path) -> CredentialError:
        return CredentialError(f"{path} is damaged or was not written by this store; remove the profile and "
                               "import it again.", field="secrets")

    def _meta_path(self, name: str) -> Path:
        return self.root / f"{name}.meta.json"

    def _secrets_path(self, name: str) -> Path:
        return self.root / f"{name}.secrets"

    def _write(self, path: Path, data: bytes) -> None:
        """Write atomically with mode 0600 inside a 0700 folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _scrypt(passphrase: str, params: Mapping[str, Any]) -> bytes:
    kdf = Scrypt(salt=_unb64(params["salt"]), length=32, n=int(params["n"]), r=int(params["r"]),
                 p=int(params["p"]))
    return kdf.derive(passphrase.encode("utf-8"))


def _entry_aad(name: str) -> bytes:
    return f"herald-entry:{name}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
