"""Host addresses looked up once per run for the HTTP client's connections.

A connection opened for every request that finds no idle one would ask the system
resolver again each time: a cold lock opens a dozen or more to the index and its file
host, nearly all in the first burst of parallel requests, so the lookups would sit on the
path to the first pages (and a resolver that stalls now and then stalls one of them).
Here a host's addresses are looked up once and kept for a few minutes; each connection
then tries them in the order the resolver gave, as the standard library's
``socket.create_connection`` does, and a host none of whose addresses answers is looked
up again next time (``forget``). TLS still names the host (wire.py passes it to the
handshake separately), so certificates are checked against the name, not the address.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

# How long looked-up addresses are used (a run rarely lasts longer).
KEEP_SECONDS = 300.0


class HostAddresses:
    """Each host's addresses, looked up once and kept for ``KEEP_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int], tuple[float, list[str]]] = {}
        # One lookup per host at a time: parallel connections wait for the first.
        self._looking: dict[tuple[str, int], threading.Lock] = {}

    def forget(self, host: str, port: int) -> None:
        """None of ``host``'s addresses answered: look it up again next time."""
        with self._lock:
            self._known.pop((host, port), None)

    def addresses(self, host: str, port: int) -> list[str]:
        """``host``'s addresses in the resolver's order (an address literal as it is);
        a failed lookup raises the resolver's error (socket.gaierror), and is not kept."""
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
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
            if not addresses:
                raise OSError(f"no address for {host}")
            with self._lock:
                self._known[key] = (time.monotonic() + KEEP_SECONDS, addresses)
            return addresses
