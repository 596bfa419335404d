"""Provider profiles: which endpoints Herald sends to and with which credentials.

A ``ProviderProfile`` is either *production* (Google's, Apple's and the browsers' services, assembled from
credential files the user imports once) or *simulator* (the bundled simulator's loopback services, loaded
from the profile it exports). Both are read by the same functions of ``core.providers.credential_files``,
so the simulator exercises the production loading path::

    profile = load_simulator_profile(Path("~/.local/share/herald/simulator"))     # or its profile.json text
    profile = production_profile("prod", service_account=Path("sa.json"), apns_key=Path("AuthKey.p8"),
                                 apns_key_id="ABC123DEFG", apns_team_id="DEF123GHIJ", apns_topic="com.example",
                                 vapid_key=Path("vapid.pem"), vapid_subject="mailto:push@example.com")
    save_profile(SecretStore.default(), profile)          # secrets encrypted, metadata as plain JSON
    profile = load_profile(SecretStore.default(), "prod")  # re-checked by the same loaders

    with provider_settings(profile) as settings:           # core.providers.factory.ProviderSettings
        providers = build_providers(settings)               # key files exist only inside this block

Each provider section is optional: a production profile may carry only FCM, for instance.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.domain import Provider
from core.errors import CredentialError
from core.providers import settings as ps
from core.providers.credential_files import (
    ApnsKey,
    ServiceAccount,
    VapidKey,
    check_apns_topic,
    check_base_url,
    check_ca_pem,
    check_vapid_subject,
    load_apns_key,
    load_service_account,
    load_vapid_key,
    parse_apns_key,
    parse_service_account,
    parse_vapid_key,
)
from core.providers.secret_store import SecretStore, check_entry_name

if TYPE_CHECKING:  # the factory imports every provider implementation: load it only when settings are built
    from core.providers.factory import ProviderSettings

FCM_PRODUCTION_URL = ps.FCM_PRODUCTION_URL
APNS_PRODUCTION_URL = ps.APNS_PRODUCTION_URL
APNS_SANDBOX_URL = ps.APNS_SANDBOX_URL
#: The file a running simulator writes into its state folder.
SIMULATOR_PROFILE_FILE = "profile.json"
_METADATA_FORMAT = 1
#: The VAPID contact a simulator profile uses unless told otherwise (the simulator exports none).
SIMULATOR_VAPID_SUBJECT = "mailto:simulator@herald.invalid"


class ProfileKind(StrEnum):
    """Whether a profile sends to the real providers or to the bundled simulator."""

    SIMULATOR = "simulator"
    PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class FcmProfile:
    """FCM HTTP v1: the project, its service account, and the FCM origin."""

    project_id: str
    service_account: ServiceAccount
    base_url: str = FCM_PRODUCTION_URL

    @property
    def token_uri(self) -> str:
        """Where OAuth access tokens are obtained (from the service account)."""
        return self.service_account.token_uri


@dataclass(frozen=True, slots=True)
class ApnsProfile:
    """APNs token authentication: the ``.p8`` key, the app's topic, the environment URL and extra trust."""

    key: ApnsKey
    #: The app's bundle id, sent as ``apns-topic``.
    topic: str
    #: ``https://api.push.apple.com``, ``https://api.sandbox.push.apple.com`` or the simulator's TLS URL.
    base_url: str = APNS_PRODUCTION_URL
    #: A CA certificate (PEM) to trust besides the system's: the simulator's local CA. Not secret.
    ca_pem: str | None = None
    #: Where that CA certificate is kept on disk, when it is.
    ca_file: Path | None = None
    #: The simulator's cleartext HTTP/2 (h2c) URL, used instead of ``base_url`` when asked for.
    h2c_url: str | None = None

    @property
    def environment(self) -> str:
        """``production``, ``sandbox`` or ``custom`` (the simulator, or another URL)."""
        return {APNS_PRODUCTION_URL: "production", APNS_SANDBOX_URL: "sandbox"}.get(self.base_url, "custom")


