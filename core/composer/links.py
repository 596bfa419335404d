"""Safety of the links a push opens: https, or one of the app's own schemes, and nothing else.

A deep link, a button link and the click action open on the user's device; an image or icon URL is fetched
by it. ``check_link`` accepts ``https://`` URLs and URLs of an allow-listed app scheme (``shop://cart``);
it refuses ``javascript:``, ``data:``, ``file:``, ``intent:`` (and ``vbscript:``, ``blob:``, ``content:``)
with a message that says why, and any other scheme with one that says what to write instead. Before the
check the URL is normalised the way a device will read it — surrounding whitespace and control characters
that a browser strips go, the scheme is lower-cased, and the host is IDNA-normalised (UTS #46, so
``https://ＥＸＡＭＰＬＥ.com`` and ``https://bücher.example`` become ``example.com`` and
``xn--bcher-kva.example``) — so a look-alike cannot slip past it. The normalised URL is what gets sent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import idna

from core.errors import ValidationError

#: Schemes that run code or reach local content on the device; never allowed, even when allow-listed.
DANGEROUS_SCHEMES: dict[str, str] = {
    "javascript": "it runs script in the browser or web view that opens it",
    "vbscript": "it runs script in the browser that opens it",
    "data": "it embeds content (possibly a script or a phishing page) instead of linking to it",
    "file": "it reads files on the user's device",
    "intent": "it launches arbitrary Android activities",
    "blob": "it points at content made by the page that opens it",
    "content": "it reads another Android app's content provider",
}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
#: What a browser ignores when it parses a URL: C0 controls and spaces around it, tabs and newlines anywhere.
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
#: For spotting a dangerous scheme, also the controls and spaces a sloppy parser might skip inside it.
_STRIPPED = re.compile(r"[\x00-\x20\x7f]+")
_APP_SCHEMES_ENV = "HERALD_APP_SCHEMES"


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """Which app schemes (besides https) links may use; ``from_env`` reads ``HERALD_APP_SCHEMES``."""

    app_schemes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *schemes: str) -> LinkPolicy:
        """A policy allowing these app schemes (case-insensitive); dangerous ones are refused outright."""
        cleaned = {s.strip().lower().rstrip(":") for s in schemes if s.strip()}
        bad = sorted(cleaned & (DANGEROUS_SCHEMES.keys() | {"http", "https"}))
        if bad:
            raise ValidationError(f"{bad[0]!r} cannot be allow-listed as an app scheme", "app_schemes")
        return cls(frozenset(cleaned))

    @classmethod
    def from_env(cls) -> LinkPolicy:
        """The app schemes listed (comma-separated) in ``HERALD_APP_SCHEMES``, e.g. ``shop,shopdev``."""
        return cls.of(*os.environ.get(_APP_SCHEMES_ENV, "").split(","))


def normalise_link(url: str) -> str:
    """``url`` as a device reads it: stripped, scheme lower-cased, host IDNA-normalised."""
    text = _TAB_NEWLINE.sub("", url).strip(_C0_AND_SPACE)
    match = _SCHEME.match(text)
    if match is None:
        return text
    scheme = match.group(1).lower()
    rest = text[match.end():]
    if not rest.startswith("//"):
        return f"{scheme}:{rest}"
    parts = urlsplit(f"{scheme}:{rest}")
    netloc = parts.netloc
    host = parts.hostname or ""
    if host and not host.isascii():
        try:
            ascii_host = str(idna.encode(host, uts46=True).decode("ascii"))
        except idna.IDNAError as exc:
            raise ValidationError(f"the host of {url!r} is not a valid internationalised domain name: {exc}",
                                  "link") from None
        userinfo, _, hostport = netloc.rpartition("@")
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = (f"{userinfo}@" if userinfo else "") + ascii_host + port
    elif host:
        userinfo, at, hostport = netloc.rpartition("@")
        netloc = userinfo + at + hostport.lower()
    return str(urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment)))


def refuse_dangerous(url: str, field: str) -> None:
    """Raise when ``url`` uses a scheme that is never allowed (checked on content as written)."""
    match = _SCHEME.match(_STRIPPED.sub("", url))
    if match is not None and match.group(1).lower() in DANGEROUS_SCHEMES:
        scheme = match.group(1).lower()
        raise ValidationError(
            f"{field}: {scheme}: links are refused because {DANGEROUS_SCHEMES[scheme]}; use an https:// URL "
            "or your app's own scheme", field,
        )


def check_link(url: str, field: str, policy: LinkPolicy, *, app_schemes_allowed: bool = True) -> str:
    """The normalised ``url`` when it is safe to send; a ValidationError naming ``field`` and the reason if not.

    Images and icons are fetched, so they pass ``app_schemes_allowed=False``: https only.
    """
    refuse_dangerous(url, field)
    normal = normalise_link(url)
    match = _SCHEME.match(normal)
    if match is None:
        raise ValidationError(f"{field}: {url!r} is not an absolute URL; write https://… or app://…", field)
    scheme = match.group(1)
    if scheme == "https":
        if not urlsplit(normal).hostname:
            raise ValidationError(f"{field}: {url!r} has no host", field)
        return normal
    if app_schemes_allowed and scheme in policy.app_schemes:
        return normal
    allowed = ", ".join(f"{s}:" for s in sorted(policy.app_schemes)) if app_schemes_allowed else ""
    what = "https:// or an allow-listed app scheme" if app_schemes_allowed else "https://"
    extra = f" (allowed app schemes: {allowed})" if allowed else ""
    if scheme == "http":
        raise ValidationError(f"{field}: {url!r} is plain http; use {what}{extra}", field)
    raise ValidationError(f"{field}: the {scheme}: scheme is not allowed; use {what}{extra}", field)
