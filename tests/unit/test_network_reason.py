"""Network failures in the words users expect: refused, DNS, TLS, reset, timeout (a table
of httpx errors as httpx raises them, chained from the OS's, or with only their text)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from lockbuild.index.fetcher import network_reason

pytestmark = pytest.mark.unit


def _raised(cause: BaseException, text: str = "") -> httpx.HTTPError:
    """An httpx error raised from ``cause``, as httpx raises them from httpcore's."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise httpx.ConnectError(text or str(inner)) from inner
    except httpx.HTTPError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_raised(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (
            _raised(socket.gaierror(-2, "Name or service not known")),
            "DNS lookup failed (Name or service not known)",
        ),
        (
            _raised(ssl.SSLCertVerificationError(1, "certificate verify failed")),
            "TLS certificate not trusted (certificate verify failed)",
        ),
        (_raised(ConnectionResetError(104, "reset")), "connection reset by the server"),
        # Only the text to go by (httpcore re-raised without a chain)
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (
            httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
            "DNS lookup failed ([Errno -3] Temporary failure in name resolution)",
        ),
        (httpx.RemoteProtocolError("Server disconnected"), "the server closed the connection"),
        (httpx.ReadError(""), "ReadError"),
    ],
)
def test_network_reason(error: httpx.HTTPError, reason: str) -> None:
    assert network_reason(error) == reason