@dataclass(frozen=True, slots=True)
class WebPushProfile:
    """Web Push: the VAPID key pair and the contact (``sub``) the push services see."""

    vapid: VapidKey
    subject: str


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """A named set of provider settings and credentials; secrets inside are redacted in ``repr``."""

    name: str
    kind: ProfileKind
    fcm: FcmProfile | None = None
    apns: ApnsProfile | None = None
    webpush: WebPushProfile | None = None
    #: Where the credentials came from (files or a simulator state folder), for people.
    source: str = ""
    imported_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def providers(self) -> list[Provider]:
        """The providers this profile can send through."""
        present = {Provider.FCM: self.fcm, Provider.APNS: self.apns, Provider.WEBPUSH: self.webpush}
        return [p for p, section in present.items() if section is not None]

    def metadata(self) -> dict[str, Any]:
        """Everything about the profile that is not secret, as JSON-ready values (what ``show`` prints)."""
        data: dict[str, Any] = {
            "format": _METADATA_FORMAT, "name": self.name, "kind": self.kind.value, "source": self.source,
            "imported_at": self.imported_at, "providers": [p.value for p in self.providers],
        }
        if self.fcm is not None:
            sa = self.fcm.service_account
            data["fcm"] = {
                "project_id": self.fcm.project_id, "base_url": self.fcm.base_url, "token_uri": sa.token_uri,
                "client_email": sa.client_email, "private_key_id": sa.private_key_id,
                "key_fingerprint": sa.fingerprint,
            }
        if self.apns is not None:
            data["apns"] = {
                "key_id": self.apns.key.key_id, "team_id": self.apns.key.team_id, "topic": self.apns.topic,
                "base_url": self.apns.base_url, "environment": self.apns.environment,
                "h2c_url": self.apns.h2c_url, "ca_pem": self.apns.ca_pem,
                "key_fingerprint": self.apns.key.fingerprint,
            }
        if self.webpush is not None:
            data["webpush"] = {"vapid_public_key": self.webpush.vapid.public_key, "subject": self.webpush.subject}
        return data


# --------------------------------------------------------------------------------- building profiles


