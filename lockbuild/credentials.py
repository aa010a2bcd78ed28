"""URL credentials: redaction (a password or token never reaches a message or a
file), credentials kept per host, and netrc."""

from __future__ import annotations

import base64
import netrc
import os
import re
import threading
from typing import Protocol, TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit


def _userinfo(url: str) -> tuple[SplitResult, str | None, str]:
    """``url`` split, with the user info of its authority (None when there is none) and
    the host part after it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return parts, None, parts.netloc
    userinfo, host = parts.netloc.rsplit("@", 1)
    return parts, userinfo, host


def redact(url: str) -> str:
    """``url`` with any password or token replaced by ``****``."""
    parts, userinfo, host = _userinfo(url)
    if userinfo is None:
        return url
    user = userinfo.split(":", 1)[0]
    shown = f"{user}:****" if ":" in userinfo else "****"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def unredacted(url: str) -> str:
    """A URL ``redact`` wrote, without the ``****``: ``user@host`` lets pip and uv find
    the password in keyring or netrc, as they would for an ``--index-url`` without one."""
    parts, userinfo, host = _userinfo(url)
    if userinfo is None:
        return url
    user, _, password = userinfo.partition(":")
    if "****" not in (password or user):
        return url
    netloc = host if user == "****" else f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def without_userinfo(url: str) -> str:
    """``url`` with no credentials at all (what may be kept on disk)."""
    parts, _, host = _userinfo(url)
    return urlunsplit(parts._replace(netloc=host))


# A URL in text: a scheme, "://" and everything up to white space or a quote.
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"]+")
_SCHEME_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_SCHEME_CHARACTERS = _SCHEME_LETTERS | frozenset("0123456789+.-")


def redact_text(text: str) -> str:
    """Every URL inside ``text`` redacted (each leftmost-longest match of ``_URL``).

    Only a URL with user info changes, so text without an "@" is returned as it is. The
    URLs are found from each "://" (one scan in C) and the scheme before it, rather than by
    ``_URL`` alone, whose leading character class made the regex engine try every letter
    of a rendered lock (most of the time a compile spent writing its files)."""
    if "@" not in text:
        return text
    pieces: list[str] = []
    done = 0  # text before this is copied or redacted
    at = text.find("://")
    while at != -1:
        start = at
        while start > done and text[start - 1] in _SCHEME_CHARACTERS:
            start -= 1
        while start < at and text[start] not in _SCHEME_LETTERS:
            start += 1
        found = _URL.match(text, start) if start < at else None
        if found is None:
            at = text.find("://", at + 3)
            continue
        pieces.append(text[done:start])
        pieces.append(redact(found.group(0)))
        done = found.end()
        at = text.find("://", done)
    pieces.append(text[done:])
    return "".join(pieces)


# Anchored on the literal "://" rather than the scheme: the regex engine then jumps from
# one "://" to the next, where a leading character class made it try every letter of a
# multi-megabyte index page (a third of a cold run's CPU). Text with "://" and no scheme
# before it is treated as a URL too, which can only keep more out of the cache.
_USERINFO = re.compile(r"://([^\s'\"/@]+)@")


def holds_secret(text: str) -> bool:
    """Whether ``text`` has a URL whose user info ``redact`` would hide (a password, or a
    token given as the user name): such text is never kept on disk."""
    if "@" not in text:
        # No user info without an "@": one scan in C, where most records (a page's
        # listings, megabytes of file names and hashes) have none.
        return False
    return any(
        m.group(1) != "****" and m.group(1).partition(":")[2] != "****"
        for m in _USERINFO.finditer(text)
    )


class _RequestURL(Protocol):
    @property
    def scheme(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...


class _Headers(Protocol):
    def __setitem__(self, name: str, value: str) -> None: ...


class _Request(Protocol):
    """What ``Credentials`` reads and sets of a request (the index side's net.Request)."""

    @property
    def url(self) -> _RequestURL: ...
    @property
    def headers(self) -> _Headers: ...


_R = TypeVar("_R", bound=_Request)


class Credentials:
    """HTTP basic auth as pip sends it: the credentials in the URL; else those last given
    in a URL for the same scheme, host and port (an index URL's, for its files); else the
    host's entry in the netrc file. The credentials never leave this object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str, int | None], tuple[str, str] | None] = {}

    def __call__(self, request: _R) -> _R:
        url = request.url
        key = (url.scheme, url.host, url.port)
        found: tuple[str, str] | None
        if url.username or url.password:
            found = (url.username, url.password)
            with self._lock:
                self._known[key] = found
        else:
            with self._lock:
                known = key in self._known
                found = self._known.get(key)
            if not known:
                found = netrc_credentials(url.host)
                with self._lock:
                    self._known.setdefault(key, found)
        if found is not None:
            token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")
            request.headers["Authorization"] = f"Basic {token}"
        return request


def netrc_credentials(host: str) -> tuple[str, str] | None:
    """Login and password for ``host`` from $NETRC or ~/.netrc (~/_netrc), found and read
    the way pip (through requests) does; an unreadable file is ignored."""
    env = os.environ.get("NETRC")
    candidates = [env] if env else ["~/.netrc", "~/_netrc"]
    for candidate in candidates:
        path = os.path.expanduser(candidate)
        if not os.path.exists(path):
            continue
        try:
            entry = netrc.netrc(path).authenticators(host)
        except (netrc.NetrcParseError, OSError, UnicodeDecodeError):
            return None
        if entry is None:
            return None
        login, account, password = entry
        return (login or account or ""), (password or "")
    return None
