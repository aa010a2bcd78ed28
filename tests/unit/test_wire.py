"""The http.client transport (lockbuild/index/wire.py) over in-memory sockets: kept-alive
connections reused, one the server closed while idle replaced once, TLS only for HTTPS
(the trusted certificates loaded on the first HTTPS request, never for plain HTTP), a
body shorter than its Content-Length refused, close() ending every connection."""

from __future__ import annotations

import io
import socket
from typing import Any

import pytest

from lockbuild.index import hostaddr, net, wire
from lockbuild.index.wire import StdlibTransport

pytestmark = pytest.mark.unit

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Incoming(io.RawIOBase):
    def __init__(self, sock: FakeSocket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.sock.incoming[: len(buffer)]
        del self.sock.incoming[: len(data)]
        buffer[: len(data)] = data
        return len(data)


class FakeSocket:
    """A connection whose server sends the next of ``answers`` for each request it is
    sent (none left: it closes), and keeps what was sent."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.incoming = bytearray()
        self.sent = b""
        self.closed = False
        self.shut = False

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_Incoming(self))

    def sendall(self, data: bytes) -> None:
        self.sent += data
        if data.endswith(b"\r\n\r\n") and self.answers:
            self.incoming += self.answers.pop(0)

    def setsockopt(self, *args: Any) -> None:
        pass

    def settimeout(self, value: float | None) -> None:
        pass

    def shutdown(self, how: int) -> None:
        self.shut = True

    def close(self) -> None:
        self.closed = True


class Network:
    """socket.create_connection's stand-in: each connection gets the next list of
    answers."""

    def __init__(self, *answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.made: list[FakeSocket] = []

    def __call__(self, address: tuple[str, int], timeout: float | None = None) -> FakeSocket:
        made = FakeSocket(self.answers.pop(0))
        self.made.append(made)
        return made


class FakeTLS:
    def __init__(self) -> None:
        self.names: list[str] = []

    def wrap_socket(self, sock: FakeSocket, server_hostname: str) -> FakeSocket:
        self.names.append(server_hostname)
        return sock


def _get(transport: StdlibTransport, url: str) -> tuple[int, bytes]:
    response = transport.handle_request(net.Request("GET", url, headers={"X-Test": "1"}))
    try:
        return response.status_code, b"".join(response.stream)  # type: ignore[arg-type]
    finally:
        response.close()


def _transport(
    monkeypatch: pytest.MonkeyPatch, network: Network
) -> tuple[StdlibTransport, list[FakeTLS]]:
    monkeypatch.setattr(wire.socket, "create_connection", network)
    made: list[FakeTLS] = []

    def tls() -> Any:
        made.append(FakeTLS())
        return made[-1]

    return StdlibTransport(tls=tls), made


def test_a_kept_alive_connection_serves_the_next_request(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([OK, OK])
    transport, tls = _transport(monkeypatch, network)
    assert _get(transport, "http://127.0.0.1:8080/simple/a/") == (200, b"ok")
    assert _get(transport, "http://127.0.0.1:8080/simple/b/") == (200, b"ok")
    assert len(network.made) == 1
    sent = network.made[0].sent
    assert sent.startswith(b"GET /simple/a/ HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:8080\r\n" in sent and b"\r\nX-Test: 1\r\n" in sent
    assert sent.count(b"Host:") == 2  # one per request: http.client adds none of its own
    assert tls == []  # plain HTTP never made the TLS context


def test_https_makes_the_tls_context_once_and_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    network = Network([OK, OK])
    transport, tls = _transport(monkeypatch, network)
    assert _get(transport, "https://127.0.0.1/a") == (200, b"ok")
    assert _get(transport, "https://127.0.0.1/b") == (200, b"ok")
    assert len(tls) == 1 and tls[0].names == ["127.0.0.1"]


def test_a_connection_closed_while_idle_is_replaced_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    network = Network([OK], [OK])  # the first connection ends after one answer
    transport, _ = _transport(monkeypatch, network)
    assert _get(transport, "http://127.0.0.1/a") == (200, b"ok")
    assert _get(transport, "http://127.0.0.1/b") == (200, b"ok")
    assert len(network.made) == 2 and network.made[0].closed


def test_a_new_connection_closed_at_once_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    transport, _ = _transport(monkeypatch, Network([]))
    with pytest.raises(net.RemoteProtocolError):
        _get(transport, "http://127.0.0.1/a")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n",
    ],
)
def test_a_body_cut_short_is_refused(monkeypatch: pytest.MonkeyPatch, answer: bytes) -> None:
    transport, _ = _transport(monkeypatch, Network([answer]))
    with pytest.raises(net.RemoteProtocolError, match="peer closed connection"):
        _get(transport, "http://127.0.0.1/a")


def test_a_body_left_unread_closes_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([OK, OK], [OK])
    transport, _ = _transport(monkeypatch, network)
    response = transport.handle_request(net.Request("GET", "http://127.0.0.1/a"))
    response.close()
    assert _get(transport, "http://127.0.0.1/b") == (200, b"ok")
    assert len(network.made) == 2 and network.made[0].closed


def test_close_ends_every_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network([OK, OK], [OK])
    transport, _ = _transport(monkeypatch, network)
    busy = transport.handle_request(net.Request("GET", "http://127.0.0.1/a"))
    assert _get(transport, "http://127.0.0.1/b") == (200, b"ok")  # a second connection
    transport.close()
    assert [s.shut for s in network.made] == [True, True]
    with pytest.raises(net.ConnectError):
        _get(transport, "http://127.0.0.1/c")
    busy.close()


def test_only_http_and_https(monkeypatch: pytest.MonkeyPatch) -> None:
    transport, _ = _transport(monkeypatch, Network())
    with pytest.raises(net.UnsupportedProtocol):
        _get(transport, "ftp://127.0.0.1/a")


def test_the_socket_module_is_what_connects() -> None:
    assert wire.socket is socket


def test_addresses_tried_in_order_and_looked_up_again_when_none_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = {"index.test": ["10.0.0.1", "10.0.0.2"]}
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]

    refused = {"10.0.0.1"}
    tried: list[str] = []
    network = Network([OK], [OK])

    def connect(address: tuple[str, int], timeout: float | None = None) -> FakeSocket:
        tried.append(address[0])
        if address[0] in refused:
            raise ConnectionRefusedError(111, "Connection refused")
        return network(address, timeout)

    monkeypatch.setattr(hostaddr.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(wire.socket, "create_connection", connect)
    transport = StdlibTransport(tls=lambda: None)  # type: ignore[arg-type,return-value]
    response = transport.handle_request(net.Request("GET", "http://index.test/a"))
    response.close()  # left unread: the next request needs a new connection
    assert tried == ["10.0.0.1", "10.0.0.2"]
    refused.add("10.0.0.2")
    with pytest.raises(net.ConnectError) as caught:
        _get(transport, "http://index.test/b")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert asked == ["index.test"]
    table["index.test"] = ["10.0.0.3"]
    assert _get(transport, "http://index.test/c") == (200, b"ok")
    assert tried == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert asked == ["index.test", "index.test"]
