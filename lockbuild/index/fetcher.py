"""Fetching: index pages (revalidated by their Cache-Control), files with size limits,
ranges of remote files read as seekable files, over HTTP(S) or from ``file://``."""

from __future__ import annotations

import errno
import io
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lockbuild import limits
from lockbuild.errors import FetchError
from lockbuild.index.cache import Cache, CachedPage, sha256_hex
from lockbuild.indexopts import FIRST_INDEX, IndexOptions

if TYPE_CHECKING:
    import ssl

    from lockbuild.index.session import Session

from lockbuild.credentials import Credentials, redact, redact_text
from lockbuild.index import net
from lockbuild.index.page import JSON_TYPE
from lockbuild.index.pipconfig import pip_default_index

ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class Sources:
    """Where to look for distributions: index URLs in the order they are asked, then
    find-links locations. With ``first_index`` a project's files come from the first
    index that lists it (and find-links), as uv's first-index strategy takes them."""

    index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    first_index: bool = False
    default_index: str = ""  # pip's default index (where no --index-url is given)

    @classmethod
    def from_options(cls, options: IndexOptions) -> Sources:
        default = ""
        if not options.no_index and not options.index_url:
            default = options.default_index or pip_default_index()
        indexes = options.search_order(default)
        return cls(
            tuple(u.rstrip("/") + "/" for u in indexes),
            options.find_links,
            first_index=options.strategy == FIRST_INDEX,
            default_index=default,
        )


def local_path(url: str) -> Path:
    """The path a ``file:`` URL names."""
    from urllib.request import url2pathname  # start-up speed: only local sources need it

    return Path(url2pathname(unquote(urlsplit(url).path)))


def file_url(path: Path) -> str:
    from urllib.request import pathname2url  # start-up speed, as above

    return "file://" + pathname2url(str(path.resolve()))


