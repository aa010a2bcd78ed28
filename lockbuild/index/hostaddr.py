"""Host addresses looked up once per run for the HTTP client's connections.

httpcore opens a connection for every request that finds no idle one, and each new
connection asks the system resolver again: a cold lock opens a dozen or more to the index
and its file host, nearly all in the first burst of parallel requests, so the lookups sit
on the path to the first pages (and a resolver that stalls now and then stalls one of
them). Here a host's addresses are looked up once and kept for a few minutes; each
connection then tries them in the order the resolver gave, as the standard library's
``socket.create_connection`` does, and a host none of whose addresses answers is looked
up again next time. TLS still names the host (wire.py passes it to the handshake
separately), so certificates are checked against the name, not the address. The
connections are wire.py's, which asks ``_addresses``; ``connect_tcp`` serves httpcore.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore  # this module is imported only once something is fetched (fetcher.client)

# How long looked-up addresses are used (a run rarely lasts longer).
KEEP_SECONDS = 300.0


class HostAddresses(httpcore.NetworkBackend):
    """httpcore's own network backend, with each host's addresses looked up once."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int], tuple[float, list[str]]] = {}
        # One lookup per host at a time: parallel connections wait for the first.
        self._looking: dict[tuple[str, int], threading.Lock] = {}

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        options = list(socket_options) if socket_options is not None else None
        addresses = self._addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        with self._lock:
            self._known.pop((host, port), None)  # none answered: look it up again
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        key = (host, port)
        with self._lock:
            lookup = self._looking.setdefault(key, threading.Lock())
        with lookup:
            with self._lock:
                known = self._known.get(key)
            if known is not None and time.monotonic() < known[0]:
                return known[1]
            try:
                found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:  # what httpcore's backend makes of a failed lookup
                raise httpcore.ConnectError(str(exc)) from exc
            addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
            if not addresses:
                raise httpcore.ConnectError(f"no address for {host}")
            with self._lock:
                self._known[key] = (time.monotonic() + KEEP_SECONDS, addresses)
            return addresses
