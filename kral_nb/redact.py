"""Keeping secrets out of everything kral_nb prints, stores or saves. Pure: no I/O, no clock.

Keys travel as :class:`Secret` (a ``str`` whose repr is masked, so a verbose traceback that
shows a frame's values shows ``'***'``); headers and URLs are redacted in reprs and messages
(credentials in ``user[:password]@``, and secret-looking query parameters such as ``?key=``);
and text that comes back from a server is scrubbed of every form of the secrets — as given,
URL-encoded, and as HTTP Basic — **before anything shortens it**: the pipeline scrubs every
event before the parser sees it (``record/pipeline.py``), the transport every error body
(:func:`clip`: scrub, then shorten), the frames and files every joined text (:func:`mask`,
which keeps lengths, so a key split across two reads or chunks is caught too).
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization"})
#: query parameters whose value is a credential (Gemini's ``?key=``, signed URLs, tokens)
SECRET_PARAMS = re.compile(r"(key|token|secret|sig|signature|password|passwd|auth|credential)", re.I)
MASK = "***"


class Secret(str):
    """A key or credential: usable wherever a ``str`` is, shown as ``'***'``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class CredentialURL(str):
    """A URL with credentials (``user:password@``, ``?key=``): usable as a ``str``, shown redacted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_url(str(self)))


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a credential: userinfo, or a secret-looking query parameter."""
    parts = urlsplit(url)
    return "@" in parts.netloc or any(SECRET_PARAMS.search(k) for k, _ in parse_qsl(parts.query))


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def redact_url(url: str) -> str:
    """``http://user:pass@host/x?key=abc&v=1`` -> ``http://***@host/x?key=***&v=1`` (a URL
    mistyped so that it has no host — ``http:/bob:pw@host`` — has every ``…@`` masked)."""
    parts = urlsplit(url)
    if not parts.hostname:
        url = re.sub(r"[^/@\s]+@", MASK + "@", url)
        parts = urlsplit(url)
    netloc = MASK + "@" + parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def split_credentials(url: str) -> tuple[str, Secret | None]:
    """``http://user:pass@host/x`` -> (``http://host/x``, ``Basic <base64>`` header value):
    credentials never travel in a URL that httpx would log or put in an exception."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, Secret("Basic " + base64.b64encode(pair.encode()).decode())


def split_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    """``http://host/v1?key=abc`` -> (``http://host/v1``, ``[("key", "abc")]``): a protocol
    appends its path to the first, the query goes back on the end (``with_query``)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment="")), parse_qsl(parts.query, keep_blank_values=True)


def with_query(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` added to whatever query it has (``?alt=sse&key=abc``)."""
    if not params:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(parse_qsl(parts.query, keep_blank_values=True) + params)))


def secrets_of(key: str | None, url: str) -> tuple[str, ...]:
    """Every form in which the key or the URL's credentials could come back from a server:
    as given, URL-encoded, and as HTTP Basic (base64 of ``user:password``). A user name is a
    secret when it stands alone (``https://KEY@host``); secret-looking query values too."""
    raw: list[str] = [key] if key else []
    parts = urlsplit(url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if password or user:
        pair = f"{user}:{password}"
        raw += [password or user, pair, base64.b64encode(pair.encode()).decode()]
    raw += [v for k, v in parse_qsl(parts.query) if SECRET_PARAMS.search(k)]
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
        if s and len(s) >= 4 and s in text:
            text = text.replace(s, MASK)
    return text


def clip(text: str, secrets: tuple[str, ...], limit: int) -> str:
    """``text`` scrubbed, *then* shortened to ``limit`` characters (with ``…``): the one way
    a message from a server is made short."""
    text = scrub(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """Every secret replaced by as many ``*``: lengths and offsets are kept, so text joined
    from many pieces (a run's reads, its chunks) can be masked whole and split back where it
    was joined — a key split across two pieces is caught too."""
    for s in secrets:
        if s and len(s) >= 4 and s in text:
            text = text.replace(s, "*" * len(s))
    return text
