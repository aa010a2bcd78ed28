"""Direct HTTP/1.1 connections through the standard library's ``http.client``, as a
net.Transport.

Measured on the loopback copy of the index (cachegrind, the requests of a cold jupyter
lock replayed one after another): a request through httpcore's pool and h11 cost 1.74 M
instructions, through ``http.client`` 0.43 M; httpcore's pool also polls every idle
connection's socket on each request. What this keeps of httpcore's behaviour: kept-alive
connections per host (a connection whose server closed it while idle is noticed on its
next request, which goes once more on a new connection), each host's addresses looked
up once (``hostaddr.HostAddresses``), the timeout for connecting and for each read, TLS
with the certificate checked against the host name, and failures raised as net.py's
errors (httpx's names) with the cause chained (what ``fetcher.network_reason`` reads).
Proxies are not this module's: the session sends those requests through httpx's proxy
transports (viahttpx.py).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

from lockbuild.index import net
from lockbuild.index.hostaddr import HostAddresses

READ_BYTES = 64 * 1024
_Key = tuple[str, str, int]


class _Connection(http.client.HTTPConnection):
    """A connection whose socket is made from addresses looked up once per host."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float | None,
        lookups: HostAddresses,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._lookup = lookups.addresses
        self._forget = lookups.forget
        self._tls = tls

    def connect(self) -> None:
        failure: OSError | None = None
        for address in self._lookup(self.host, self.port):
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
                break
            except OSError as exc:
                failure = exc
        else:
            assert failure is not None
            self._forget(self.host, self.port)  # none answered: look it up again next time
            raise failure
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


class _Body:
    """A response's body, read in chunks; a connection read to the end goes back to the
    pool, one closed early is closed."""

    def __init__(self, response: http.client.HTTPResponse, release: Callable[[bool], None]):
        self._response = response
        self._release = release
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                chunk = self._response.read1(READ_BYTES)
                if not chunk:
                    break
                yield chunk
        except TimeoutError as exc:
            raise net.ReadTimeout(str(exc) or "timed out") from exc
        except http.client.IncompleteRead as exc:
            raise net.RemoteProtocolError(
                f"peer closed connection without sending complete message body: {exc!r}"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise net.ReadError(str(exc) or type(exc).__name__) from exc
        missing = self._response.length
        if missing:
            # read1 returns what came before the end without a word: a body shorter
            # than its Content-Length is an error here, as in httpcore.
            raise net.RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                f"{missing} bytes missing"
            )
        self._finish(reusable=not self._response.will_close)

    def close(self) -> None:
        self._finish(reusable=False)

    def _finish(self, *, reusable: bool) -> None:
        if not self._done:
            self._done = True
            self._response.close()
            self._release(reusable and self._response.isclosed())


class StdlibTransport:
    """GETs over kept-alive ``http.client`` connections, HTTPS with ``tls``."""

    def __init__(
        self,
        *,
        tls: Callable[[], ssl.SSLContext],
        max_idle_per_host: int = 16,
    ) -> None:
        self._tls_factory = tls
        self._tls: ssl.SSLContext | None = None
        self._lookups = HostAddresses()
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._max_idle = max_idle_per_host
        self._closed = False

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                self._tls = self._tls_factory()
            return self._tls

    def _connection(self, key: _Key, timeout: float | None) -> tuple[_Connection, bool]:
        """An idle connection to reuse (True) or a new one (False)."""
        with self._lock:
            if self._closed:
                raise net.ConnectError("the transport was closed")
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        tls = self._context() if scheme == "https" else None
        made = _Connection(host, port, timeout, self._lookups, tls)
        with self._lock:
            self._open.add(made)
        return made, False

    def _release(self, key: _Key, conn: _Connection, reusable: bool) -> None:
        with self._lock:
            if reusable and not self._closed:
                idle = self._idle.setdefault(key, [])
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
            self._open.discard(conn)
        conn.close()

    def _discard(self, conn: _Connection) -> None:
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def handle_request(self, request: net.Request) -> net.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise net.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{url.scheme}://'."
            )
        port = url.port or (443 if url.scheme == "https" else 80)
        key: _Key = (url.scheme, url.raw_host, port)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        timeout = timeouts.get("read") or timeouts.get("connect")
        target = url.target
        while True:
            conn, reused = self._connection(key, timeout)
            try:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in request.headers.raw:
                    conn.putheader(name, value)
                conn.endheaders()
                answer = conn.getresponse()
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
            ) as exc:
                self._discard(conn)
                if reused:
                    continue  # the server closed it while it was idle: once more, anew
                raise net.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
            except TimeoutError as exc:
                connecting = conn.sock is None  # no socket yet: the connection timed out
                self._discard(conn)
                if connecting:
                    raise net.ConnectTimeout(str(exc) or "timed out") from exc
                raise net.ReadTimeout(str(exc) or "timed out") from exc
            except (OSError, http.client.HTTPException) as exc:
                connecting = isinstance(exc, OSError) and conn.sock is None
                self._discard(conn)
                kind = net.ConnectError if connecting else net.RemoteProtocolError
                raise kind(str(exc) or type(exc).__name__) from exc
            except BaseException:
                self._discard(conn)
                raise
            break

        def release(reusable: bool) -> None:
            self._release(key, conn, reusable)

        return net.Response(
            answer.status, headers=answer.getheaders(), stream=_Body(answer, release)
        )

    def close(self) -> None:
        """Close every connection, idle or in use (a thread reading one then fails)."""
        with self._lock:
            self._closed = True
            conns = list(self._open)
            self._open.clear()
            self._idle.clear()
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            conn.close()
