"""The HTTP vocabulary of a GET, without httpx: URL, headers, request, response, body
decoding, the TLS context, and the errors a request can end in.

A run that talks to its index directly never imports httpx (its import, with httpcore,
h11, idna and anyio's parts, cost some 50 ms of every networked run); httpx carries only
the requests that go through a proxy (viahttpx.py), whose errors are translated into
these. What is kept of httpx, because users and the rest of lockbuild see it:

- the error classes' names and texts (``fetcher.network_reason`` falls back on the class
  name, and the retries tell a timeout from a refused connection by class);
- URLs normalized as httpx normalizes them: the scheme and host lower-cased, a default
  port dropped, ``.`` and ``..`` path segments removed, characters a URL may not hold
  percent-encoded (an existing ``%XX`` kept), a non-ASCII host IDNA-encoded; the same
  ``InvalidURL`` texts for what it refuses;
- response bodies decoded by their Content-Encoding (gzip, deflate; another coding is
  passed through, as httpx passes it with no decoder package installed);
- the certificates trusted for HTTPS: ``verify`` (a file or directory) when given, else
  SSL_CERT_FILE or SSL_CERT_DIR, else certifi's bundle.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, overload
from urllib.parse import unquote, urljoin

if TYPE_CHECKING:
    import ssl


# The errors, named as httpx names them (the names reach users' messages).
class HTTPError(Exception):
    """A request that failed (what the fetcher retries or reports)."""


class RequestError(HTTPError):
    pass


class TransportError(RequestError):
    pass


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class PoolTimeout(TimeoutException):
    pass


class NetworkError(TransportError):
    pass


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class WriteError(NetworkError):
    pass


class CloseError(NetworkError):
    pass


class ProtocolError(TransportError):
    pass


class LocalProtocolError(ProtocolError):
    pass


class RemoteProtocolError(ProtocolError):
    pass


class ProxyError(TransportError):
    pass


class UnsupportedProtocol(TransportError):
    pass


class DecodingError(RequestError):
    pass


class TooManyRedirects(RequestError):
    pass


class InvalidURL(Exception):
    """A URL that cannot be requested (not an HTTPError: never retried)."""


# URL syntax (RFC 3986 appendix B), as httpx splits it.
_PARTS = re.compile(
    r"(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*):)?(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?"
)
_AUTHORITY = re.compile(r"(?:(?P<userinfo>.*)@)?(?P<host>\[.*\]|[^:@]*):?(?P<port>.*)?")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_ESCAPE = re.compile("%[A-Fa-f0-9]{2}")
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_SUB_DELIMS = "!$&'()*+,;="


def _printable_but(excluded: tuple[int, ...]) -> str:
    return "".join(chr(i) for i in range(0x20, 0x7F) if i not in excluded)


# What each part may hold unescaped (the WHATWG URL standard's percent-encode sets).
_QUERY_EXCLUDED = (0x20, 0x22, 0x23, 0x3C, 0x3E)
_PATH_EXCLUDED = _QUERY_EXCLUDED + (0x3F, 0x60, 0x7B, 0x7D)
_FRAGMENT_SAFE = _UNRESERVED + _printable_but((0x20, 0x22, 0x3C, 0x3E, 0x60))
_QUERY_SAFE = _UNRESERVED + _printable_but(_QUERY_EXCLUDED)
_PATH_SAFE = _UNRESERVED + _printable_but(_PATH_EXCLUDED)
_USERINFO_SAFE = _UNRESERVED + _printable_but(
    _PATH_EXCLUDED + (0x2F, 0x3B, 0x3D, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x7C)
)
_HOST_SAFE = _UNRESERVED + _SUB_DELIMS + '"`{}%|\\'
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}


def _escaped(text: str, safe: str) -> str:
    """``text`` with each character outside ``safe`` percent-encoded as UTF-8."""
    if not text.rstrip(safe):
        return text  # the common case: nothing to escape
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _quote(text: str, safe: str) -> str:
    """``text`` percent-encoded where ``safe`` does not allow a character, each ``%XX``
    already there kept as it is."""
    if not text.rstrip(safe):
        return text
    pieces: list[str] = []
    done = 0
    for match in _ESCAPE.finditer(text):
        pieces.append(_escaped(text[done : match.start()], safe))
        pieces.append(match.group(0))
        done = match.end()
    pieces.append(_escaped(text[done:], safe))
    return "".join(pieces)


def _encoded_host(host: str) -> str:
    if not host:
        return ""
    if _IPV4_STYLE.fullmatch(host):
        import ipaddress  # only for an address literal

        try:
            ipaddress.IPv4Address(host)
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv4 address: {host!r}") from None
        return host
    if host.startswith("[") and host.endswith("]"):
        import ipaddress  # only for an address literal

        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv6 address: {host!r}") from None
        return host[1:-1]
    if host.isascii():
        return _quote(host.lower(), _HOST_SAFE)
    import idna  # only for a non-ASCII host name (httpx's dependency, IDNA 2008)

    try:
        encoded: str = idna.encode(host.lower()).decode("ascii")
    except idna.IDNAError:
        raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from None
    return encoded


def _without_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    kept: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if kept and kept != [""]:
                kept.pop()
        else:
            kept.append(segment)
    return "/".join(kept)


class URL:
    """A URL, normalized (see the module's docstring); ``str()`` gives it back."""

    __slots__ = ("scheme", "userinfo", "raw_host", "port", "path", "query", "fragment")

    def __init__(self, url: str) -> None:
        if len(url) > 65536:
            raise InvalidURL("URL too long")
        if not url.isprintable():
            for index, char in enumerate(url):
                if char.isascii() and not char.isprintable():
                    raise InvalidURL(
                        f"Invalid non-printable ASCII character in URL, {char!r} at position "
                        f"{index}."
                    )
        parts = _PARTS.match(url)
        assert parts is not None  # every part is optional
        authority = _AUTHORITY.match(parts["authority"] or "")
        assert authority is not None
        given_scheme = parts["scheme"] or ""
        scheme = given_scheme.lower()
        self.scheme = scheme
        self.userinfo = _quote(authority["userinfo"] or "", _USERINFO_SAFE)
        self.raw_host = _encoded_host(authority["host"] or "")
        port = authority["port"]
        if port:
            try:
                number: int | None = int(port)
            except ValueError:
                raise InvalidURL(f"Invalid port: {port!r}") from None
            # The scheme as written, as httpx looks it up: "HTTP://h:80/" keeps its port.
            if number == _DEFAULT_PORTS.get(given_scheme):
                number = None
        else:
            number = None
        self.port = number
        path = parts["path"] or ""
        has_authority = bool(self.userinfo or self.raw_host or number is not None)
        if has_authority and path and not path.startswith("/"):
            raise InvalidURL("For absolute URLs, path must be empty or begin with '/'")
        if not scheme and not has_authority:
            if path.startswith("//"):
                raise InvalidURL("Relative URLs cannot have a path starting with '//'")
            if path.startswith(":"):
                raise InvalidURL("Relative URLs cannot have a path starting with ':'")
        if scheme or has_authority:
            path = _without_dot_segments(path)
        self.path = _quote(path, _PATH_SAFE)
        query = parts["query"]
        self.query = None if query is None else _quote(query, _QUERY_SAFE)
        fragment = parts["fragment"]
        self.fragment = None if fragment is None else _quote(fragment, _FRAGMENT_SAFE)

    @property
    def host(self) -> str:
        """The host, IDNA-decoded (what netrc and NO_PROXY are matched against)."""
        if self.raw_host.startswith("xn--"):
            import idna  # only for an IDNA host name

            decoded: str = idna.decode(self.raw_host)
            return decoded
        return self.raw_host

    @property
    def netloc(self) -> str:
        """The host (bracketed when IPv6) and the port if not the default: Host's value."""
        host = f"[{self.raw_host}]" if ":" in self.raw_host else self.raw_host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def username(self) -> str:
        return unquote(self.userinfo.partition(":")[0])

    @property
    def password(self) -> str:
        return unquote(self.userinfo.partition(":")[2])

    @property
    def target(self) -> str:
        """The path and query, as a request line names them."""
        path = self.path or "/"
        return path if self.query is None else f"{path}?{self.query}"

    @property
    def is_relative_url(self) -> bool:
        return not (self.scheme and self.raw_host)

    def join(self, other: str) -> URL:
        """``other`` resolved against this URL."""
        return URL(urljoin(str(self), str(URL(other))))

    def replaced(self, *, host: str | None = None, fragment: str | None = None) -> URL:
        """This URL with another host (as it would appear in a URL) or fragment."""
        made = URL.__new__(URL)
        for name in URL.__slots__:
            setattr(made, name, getattr(self, name))
        if host is not None:
            made.raw_host = _encoded_host(host)
        if fragment is not None:
            made.fragment = _quote(fragment, _FRAGMENT_SAFE)
        return made

    def __str__(self) -> str:
        authority = self.netloc
        if self.userinfo:
            authority = f"{self.userinfo}@{authority}"
        return "".join(
            (
                f"{self.scheme}:" if self.scheme else "",
                f"//{authority}" if authority else "",
                self.path,
                "" if self.query is None else f"?{self.query}",
                "" if self.fragment is None else f"#{self.fragment}",
            )
        )

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"


class Headers:
    """HTTP headers in their order, looked up by name case-insensitively; a name given
    more than once reads as its values joined with ", "."""

    __slots__ = ("raw",)

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] | Headers = ()) -> None:
        if isinstance(items, Headers):
            self.raw: list[tuple[str, str]] = list(items.raw)
        elif isinstance(items, dict):
            self.raw = list(items.items())
        else:
            self.raw = list(items)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        values = [v for k, v in self.raw if k.lower() == name]
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, comma-separated ones split."""
        name = name.lower()
        return [part.strip() for k, v in self.raw if k.lower() == name for part in v.split(",")]

    def __getitem__(self, name: str) -> str:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self.raw)

    def __setitem__(self, name: str, value: str) -> None:
        """``name`` set to ``value`` where it first stood (at the end if new)."""
        lowered = name.lower()
        at = next((i for i, (k, _) in enumerate(self.raw) if k.lower() == lowered), None)
        if at is None:
            self.raw.append((name, value))
            return
        self.raw[at] = (name, value)
        self.raw[at + 1 :] = [(k, v) for k, v in self.raw[at + 1 :] if k.lower() != lowered]

    def pop(self, name: str, default: str | None = None) -> str | None:
        found = self.get(name)
        lowered = name.lower()
        self.raw = [(k, v) for k, v in self.raw if k.lower() != lowered]
        return default if found is None else found

    def items(self) -> list[tuple[str, str]]:
        return list(self.raw)

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


class Request:
    """A request to send: the Host header first, then ``headers``."""

    __slots__ = ("method", "url", "headers", "extensions")

    def __init__(
        self,
        method: str,
        url: URL | str,
        *,
        headers: Headers | dict[str, str] | Iterable[tuple[str, str]] = (),
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.url = url if isinstance(url, URL) else URL(url)
        given = Headers(headers)
        if "Host" not in given and self.url.raw_host:
            given.raw.insert(0, ("Host", self.url.netloc))
        self.headers = given
        self.extensions: dict[str, Any] = extensions or {}

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


def timeouts(seconds: float | None) -> dict[str, float | None]:
    """The ``timeout`` extension of a request: ``seconds`` for every step."""
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


class ByteStream(Protocol):
    """A response body as it arrives; ``close`` ends it early."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Content:
    """A body already in memory."""

    def __init__(self, body: bytes = b"") -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        if self._body:
            yield self._body

    def close(self) -> None:
        pass


