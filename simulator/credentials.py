"""The simulator's credential files: what a sender needs to talk to it as if it were Google, Apple and a browser.

On first start ``load_or_create_credentials(state_dir)`` writes, each file readable by its owner only:

* ``service-account.json`` — a Google service account with a locally generated RSA 2048 key
  (``private_key_id``, ``client_email``, ``project_id``, ``token_uri`` pointing at the simulator's ``/token``);
* ``apns-key.p8`` (EC P-256, PKCS#8 PEM) and ``apns.json`` (key id, team id, bundle id);
* ``vapid-private.pem`` and ``vapid-public.txt`` — the *sender's* VAPID key pair (PEM private key as
  py-vapid reads it, raw uncompressed public point in base64url as browsers take it);
* ``ca.pem`` / ``ca-key.pem`` — a local certificate authority, and ``server.pem`` / ``server-key.pem`` — a
  certificate for ``localhost`` and ``127.0.0.1`` signed by it (the APNs TLS endpoint).

Nothing that exists is ever regenerated, so tokens, subscriptions and trust survive restarts. The only field
rewritten later is the service account's ``token_uri`` (``set_token_uri``), because the OAuth port is known
only once the services are bound.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_ACCOUNT_FILE = "service-account.json"
APNS_KEY_FILE = "apns-key.p8"
APNS_META_FILE = "apns.json"
VAPID_PRIVATE_FILE = "vapid-private.pem"
VAPID_PUBLIC_FILE = "vapid-public.txt"
CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"

DEFAULT_PROJECT_ID = "herald-simulator"
DEFAULT_BUNDLE_ID = "com.herald.demo"
#: Where the service account points until the OAuth service is bound (nothing listens there).
PLACEHOLDER_TOKEN_URI = "http://127.0.0.1:9/token"

_ID_ALPHABET = string.ascii_uppercase + string.digits
_CERT_LIFETIME = timedelta(days=3650)


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE, VAPID and Web Push subscriptions write bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url with or without padding."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


@dataclass(frozen=True, slots=True)
class SimulatorCredentials:
    """The credential files in a state directory and the identities they carry (no secret material)."""

    state_dir: Path
    project_id: str
    client_email: str
    private_key_id: str
    apns_key_id: str
    apns_team_id: str
    apns_bundle_id: str
    vapid_public_key: str

    @property
    def service_account_path(self) -> Path:
        return self.state_dir / SERVICE_ACCOUNT_FILE

    @property
    def apns_key_path(self) -> Path:
        return self.state_dir / APNS_KEY_FILE

    @property
    def vapid_private_key_path(self) -> Path:
        return self.state_dir / VAPID_PRIVATE_FILE

    @property
    def ca_cert_path(self) -> Path:
        return self.state_dir / CA_CERT_FILE

    @property
    def server_cert_path(self) -> Path:
        return self.state_dir / SERVER_CERT_FILE

    @property
    def server_key_path(self) -> Path:
        return self.state_dir / SERVER_KEY_FILE

    def service_account_public_key(self) -> rsa.RSAPublicKey:
        """The public half of the service account's key, to check google-auth's grants."""
        info = json.loads(self.service_account_path.read_text())
        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the service account key is not an RSA key")
        return key.public_key()

    def apns_public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half of the ``.p8`` key, to check provider tokens."""
        key = serialization.load_pem_private_key(self.apns_key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the APNs key is not an EC key")
        return key.public_key()


def load_or_create_credentials(
    state_dir: Path, *, project_id: str = DEFAULT_PROJECT_ID, bundle_id: str = DEFAULT_BUNDLE_ID
) -> SimulatorCredentials:
    """Create whatever credential file is missing in ``state_dir`` and describe them all.

    ``project_id`` and ``bundle_id`` apply only when their files are created; existing files win.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    sa_path = state_dir / SERVICE_ACCOUNT_FILE
    if not sa_path.exists():
        write_private_file(sa_path, json.dumps(_new_service_account(project_id), indent=2).encode())
    if not (state_dir / APNS_KEY_FILE).exists():
        write_private_file(state_dir / APNS_KEY_FILE, _pem_private(ec.generate_private_key(ec.SECP256R1())))
    if not (state_dir / APNS_META_FILE).exists():
        meta = {"key_id": _new_id(), "team_id": _new_id(), "bundle_id": bundle_id}
        write_private_file(state_dir / APNS_META_FILE, json.dumps(meta, indent=2).encode())
    _ensure_vapid(state_dir)
    _ensure_tls(state_dir)
    return _describe(state_dir)


def set_token_uri(credentials: SimulatorCredentials, token_uri: str) -> None:
    """Point the service account at the OAuth endpoint that is actually listening; keeps the key."""
    info = json.loads(credentials.service_account_path.read_text())
    if info.get("token_uri") == token_uri:
        return
    info["token_uri"] = token_uri
    write_private_file(credentials.service_account_path, json.dumps(info, indent=2).encode(), replace=True)


def _describe(state_dir: Path) -> SimulatorCredentials:
    sa = json.loads((state_dir / SERVICE_ACCOUNT_FILE).read_text())
    apns = json.loads((state_dir / APNS_META_FILE).read_text())
    return SimulatorCredentials(
        state_dir=state_dir.resolve(),
        project_id=sa["project_id"],
        client_email=sa["client_email"],
        private_key_id=sa["private_key_id"],
        apns_key_id=apns["key_id"],
        apns_team_id=apns["team_id"],
        apns_bundle_id=apns["bundle_id"],
        vapid_public_key=(state_dir / VAPID_PUBLIC_FILE).read_text().strip(),
    )


def _new_service_account(project_id: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = f"herald-sender@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": _pem_private(key).decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": PLACEHOLDER_TOKEN_URI,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }


def _ensure_vapid(state_dir: Path) -> None:
    private_path = state_dir / VAPID_PRIVATE_FILE
    public_path = state_dir / VAPID_PUBLIC_FILE
    if not private_path.exists():
        write_private_file(private_path, _pem_private(ec.generate_private_key(ec.SECP256R1())))
        public_path.unlink(missing_ok=True)
    if not public_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{private_path} is not an EC key")
        raw = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        write_private_file(public_path, (b64url(raw) + "\n").encode())


def _ensure_tls(state_dir: Path) -> None:
    ca_cert_path, ca_key_path = state_dir / CA_CERT_FILE, state_dir / CA_KEY_FILE
    server_cert_path, server_key_path = state_dir / SERVER_CERT_FILE, state_dir / SERVER_KEY_FILE
    ca_created = False
    if not (ca_cert_path.exists() and ca_key_path.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        write_private_file(ca_key_path, _pem_private(ca_key), replace=True)
        write_private_file(ca_cert_path, _ca_certificate(ca_key).public_bytes(serialization.Encoding.PEM), replace=True)
        ca_created = True
    if ca_created or not (server_cert_path.exists() and server_key_path.exists()):
        ca_key_obj = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(ca_key_obj, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not an EC key")
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        server_key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(server_key, ca_key_obj, ca_cert)
        write_private_file(server_key_path, _pem_private(server_key), replace=True)
        write_private_file(server_cert_path, cert.public_bytes(serialization.Encoding.PEM), replace=True)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Herald Simulator Local CA")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + _CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> x509.Certificate:
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + _CERT_LIFETIME)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _pem_private(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def write_private_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` with mode 0600 atomically; never clobber an existing file unless ``replace``."""
    if path.exists() and not replace:
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
