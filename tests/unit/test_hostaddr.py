"""Host addresses looked up once per run (lockbuild/index/hostaddr.py), against an
in-memory network backend: one lookup per host however many connections are opened,
addresses tried in the resolver's order, a host none of whose addresses answers looked
up again, IP literals never looked up, kept addresses expiring. A compile against an
index named by host name is in tests/functional/test_hostaddr.py."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpcore
import pytest

from lockbuild.index import hostaddr
from lockbuild.index.hostaddr import HostAddresses

pytestmark = pytest.mark.unit


class FakeBackend(httpcore.NetworkBackend):
    """Records where it was asked to connect; addresses in ``refuse`` fail."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = set(refuse or ())
        self.connects: list[str] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connects.append(host)
        if host in self.refuse:
            raise httpcore.ConnectError(f"refused: {host}")
        return f"stream to {host}:{port}"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """socket.getaddrinfo answering from a table, counting the questions."""
    state: dict[str, Any] = {"asked": [], "table": {"index.test": ["10.0.0.1", "10.0.0.2"]}}

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        state["asked"].append(host)
        if host not in state["table"]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family = socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in state["table"][host]]

    monkeypatch.setattr(hostaddr.socket, "getaddrinfo", getaddrinfo)
    return state


def test_one_lookup_for_many_connections(lookups: dict[str, Any]) -> None:
    inner = FakeBackend()
    backend = HostAddresses(inner)
    threads = [
        threading.Thread(target=backend.connect_tcp, args=("index.test", 443)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lookups["asked"] == ["index.test"]
    assert inner.connects == ["10.0.0.1"] * 8


def test_addresses_tried_in_order_and_looked_up_again_when_none_answers(
    lookups: dict[str, Any],
) -> None:
    inner = FakeBackend(refuse={"10.0.0.1"})
    backend = HostAddresses(inner)
    assert backend.connect_tcp("index.test", 443) == "stream to 10.0.0.2:443"
    assert inner.connects == ["10.0.0.1", "10.0.0.2"]
    inner.refuse.add("10.0.0.2")
    with pytest.raises(httpcore.ConnectError, match="refused: 10.0.0.2"):
        backend.connect_tcp("index.test", 443)
    assert lookups["asked"] == ["index.test"]
    lookups["table"]["index.test"] = ["10.0.0.3"]
    assert backend.connect_tcp("index.test", 443) == "stream to 10.0.0.3:443"
    assert lookups["asked"] == ["index.test", "index.test"]


def test_address_literals_and_failed_lookups(lookups: dict[str, Any]) -> None:
    inner = FakeBackend()
    backend = HostAddresses(inner)
    assert backend.connect_tcp("127.0.0.1", 80) == "stream to 127.0.0.1:80"
    assert backend.connect_tcp("::1", 80) == "stream to ::1:80"
    assert lookups["asked"] == []
    with pytest.raises(httpcore.ConnectError, match="not known"):
        backend.connect_tcp("nowhere.test", 443)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("nowhere.test", 443)
    assert lookups["asked"] == ["nowhere.test", "nowhere.test"]  # failures are not kept


def test_kept_addresses_expire(lookups: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(hostaddr.time, "monotonic", lambda: clock[0])
    backend = HostAddresses(FakeBackend())
    backend.connect_tcp("index.test", 443)
    clock[0] += hostaddr.KEEP_SECONDS - 1
    backend.connect_tcp("index.test", 443)
    assert lookups["asked"] == ["index.test"]
    clock[0] += 2
    backend.connect_tcp("index.test", 443)
    assert lookups["asked"] == ["index.test", "index.test"]
