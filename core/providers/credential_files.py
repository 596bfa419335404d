"""Reading and checking the credential files a sender needs: service account, APNs ``.p8`` key, VAPID key.

Every check fails with a ``core.errors.CredentialError`` whose ``field`` names the culprit as a dotted path
(``service_account.private_key``, ``apns.key_id``, ``webpush.vapid_public_key``…) and whose message names
the file and says what to do. The same functions read the files of a production import and the files a
simulator exports, so a profile for the simulator proves the production path too::

    account = load_service_account(Path("herald-prod.json"))
    apns = load_apns_key(Path("AuthKey_ABC123DEFG.p8"), key_id="ABC123DEFG", team_id="DEF123GHIJ")
    vapid = load_vapid_key(Path("vapid.pem"), public_key="BOr…")   # a given public key must match

The parsed values keep their secret parts in ``SecretText``, whose ``repr`` and ``str`` are redacted, so a
stray log line or traceback never prints key material; ``reveal()`` is the one explicit way out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from core.errors import CredentialError

_REDACTED = "********"
_APPLE_ID = re.compile(r"^[A-Z0-9]{10}$")
_BUNDLE_ID = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SecretText:
    """A secret string that never shows itself in ``repr``, ``str`` or formatting; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: pass it straight to the library that needs it, never to a log."""
        return self._value

    def __repr__(self) -> str:
        return f"SecretText({_REDACTED!r})"

    def __str__(self) -> str:
        return _REDACTED

    def __format__(self, spec: str) -> str:
        return _REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretText) and hmac.compare_digest(other._value.encode(), self._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __getstate__(self) -> str:
        return self._value

    def __setstate__(self, state: str) -> None:
        self._value = state


# --------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A Google service account: its identity in the clear, its JSON (with the private key) as a secret."""

    project_id: str
    client_email: str
    private_key_id: str
    token_uri: str
    #: The whole service-account JSON document, private key included.
    document: SecretText

    def as_info(self) -> dict[str, Any]:
        """The JSON object, as ``firebase_admin.credentials.Certificate(info)`` and google-auth take it."""
        info: dict[str, Any] = json.loads(self.document.reveal())
        return info

    def private_key(self) -> rsa.RSAPrivateKey:
        """The RSA key that signs OAuth grants."""
        key = serialization.load_pem_private_key(self.as_info()["private_key"].encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    @property
    def fingerprint(self) -> str:
        """A short non-secret identifier of the key (SHA-256 of the public key), for people comparing files."""
        return public_fingerprint(self.private_key())


@dataclass(frozen=True, slots=True)
class ApnsKey:
    """An APNs token-authentication key: key id and team id in the clear, the ``.p8`` PEM as a secret."""

    key_id: str
    team_id: str
    #: PKCS#8 PEM of the EC P-256 private key.
    pem: SecretText

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The EC key that signs provider tokens (ES256)."""
        key = serialization.load_pem_private_key(self.pem.reveal().encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    @property
    def fingerprint(self) -> str:
        """A short non-secret identifier of the key."""
        return public_fingerprint(self.private_key())


@dataclass(frozen=True, slots=True)
class VapidKey:
    """A VAPID key pair: the public key (raw point, base64url) in the clear, the private key as a secret."""

    #: Raw uncompressed P-256 point, unpadded base64url: the browser's ``applicationServerKey``.
    public_key: str
    #: PKCS#8 PEM of the private key.
    pem: SecretText

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The EC key that signs VAPID JWTs (ES256)."""
        key = serialization.load_pem_private_key(self.pem.reveal().encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def private_key_raw(self) -> SecretText:
        """The private scalar as 32 bytes of unpadded base64url (what ``pywebpush``/``py_vapid`` accept)."""
        scalar = self.private_key().private_numbers().private_value.to_bytes(32, "big")
        return SecretText(b64url(scalar))


# ------------------------------------------------------------------------------------------ loaders


def load_service_account(path: Path) -> ServiceAccount:
    """Read and check a service-account JSON file."""
    return parse_service_account(_read(path, "service_account"), source=str(path))


def parse_service_account(data: bytes | str, *, source: str = "the service account") -> ServiceAccount:
    """Check a service-account JSON document and return it.

    Checks: valid JSON object; ``type`` is ``service_account``; ``project_id``, ``private_key_id`` and
    ``client_email`` are present and well-formed; ``private_key`` is an RSA key in PEM; ``token_uri`` is
    HTTPS (or plain HTTP on loopback, for the simulator).
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); it may be "
            "truncated. Download the key again from the Google Cloud console (IAM → Service accounts → Keys).",
            field="service_account",
        ) from None
    if not isinstance(info, dict):
        raise CredentialError(f"{source} must be a JSON object (a service-account key file).",
                              field="service_account")

    kind = info.get("type")
    if kind != "service_account":
        raise CredentialError(
            f"{source}: field 'type' is {kind!r}, expected 'service_account'. This is not a service-account "
            "key (a google-services.json or OAuth client file will not do); create a key for a service "
            "account with the Firebase Cloud Messaging role.",
            field="service_account.type",
        )
    project_id = _required_str(info, "project_id", source)
    private_key_id = _required_str(info, "private_key_id", source)
    client_email = _required_str(info, "client_email", source)
    if not _EMAIL.match(client_email):
        raise CredentialError(f"{source}: field 'client_email' ({client_email!r}) is not an e-mail address.",
                              field="service_account.client_email")
    pem = _required_str(info, "private_key", source)
    key = _load_pem_key(pem.encode(), source=source, field="service_account.private_key",
                        what="the service account's 'private_key'")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError(
            f"{source}: field 'private_key' is a {_key_kind(key)} key; a service account key is RSA.",
            field="service_account.private_key",
        )
    token_uri = _required_str(info, "token_uri", source)
    _check_token_uri(token_uri, source)
    return ServiceAccount(
        project_id=project_id,
        client_email=client_email,
        private_key_id=private_key_id,
        token_uri=token_uri,
        document=SecretText(json.dumps(info, sort_keys=True)),
    )


def load_apns_key(path: Path, *, key_id: str, team_id: str) -> ApnsKey:
    """Read and check an APNs ``.p8`` file together with the key id and team id that go with it."""
    return parse_apns_key(_read(path, "apns.key"), key_id=key_id, team_id=team_id, source=str(path))


def parse_apns_key(data: bytes | str, *, key_id: str, team_id: str, source: str = "the APNs key") -> ApnsKey:
    """Check an APNs auth key: PKCS#8 PEM of an EC P-256 key; key id and team id 10 letters/digits each."""
    raw = data.encode() if isinstance(data, str) else data
    key_id, team_id = key_id.strip(), team_id.strip()
    _check_apple_id(key_id, "apns.key_id", "key id", "the 10-character Key ID shown next to the key in "
                    "Certificates, Identifiers & Profiles → Keys (also in the file name AuthKey_<KEYID>.p8)")
    _check_apple_id(team_id, "apns.team_id", "team id", "the 10-character Team ID from your Apple Developer "
                    "membership page")
    key = _load_pem_key(raw, source=source, field="apns.key", what="an APNs auth key (.p8)")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CredentialError(
            f"{source} holds a {_key_kind(key)} key; an APNs auth key (.p8) is an EC P-256 key. Download the "
            "key created under Keys with 'Apple Push Notifications service (APNs)' enabled.",
            field="apns.key",
        )
    _check_p256(key, source, "apns.key", "an APNs auth key")
    return ApnsKey(key_id=key_id, team_id=team_id, pem=SecretText(_pkcs8_pem(key)))


def check_apns_topic(topic: str) -> str:
    """The app's bundle id (the ``apns-topic``), checked for shape; returns it stripped."""
    topic = topic.strip()
    if not _BUNDLE_ID.match(topic):
        raise CredentialError(
            f"APNs topic {topic!r} is not a bundle id: give the app's reverse-DNS bundle id, e.g. com.example.app.",
            field="apns.topic",
        )
    return topic


def load_vapid_key(path: Path, *, public_key: str | None = None) -> VapidKey:
    """Read a VAPID private key file (PEM, or raw/DER base64url text); check ``public_key`` when given."""
    return parse_vapid_key(_read(path, "webpush.vapid_private_key"), public_key=public_key, source=str(path))


def parse_vapid_key(data: bytes | str, *, public_key: str | None = None,
                    source: str = "the VAPID private key") -> VapidKey:
    """Check a VAPID private key and derive its public key.

    Accepted forms: PEM (PKCS#8 or SEC 1), a 32-byte raw private scalar in base64url, or a DER key in
    base64url (as ``vapid --gen`` and web-push libraries print them). When ``public_key`` is given (the
    ``applicationServerKey`` the apps were built with) it must be the public half of this private key.
    """
    raw = data.encode() if isinstance(data, str) else data
    field = "webpush.vapid_private_key"
    key: PrivateKeyTypes
    if b"-----BEGIN" in raw:
        key = _load_pem_key(raw, source=source, field=field, what="a VAPID private key")
    else:
        key = _load_base64_key(raw, source=source, field=field)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CredentialError(f"{source} holds a {_key_kind(key)} key; a VAPID key is EC P-256.", field=field)
    _check_p256(key, source, field, "a VAPID key")
    derived = b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint))
    if public_key is not None:
        given = _normalise_public_key(public_key)
        if given != derived:
            raise CredentialError(
                f"The VAPID public key given does not belong to the private key in {source}. Browsers "
                "subscribed with one applicationServerKey reject pushes signed by another key (403); give "
                "the public key derived from this private key, or the private key the apps were built with.",
                field="webpush.vapid_public_key",
            )
    return VapidKey(public_key=derived, pem=SecretText(_pkcs8_pem(key)))