class _Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Deflate:
    """deflate as servers send it: zlib-wrapped, or (some) raw."""

    def __init__(self) -> None:
        import zlib  # only for an encoded body

        self._zlib = zlib
        self._inner = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes) -> bytes:
        first, self._first = self._first, False
        try:
            return self._inner.decompress(data)
        except self._zlib.error:
            if not first:
                raise
            self._inner = self._zlib.decompressobj(-self._zlib.MAX_WBITS)
            return self._inner.decompress(data)

    def flush(self) -> bytes:
        return self._inner.flush()


def _decoders(encodings: list[str]) -> list[_Decoder]:
    """One decoder for each coding applied, in the order to undo them."""
    made: list[_Decoder] = []
    for coding in reversed(encodings):
        coding = coding.lower()
        if coding == "gzip":
            import zlib  # only for an encoded body

            made.append(zlib.decompressobj(zlib.MAX_WBITS | 16))
        elif coding == "deflate":
            made.append(_Deflate())
    return made


class Response:
    """A response, its body read (``iter_bytes``: decoded; ``iter_raw``: as sent) from
    ``stream``; ``decoded``: the stream gives the body decoded already."""

    def __init__(
        self,
        status_code: int,
        *,
        headers: Headers | dict[str, str] | Iterable[tuple[str, str]] = (),
        stream: ByteStream | None = None,
        content: bytes = b"",
        decoded: bool = False,
        request: Request | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = Headers(headers)
        self.stream: ByteStream = stream if stream is not None else Content(content)
        self.decoded = decoded
        self.request = request

    @property
    def url(self) -> URL:
        assert self.request is not None
        return self.request.url

    def iter_raw(self) -> Iterator[bytes]:
        yield from self.stream

    def iter_bytes(self) -> Iterator[bytes]:
        encodings = [] if self.decoded else self.headers.get_list("content-encoding")
        decoders = _decoders(encodings) if encodings else []
        if not decoders:
            yield from self.stream
            return
        import zlib  # only for an encoded body

        try:
            for chunk in self.stream:
                for decoder in decoders:
                    chunk = decoder.decompress(chunk)
                if chunk:
                    yield chunk
            for at, decoder in enumerate(decoders):
                chunk = decoder.flush()
                for after in decoders[at + 1 :]:
                    chunk = after.decompress(chunk)
                if chunk:
                    yield chunk
        except zlib.error as exc:
            raise DecodingError(str(exc)) from exc

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def close(self) -> None:
        self.stream.close()


class Transport(Protocol):
    """What carries requests: wire.StdlibTransport, or httpx's through viahttpx."""

    def handle_request(self, request: Request) -> Response: ...

    def close(self) -> None: ...


def tls_context(verify: str | bool) -> ssl.SSLContext:
    """The TLS context of HTTPS requests, trusting ``verify`` (a CA file or directory;
    True: SSL_CERT_FILE, SSL_CERT_DIR, else certifi's bundle), as httpx made it."""
    import ssl  # only for HTTPS

    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi  # httpx's dependency, the bundle pip's vendored requests uses too

    return ssl.create_default_context(cafile=certifi.where())