def load_simulator_profile(source: str | Path, *, name: str = "simulator",
                           vapid_subject: str = SIMULATOR_VAPID_SUBJECT) -> ProviderProfile:
    """A simulator profile from the JSON the simulator exports, the path of its ``profile.json``, or its state folder.

    The credential files it names are read with the same loaders as production files, so a broken file in
    the state folder fails here with the field to fix.
    """
    check_entry_name(name)
    text, origin = _simulator_profile_text(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialError(f"{origin} is not valid JSON ({exc.msg}, line {exc.lineno}); print it again with "
                              "'herald simulator profile --state DIR'.", field="simulator_profile") from None
    if not isinstance(data, dict):
        raise CredentialError(f"{origin} must be a JSON object.", field="simulator_profile")

    def value(key: str) -> str:
        item = data.get(key)
        if not isinstance(item, str) or not item:
            raise CredentialError(f"{origin}: field {key!r} is missing; the simulator that wrote it is older or "
                                  "the file was edited. Start the simulator again to rewrite it.",
                                  field=f"simulator_profile.{key}")
        return item

    account = load_service_account(Path(value("service_account_path")))
    project_id = value("project_id")
    if project_id != account.project_id:
        raise CredentialError(
            f"{origin}: project_id {project_id!r} differs from the service account's {account.project_id!r}.",
            field="fcm.project_id",
        )
    apns_key = load_apns_key(Path(value("apns_key_path")), key_id=value("apns_key_id"),
                             team_id=value("apns_team_id"))
    vapid = load_vapid_key(Path(value("vapid_private_key_path")), public_key=value("vapid_public_key"))
    ca_path = Path(value("ca_cert_path"))
    ca_pem = check_ca_pem(_read_file(ca_path, "apns.ca_file"), source=str(ca_path))
    h2c = data.get("apns_h2c_url")
    return ProviderProfile(
        name=name,
        kind=ProfileKind.SIMULATOR,
        fcm=FcmProfile(project_id=project_id, service_account=account,
                       base_url=check_base_url(value("fcm_url"), "fcm.base_url")),
        apns=ApnsProfile(
            key=apns_key, topic=check_apns_topic(value("apns_bundle_id")),
            base_url=check_base_url(value("apns_url"), "apns.base_url"), ca_pem=ca_pem, ca_file=ca_path,
            h2c_url=check_base_url(h2c, "apns.h2c_url") if isinstance(h2c, str) and h2c else None,
        ),
        webpush=WebPushProfile(vapid=vapid, subject=check_vapid_subject(vapid_subject)),
        source=f"simulator {origin}",
    )


def production_profile(
    name: str,
    *,
    service_account: Path | None = None,
    fcm_project_id: str | None = None,
    apns_key: Path | None = None,
    apns_key_id: str | None = None,
    apns_team_id: str | None = None,
    apns_topic: str | None = None,
    apns_sandbox: bool = False,
    vapid_key: Path | None = None,
    vapid_public_key: str | None = None,
    vapid_subject: str | None = None,
) -> ProviderProfile:
    """A production profile from credential files; give at least one provider's files.

    APNs needs the key file, key id, team id and topic together; Web Push needs the key file and a subject.
    ``vapid_public_key``, when given, must belong to the private key.
    """
    check_entry_name(name)
    fcm = apns = webpush = None
    sources: list[str] = []
    if service_account is not None:
        account = load_service_account(service_account)
        fcm = FcmProfile(project_id=(fcm_project_id or account.project_id).strip(), service_account=account)
        sources.append(str(service_account))
    elif fcm_project_id:
        raise CredentialError("An FCM project id was given without a service-account file.",
                              field="fcm.service_account")
    apns_parts = {"apns.key_id": apns_key_id, "apns.team_id": apns_team_id, "apns.topic": apns_topic}
    if apns_key is not None:
        for field_name, given in apns_parts.items():
            if not given:
                raise CredentialError(f"APNs needs the key file, key id, team id and topic together: "
                                      f"{field_name} is missing.", field=field_name)
        assert apns_key_id and apns_team_id and apns_topic
        key = load_apns_key(apns_key, key_id=apns_key_id, team_id=apns_team_id)
        apns = ApnsProfile(key=key, topic=check_apns_topic(apns_topic),
                           base_url=APNS_SANDBOX_URL if apns_sandbox else APNS_PRODUCTION_URL)
        sources.append(str(apns_key))
    elif any(apns_parts.values()):
        raise CredentialError("APNs settings were given without the .p8 key file.", field="apns.key")
    if vapid_key is not None:
        if not vapid_subject:
            raise CredentialError("Web Push needs a VAPID subject (mailto:you@example.com or an https: URL).",
                                  field="webpush.vapid_subject")
        webpush = WebPushProfile(vapid=load_vapid_key(vapid_key, public_key=vapid_public_key),
                                 subject=check_vapid_subject(vapid_subject))
        sources.append(str(vapid_key))
    elif vapid_subject or vapid_public_key:
        raise CredentialError("VAPID settings were given without the private key file.",
                              field="webpush.vapid_private_key")
    if not sources:
        raise CredentialError("A production profile needs the credentials of at least one provider "
                              "(service account, APNs key or VAPID key).", field="providers")
    return ProviderProfile(name=name, kind=ProfileKind.PRODUCTION, fcm=fcm, apns=apns, webpush=webpush,
                           source=", ".join(sources))


# ---------------------------------------------------------------------------------------- storage


def save_profile(store: SecretStore, profile: ProviderProfile) -> None:
    """Store a profile: its secrets encrypted, the rest (``metadata()``) as plain JSON."""
    values: dict[str, str] = {}
    if profile.fcm is not None:
        values["service_account"] = profile.fcm.service_account.document.reveal()
    if profile.apns is not None:
        values["apns_key"] = profile.apns.key.pem.reveal()
    if profile.webpush is not None:
        values["vapid_key"] = profile.webpush.vapid.pem.reveal()
    store.put(profile.name, profile.metadata(), values)


def load_profile(store: SecretStore, name: str) -> ProviderProfile:
    """A stored profile, its credentials decrypted and checked again by the same loaders as on import.

    KeyError when there is no such profile; CredentialError when the store cannot be opened (wrong
    passphrase, no keyring entry) or a stored credential no longer passes its checks.
    """
    meta = store.metadata(name)
    values = store.secret_values(name)
    source = f"stored profile {name!r}"
    fcm = apns = webpush = None
    try:
        if "fcm" in meta:
            account = parse_service_account(values["service_account"], source=source)
            fcm = FcmProfile(project_id=meta["fcm"]["project_id"], service_account=account,
                             base_url=meta["fcm"]["base_url"])
        if "apns" in meta:
            section = meta["apns"]
            key = parse_apns_key(values["apns_key"], key_id=section["key_id"], team_id=section["team_id"],
                                 source=source)
            ca_pem = section.get("ca_pem")
            apns = ApnsProfile(key=key, topic=section["topic"], base_url=section["base_url"], ca_pem=ca_pem,
                               ca_file=_ca_companion(store, name, ca_pem), h2c_url=section.get("h2c_url"))
        if "webpush" in meta:
            section = meta["webpush"]
            vapid = parse_vapid_key(values["vapid_key"], public_key=section["vapid_public_key"], source=source)
            webpush = WebPushProfile(vapid=vapid, subject=section["subject"])
    except KeyError as exc:
        raise CredentialError(f"The stored profile {name!r} is incomplete ({exc.args[0]!r} is missing); "
                              "remove it and import it again.", field=str(exc.args[0])) from None
    return ProviderProfile(name=meta["name"], kind=ProfileKind(meta["kind"]), fcm=fcm, apns=apns,
                           webpush=webpush, source=meta.get("source", ""), imported_at=meta.get("imported_at", ""))


def list_profiles(store: SecretStore) -> list[dict[str, Any]]:
    """The metadata of every stored profile (no secrets; no passphrase needed), sorted by name."""
    return [store.metadata(name) for name in store.names()]


def remove_profile(store: SecretStore, name: str) -> bool:
    """Delete a stored profile; False when there was none."""
    found = store.remove(name)
    (store.root / f"{name}.ca.pem").unlink(missing_ok=True)
    return found


def _ca_companion(store: SecretStore, name: str, ca_pem: str | None) -> Path | None:
    """Keep the (public) CA certificate next to the profile so providers that read a path can use it."""
    if not ca_pem:
        return None
    path = store.root / f"{name}.ca.pem"
    if not path.exists() or path.read_text() != ca_pem:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(ca_pem)
        os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------- settings for the providers


@contextmanager
def provider_settings(profile: ProviderProfile, *, apns_h2c: bool = False,
                      overrides: Mapping[Provider, Mapping[str, Any]] | None = None) -> Iterator[ProviderSettings]:
    """The profile as the factory's ``ProviderSettings``; build the providers inside the block.

    The APNs and VAPID providers read their key from a *path* when they are constructed, so the keys are
    written to a private folder (mode 0700, files 0600, in ``XDG_RUNTIME_DIR`` or ``/dev/shm`` when they
    exist, i.e. memory) for the duration of the block and deleted when it ends. FCM gets the service
    account in memory. ``apns_h2c`` uses the simulator's cleartext HTTP/2 URL; ``overrides`` sets other
    settings fields (``max_in_flight``…) per provider.
    """
    extra = overrides or {}
    folder = Path(tempfile.mkdtemp(prefix="herald-keys-", dir=_private_tmp_root()))
    os.chmod(folder, 0o700)
    try:
        fcm = apns = webpush = None
        if profile.fcm is not None:
            fcm = ps.FcmSettings(project_id=profile.fcm.project_id,
                                 service_account_info=profile.fcm.service_account.as_info(),
                                 base_url=profile.fcm.base_url, **extra.get(Provider.FCM, {}))
        if profile.apns is not None:
            section = profile.apns
            if apns_h2c and not section.h2c_url:
                raise CredentialError(f"Profile {profile.name!r} has no h2c URL for APNs (only the simulator "
                                      "offers one).", field="apns.h2c_url")
            ca_file = None if apns_h2c else section.ca_file
            if section.ca_pem and not apns_h2c and (ca_file is None or not ca_file.exists()):
                ca_file = _write_private(folder / "ca.pem", section.ca_pem)
            apns = ps.ApnsSettings(
                base_url=section.h2c_url if apns_h2c and section.h2c_url else section.base_url,
                key_path=str(_write_private(folder / "apns-key.p8", section.key.pem.reveal())),
                key_id=section.key.key_id, team_id=section.key.team_id, topic=section.topic,
                ca_cert_path=str(ca_file) if ca_file else None, **extra.get(Provider.APNS, {}),
            )
        if profile.webpush is not None:
            webpush = ps.WebPushSettings(
                vapid_private_key_path=str(_write_private(folder / "vapid.pem", profile.webpush.vapid.pem.reveal())),
                subject=profile.webpush.subject, vapid_public_key=profile.webpush.vapid.public_key,
                **extra.get(Provider.WEBPUSH, {}),
            )
        from core.providers.factory import ProviderSettings as Bundle

        yield Bundle(fcm=fcm, apns=apns, webpush=webpush)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _private_tmp_root() -> str | None:
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return None


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _simulator_profile_text(source: str | Path) -> tuple[str, str]:
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return source, "the simulator profile"
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / SIMULATOR_PROFILE_FILE
        if not path.exists():
            raise CredentialError(
                f"{path.parent} has no {SIMULATOR_PROFILE_FILE}: no simulator has run there yet. Start it once "
                f"(herald simulator --state {path.parent}) and import again.",
                field="simulator_profile",
            )
    return _read_file(path, "simulator_profile").decode("utf-8", errors="replace"), str(path)


def _read_file(path: Path, field_name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"{path} cannot be read: {exc.strerror or exc}.", field=field_name) from None


__all__ = [
    "APNS_PRODUCTION_URL",
    "APNS_SANDBOX_URL",
    "FCM_PRODUCTION_URL",
    "ApnsProfile",
    "FcmProfile",
    "ProfileKind",
    "ProviderProfile",
    "WebPushProfile",
    "list_profiles",
    "load_profile",
    "load_simulator_profile",
    "production_profile",
    "provider_settings",
    "remove_profile",
    "save_profile",
]
