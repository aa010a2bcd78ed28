"""Host addresses looked up once per run (lockbuild/index/hostaddr.py), with the resolver
answering from a table: one lookup per host however many connections ask, addresses in
the resolver's order, a forgotten host (none of its addresses answered) looked up again,
IP literals never looked up, failed lookups not kept, kept addresses expiring. Trying the
addresses in order is wire.py's (tests/unit/test_wire.py); a compile against an index
named by host name is in tests/functional/test_hostaddr.py."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from lockbuild.index import hostaddr
from lockbuild.index.hostaddr import HostAddresses

pytestmark = pytest.mark.unit


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
    known = HostAddresses()
    found: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: found.append(known.addresses("index.test", 443)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lookups["asked"] == ["index.test"]
    assert found == [["10.0.0.1", "10.0.0.2"]] * 8


def test_a_forgotten_host_is_looked_up_again(lookups: dict[str, Any]) -> None:
    known = HostAddresses()
    assert known.addresses("index.test", 443) == ["10.0.0.1", "10.0.0.2"]
    assert known.addresses("index.test", 443) == ["10.0.0.1", "10.0.0.2"]
    assert lookups["asked"] == ["index.test"]
    lookups["table"]["index.test"] = ["10.0.0.3"]
    known.forget("index.test", 443)
    assert known.addresses("index.test", 443) == ["10.0.0.3"]
    assert lookups["asked"] == ["index.test", "index.test"]


def test_address_literals_and_failed_lookups(lookups: dict[str, Any]) -> None:
    known = HostAddresses()
    assert known.addresses("127.0.0.1", 80) == ["127.0.0.1"]
    assert known.addresses("::1", 80) == ["::1"]
    assert lookups["asked"] == []
    with pytest.raises(socket.gaierror, match="not known"):
        known.addresses("nowhere.test", 443)
    with pytest.raises(socket.gaierror):
        known.addresses("nowhere.test", 443)
    assert lookups["asked"] == ["nowhere.test", "nowhere.test"]  # failures are not kept


def test_kept_addresses_expire(lookups: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(hostaddr.time, "monotonic", lambda: clock[0])
    known = HostAddresses()
    known.addresses("index.test", 443)
    clock[0] += hostaddr.KEEP_SECONDS - 1
    known.addresses("index.test", 443)
    assert lookups["asked"] == ["index.test"]
    clock[0] += 2
    known.addresses("index.test", 443)
    assert lookups["asked"] == ["index.test", "index.test"]