class Fetcher:
    """Bytes from http(s) and file URLs, with bounded retries and page revalidation."""

    def __init__(
        self,
        cache: Cache,
        *,
        offline: bool = False,
        timeout: float = 30.0,
        refresh: bool = False,
        transport: net.Transport | None = None,
    ) -> None:
        self.cache = cache
        # What carries the requests (None: the network, see client()); tests give an
        # in-memory one.
        self.transport = transport
        self.offline = offline
        self.refresh = refresh  # revalidate every page, fresh or not
        self.timeout = timeout
        self._client: Session | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._auth = Credentials()
        self.request_count = 0
        # What this run read, so that a later identical run can check it (see replay.py):
        # each page's sha256 (None: the index has no such page), and why the run cannot be
        # replayed at all ('' while it can).
        self.pages_read: dict[str, str | None] = {}
        self.unrepeatable = ""
        self._preloaded: dict[str, tuple[tuple[bytes, str, str] | None, str | None]] = {}

    def client(self) -> Session:
        with self._lock:
            if self._closed:
                raise FetchError("the index client was closed (interrupted)")
            if self._client is None:
                # start-up speed: http.client and ssl only once something is fetched
                from lockbuild.index.session import Session
                from lockbuild.index.wire import StdlibTransport

                # pip's order: its own --cert (PIP_CERT) before the TLS library's
                # SSL_CERT_FILE, which a --cert given on the command line must not lose to.
                verify: str | bool = (
                    os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or True
                )

                def tls() -> ssl.SSLContext:
                    # Made on the first HTTPS request: loading the trusted certificates
                    # costs some 40 ms of CPU, which an index over plain HTTP never needs.
                    return net.tls_context(verify)

                def proxied(proxy: str) -> net.Transport:
                    # start-up speed: httpx (some 50 ms) only for a request through a proxy
                    from lockbuild.index.viahttpx import proxy_transport

                    try:
                        return proxy_transport(proxy, verify)
                    except ImportError:
                        # httpx carries SOCKS proxies only with its optional socksio
                        raise FetchError(
                            f"proxy {redact(proxy)}: a SOCKS proxy needs the socksio "
                            "package (pip install 'httpx[socks]')"
                        ) from None

                self._client = Session(
                    self.transport or StdlibTransport(tls=tls),
                    auth=self._auth,
                    timeout=self.timeout,
                    # Proxies from the environment, unless a transport was given (it
                    # carries every request then).
                    proxied=proxied if self.transport is None else None,
                )
            return self._client

    def close(self) -> None:
        """Close connections; requests still running in other threads fail and stop retrying."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def get_page(self, url: str) -> tuple[bytes, str, str] | None:
        """Body, content type and final URL of an index page; None when it does not exist."""
        return self.get_page_and_digest(url)[0]

    def get_page_and_digest(self, url: str) -> tuple[tuple[bytes, str, str] | None, str | None]:
        """get_page's answer and the sha256 of its body (None: no page, or a local one)."""
        with self._lock:
            preloaded = self._preloaded.pop(url, None)
        if preloaded is None:
            page, digest = self._get_page(url)
        else:
            page, digest = preloaded
        if url.startswith("file:"):
            self.refuse_replay(f"{url} is a local page")
        else:
            if page is not None and digest is None:
                digest = sha256_hex(page[0])
            with self._lock:
                self.pages_read[url] = digest
            return page, digest
        return page, None

    def page_digest(self, url: str) -> str | None:
        """The sha256 of the page this run read at ``url`` (None: none read, or local)."""
        with self._lock:
            return self.pages_read.get(url)

    def preload(
        self, url: str, page: tuple[bytes, str, str] | None, digest: str | None = None
    ) -> None:
        """A page already fetched in this run: the next get_page of ``url`` returns it.
        ``digest``: its body's sha256 as this run computed it when it was fetched (not
        computed again for a page of several megabytes)."""
        with self._lock:
            self._preloaded[url] = (page, digest)

    def refuse_replay(self, why: str) -> None:
        with self._lock:
            self.unrepeatable = self.unrepeatable or why

    def _get_page(self, url: str) -> tuple[tuple[bytes, str, str] | None, str | None]:
        """The page, and its body's sha256 when that is already known (None: not yet
        computed, or no page)."""
        limit = limits.max_page_bytes()
        if url.startswith("file:"):
            path = local_path(url)
            try:
                if path.is_dir():
                    path = path / "index.html"
                if path.stat().st_size > limit:
                    raise FetchError(f"{redact(url)}: page larger than {limit} bytes")
                return (path.read_bytes(), "text/html", url), None
            except FileNotFoundError:
                return None, None
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    return None, None  # no project of that name can be on a local index
                raise FetchError(f"{redact(url)}: {exc.strerror or exc}") from None
        fresh = self.cache.get_page(url, body=False)
        usable = fresh is not None and (
            self.offline
            or (
                not self.refresh
                and fresh.fresh_until is not None
                and time.time() < fresh.fresh_until
            )
        )
        needs_body = usable or (fresh is not None and bool(fresh.etag or fresh.last_modified))
        cached = self.cache.with_body(fresh) if needs_body and fresh is not None else fresh
        if self.offline:
            if cached is None:
                raise FetchError(f"{redact(url)}: not in the cache (--offline)")
            return _kept(cached, url)
        if (
            cached is not None
            and not self.refresh
            and cached.fresh_until is not None
            and time.time() < cached.fresh_until
        ):
            # Still fresh by the index's own Cache-Control: no request, as pip and uv do.
            return _kept(cached, url)
        headers = {"Accept": ACCEPT}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        response = self._request(url, headers, limit)
        if response is None:
            # Remembered so that --offline knows the project is not on this index.
            self.cache.put_page(CachedPage(url, b"", "", None, None, missing=True))
            return None, None
        status, body, resp_headers, final_url = response
        fresh_until = _fresh_until(resp_headers.get("cache-control"))
        if status == 304 and cached is not None and not cached.missing and cached.body:
            if fresh_until is not None:
                self.cache.put_page(replace(cached, fresh_until=fresh_until))
            return _kept(cached, url)
        # No Content-Type stays empty: such a page is refused, as pip refuses it.
        content_type = resp_headers.get("content-type", "").split(";")[0].strip()
        digest = sha256_hex(body)  # once: the cache's key of the body and what replay checks
        self.cache.put_page(
            CachedPage(
                url=url,
                body=body,
                content_type=content_type,
                etag=resp_headers.get("etag"),
                last_modified=resp_headers.get("last-modified"),
                fresh_until=fresh_until,
                body_key=digest,
            )
        )
        return (body, content_type, final_url), digest

    def get_bytes(self, url: str, limit: int = MAX_FILE_BYTES) -> bytes:
        """The body at ``url``; a missing file is an error."""
        if url.startswith("file:"):
            try:
                return local_path(url).read_bytes()
            except OSError as exc:
                raise FetchError(f"{redact(url)}: {exc.strerror or exc}") from None
        if self.offline:
            raise FetchError(f"{redact(url)}: not in the cache (--offline)")
        response = self._request(url, {}, limit)
        if response is None:
            raise FetchError(f"{redact(url)}: not found (404)")
        return response[1]

    def get_range(self, url: str, first: int | None, last: int) -> tuple[bytes, int | None]:
        """Bytes ``first``..``last`` (inclusive) of the file at ``url``, or its last ``last``
        bytes when ``first`` is None, with the file's whole size; a server that ignores
        the Range header sends the whole file, and the size is then None."""
        if self.offline:
            raise FetchError(f"{redact(url)}: not in the cache (--offline)")
        spec = f"bytes=-{last}" if first is None else f"bytes={first}-{last}"
        # identity: a range of an encoded body would be a range of other bytes
        response = self._request(
            url, {"Range": spec, "Accept-Encoding": "identity"}, MAX_FILE_BYTES
        )
        if response is None:
            raise FetchError(f"{redact(url)}: not found (404)")
        status, body, headers, _ = response
        if status != 206:
            return body, None
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
        if match is None:
            raise FetchError(f"{redact(url)}: malformed Content-Range in a partial answer")
        start, end, total = (int(g) for g in match.groups())
        expected_start = max(0, total - last) if first is None else first
        if start != expected_start or end - start + 1 != len(body) or end >= total:
            raise FetchError(f"{redact(url)}: the partial answer is not the range asked for")
        return body, total

    def _request(
        self, url: str, headers: dict[str, str], limit: int
    ) -> tuple[int, bytes, Any, str] | None:
        """GET ``url``: None for 404/410; timeouts, resets, 5xx and short bodies are retried
        with backoff, a bounded number of times; anything else fails at once."""
        attempts = limits.retries()
        deadline = limits.deadline()
        delay = 0.25
        last_error = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(delay)
                delay *= 2
            with self._lock:
                self.request_count += 1
            started = time.monotonic()
            try:
                with self.client().stream(url, headers) as response:
                    if response.status_code == 404 or response.status_code == 410:
                        return None
                    if response.status_code >= 500 or response.status_code == 429:
                        last_error = f"server error (HTTP {response.status_code})"
                        continue
                    if response.status_code in (401, 403):
                        raise FetchError(
                            f"{redact(url)}: access denied (HTTP {response.status_code})"
                        )
                    allowed = (200, 203, 304, 206) if "Range" in headers else (200, 203, 304)
                    if response.status_code not in allowed:
                        raise FetchError(f"{redact(url)}: HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise FetchError(f"{redact(url)}: response larger than {limit} bytes")
                    # Chunks joined once at the end: one copy of a multi-megabyte page.
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > limit:
                            raise FetchError(f"{redact(url)}: response larger than {limit} bytes")
                        if time.monotonic() - started > deadline:
                            raise FetchError(
                                f"{redact(url)}: response still incomplete after {deadline:g}s "
                                "(LOCKBUILD_DEADLINE)"
                            )
                    body = b"".join(chunks)
                    return response.status_code, body, response.headers, str(response.url)
            except (net.InvalidURL, net.UnsupportedProtocol) as exc:
                raise FetchError(f"{redact(url)}: cannot fetch: {redact_text(str(exc))}") from None
            except net.TimeoutException as exc:
                step = "connecting" if isinstance(exc, net.ConnectTimeout) else "waiting"
                last_error = f"timed out after {self.timeout:g}s {step}"
            except net.HTTPError as exc:
                last_error = network_reason(exc)
            if self._closed:
                break
        tried = f"tried {attempts} times" if attempts > 1 else "tried once"
        raise FetchError(f"{redact(url)}: {last_error} ({tried})")


def network_reason(exc: BaseException) -> str:
    """What went wrong under an HTTP client error, in the words uv and browsers use:
    connection refused, DNS, TLS, reset; the class name only when nothing says more."""
    import socket  # here: only a failed request needs them (start-up stays light)
    import ssl

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            said = getattr(item, "verify_message", None) or getattr(item, "reason", None)
            return f"TLS certificate not trusted ({said or item.strerror or item})"
        if isinstance(item, ssl.SSLError):
            return f"TLS error ({getattr(item, 'reason', None) or item.strerror or item})"
        if isinstance(item, socket.gaierror):
            return f"DNS lookup failed ({item.strerror or item})"
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, ConnectionResetError):
            return "connection reset by the server"
    text = " ".join(str(exc).split())
    lowered = text.lower()
    for words, reason in (
        (("connection refused", "errno 111"), "connection refused"),
        (("name or service not known", "nodename nor servname", "name resolution"), "DNS"),
        (("certificate verify failed",), "TLS certificate not trusted"),
        (("ssl", "tls"), "TLS error"),
        (("connection reset", "errno 104"), "connection reset by the server"),
        (("server disconnected", "peer closed connection"), "the server closed the connection"),
    ):
        if any(word in lowered for word in words):
            return f"DNS lookup failed ({text})" if reason == "DNS" else reason
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class RemoteFile(io.RawIOBase):
    """A file on a server, read through HTTP range requests, for ``zipfile`` to seek
    around in: what was read is kept, and each miss fetches at least ``MIN_FETCH`` bytes,
    so reading a wheel's METADATA takes one to three requests. (Not the archive
    readers' SeekableReader: the archive modules load only once a file is read.)"""

    MIN_FETCH = 64 * 1024
    MAX_REQUESTS = 12

    def __init__(self, fetcher: Fetcher, url: str, size: int, tail: bytes) -> None:
        super().__init__()
        self._fetcher = fetcher
        self._url = url
        self._size = size
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = [(size - len(tail), tail)]
        self.requests = 1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._size - self._pos)
        if count <= 0:
            return 0
        data = self._bytes(self._pos, count)
        view[:count] = data
        self._pos += count
        return count

    def _bytes(self, start: int, count: int) -> bytes:
        for span_start, chunk in self._spans:
            if span_start <= start and start + count <= span_start + len(chunk):
                return chunk[start - span_start : start - span_start + count]
        if self.requests >= self.MAX_REQUESTS:
            raise FetchError(f"{redact(self._url)}: too many range requests for one file")
        self.requests += 1
        last = min(self._size, start + max(count, self.MIN_FETCH)) - 1
        chunk, total = self._fetcher.get_range(self._url, start, last)
        if total != self._size:
            raise FetchError(f"{redact(self._url)}: the file changed between range requests")
        self._spans.append((start, chunk))
        return chunk[:count]


def _kept(cached: CachedPage, url: str) -> tuple[tuple[bytes, str, str] | None, str | None]:
    """A page from the cache, with its digest (the cache checked the body against it)."""
    if cached.missing:
        return None, None
    return (cached.body, cached.content_type, url), cached.body_key or None


def _fresh_until(cache_control: str | None) -> float | None:
    """When a response stops being fresh by its Cache-Control (None: revalidate always)."""
    if not cache_control:
        return None
    directives = {d.strip().split("=", 1)[0].lower(): d for d in cache_control.split(",")}
    if {"no-cache", "no-store"} & set(directives):
        return None
    match = re.search(r"max-age\s*=\s*(\d+)", cache_control)
    return time.time() + int(match.group(1)) if match else None