def check_vapid_subject(subject: str) -> str:
    """The VAPID ``sub`` claim: ``mailto:`` an address or an ``https:`` URL (RFC 8292); returns it stripped."""
    subject = subject.strip()
    if subject.startswith("mailto:") and _EMAIL.match(subject.removeprefix("mailto:")):
        return subject
    if subject.startswith("https://") and urlsplit(subject).hostname:
        return subject
    raise CredentialError(
        f"VAPID subject {subject!r} must be 'mailto:' followed by an address a push service can reach you at "
        "(mailto:push@example.com) or an https: URL of your site.",
        field="webpush.vapid_subject",
    )


def check_base_url(url: str, field: str) -> str:
    """A service origin: ``https://host[:port]`` or plain HTTP on loopback; returns it without a trailing slash."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise CredentialError(
        f"{url!r} is not a usable service URL: use https://, or http:// only on this machine (127.0.0.1).",
        field=field,
    )


def check_ca_pem(data: bytes | str, *, source: str, field: str = "apns.ca_file") -> str:
    """A PEM bundle of trusted CA certificates (the simulator's local CA); returns it as text."""
    from cryptography import x509

    raw = data.encode() if isinstance(data, str) else data
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        certs = []
    if not certs:
        raise CredentialError(f"{source} holds no PEM certificate (-----BEGIN CERTIFICATE-----).", field=field)
    return raw.decode("ascii")


# ------------------------------------------------------------------------------------------ helpers


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url with or without padding (ValueError when it is not base64url)."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    raw = b"".join(raw.split())
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_fingerprint(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """``SHA256:`` and the first 16 hex digits of the hash of the public key (DER SubjectPublicKeyInfo)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashlib.sha256(der).hexdigest()[:16]


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CredentialError(f"{path} does not exist.", field=field) from None
    except IsADirectoryError:
        raise CredentialError(f"{path} is a folder; give the credential file inside it.", field=field) from None
    except OSError as exc:
        raise CredentialError(f"{path} cannot be read: {exc.strerror}.", field=field) from None


def _required_str(info: dict[str, Any], name: str, source: str) -> str:
    value = info.get(name)
    if not isinstance(value, str) or not value.strip():
        missing = "is missing" if value is None else "is empty or not a string"
        raise CredentialError(
            f"{source}: field '{name}' {missing}. Use the service-account key file exactly as Google issued it.",
            field=f"service_account.{name}",
        )
    return value.strip()


def _check_token_uri(token_uri: str, source: str) -> None:
    parts = urlsplit(token_uri)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise CredentialError(
        f"{source}: field 'token_uri' ({token_uri!r}) must be an https:// URL (Google's is "
        "https://oauth2.googleapis.com/token); plain http:// is accepted only on loopback, for the simulator.",
        field="service_account.token_uri",
    )


def _check_apple_id(value: str, field: str, label: str, hint: str) -> None:
    if not _APPLE_ID.match(value):
        raise CredentialError(
            f"APNs {label} {value!r} is not valid: expected {hint}, 10 upper-case letters and digits.",
            field=field,
        )


def _load_pem_key(raw: bytes, *, source: str, field: str, what: str) -> PrivateKeyTypes:
    if b"-----BEGIN" not in raw:
        raise CredentialError(f"{source} is not a PEM private key; expected {what} "
                              "starting with -----BEGIN PRIVATE KEY-----.", field=field)
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except TypeError:
        raise CredentialError(f"{source}: {what} is protected by a password; export it without one.",
                              field=field) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialError(
            f"{source}: {what} does not parse (damaged, truncated or not a private key); "
            "copy the key again from its original file.",
            field=field,
        ) from None


def _load_base64_key(raw: bytes, *, source: str, field: str) -> PrivateKeyTypes:
    text = raw.strip()
    try:
        decoded = b64url_decode(text.replace(b"+", b"-").replace(b"/", b"_"))
    except ValueError:
        decoded = b""
    if len(decoded) == 32:
        value = int.from_bytes(decoded, "big")
        try:
            return ec.derive_private_key(value, ec.SECP256R1())
        except ValueError:
            pass
    elif decoded:
        try:
            return serialization.load_der_private_key(decoded, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
    raise CredentialError(
        f"{source} is not a VAPID private key: expected a PEM file, a 32-byte raw key in base64url, "
        "or a DER key in base64url.",
        field=field,
    )


def _check_p256(key: ec.EllipticCurvePrivateKey, source: str, field: str, what: str) -> None:
    if not isinstance(key.curve, ec.SECP256R1):
        raise CredentialError(
            f"{source} is an EC key on curve {key.curve.name}; {what} must be on P-256 (prime256v1/secp256r1).",
            field=field,
        )


def _normalise_public_key(text: str) -> str:
    field = "webpush.vapid_public_key"
    try:
        raw = b64url_decode(text.strip().replace("+", "-").replace("/", "_"))
    except ValueError:
        raw = b""
    if len(raw) != 65 or raw[0] != 4:
        raise CredentialError(
            "The VAPID public key is not a raw uncompressed P-256 point in base64url (65 bytes starting with "
            "0x04, about 87 characters, e.g. 'BOr…'); give the applicationServerKey your apps use.",
            field=field,
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise CredentialError("The VAPID public key is not a point on P-256.", field=field) from None
    return b64url(raw)


def _key_kind(key: PrivateKeyTypes) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "") or "non-RSA"


def _pkcs8_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")
