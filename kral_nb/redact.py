"""Keeping secrets out of everything kral_nb prints, stores or saves. Pure: no I/O, no clock.

Keys travel as :class:`Secret` (a ``str`` whose repr is masked, so a verbose traceback
that shows a frame's values shows ``'***'``), headers and URLs are redacted in reprs, and
text that comes back from a server is scrubbed of every form of the secrets — as given,
URL-encoded, and as HTTP Basic — *before* it is shortened.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization"})


class Secret(str):
    """A key or credential: usable wherever a ``str`` is, shown as ``'***'``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class CredentialURL(str):
    """A URL with ``user:password@``: usable as a ``str``, shown redacted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_url(str(self)))


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def redact_url(url: str) -> str:
    """``http://user:pass@host/x`` -> ``http://***@host/x``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def split_credentials(url: str) -> tuple[str, Secret | None]:
    """``http://user:pass@host/x`` -> (``http://host/x``, ``Basic <base64>`` header value):
    credentials never travel in a URL that httpx would log or put in an exception."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, Secret("Basic " + base64.b64encode(pair.encode()).decode())


def secrets_of(key: str | None, url: str) -> tuple[str, ...]:
    """Every form in which the key or the URL's credentials could come back from a server:
    as given, URL-encoded, and as HTTP Basic (base64 of ``user:password``)."""
    raw: list[str] = [key] if key else []
    parts = urlsplit(url)
    if parts.password:
        user, password = unquote(parts.username or ""), unquote(parts.password)
        pair = f"{user}:{password}"
        raw += [password, pair, base64.b64encode(pair.encode()).decode()]
    out: list[str] = []
    for s in raw:
        for form in (s, quote(s, safe=""), quote_plus(s)):
            if len(form) >= 4 and form not in out:
                out.append(Secret(form))
    return tuple(sorted(out, key=len, reverse=True))  # longest first: no partial replacement


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Remove every secret from text that came back from a server (a 401 may echo headers).
    Call it before shortening the text: a cut through a key would leave its prefix."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text
