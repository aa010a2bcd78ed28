"""Network failures in the words users expect: refused, DNS, TLS, reset, timeout (a table
of the errors requests end in, chained from the OS's as wire.py raises them, or with only
their text, or httpx's translated by viahttpx with its chain kept)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from lockbuild.index import net
from lockbuild.index.fetcher import network_reason
from lockbuild.index.viahttpx import translated

pytestmark = pytest.mark.unit


def _raised(cause: BaseException, text: str = "") -> net.HTTPError:
    """A ConnectError raised from ``cause``, as wire.py raises them from the OS's."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise net.ConnectError(text or str(inner)) from inner
    except net.HTTPError as outer:
        return outer


def _through_httpx(cause: BaseException) -> BaseException:
    """httpx's ConnectError raised from ``cause`` (as httpx raises them from httpcore's),
    translated as a request through a proxy translates it."""
    try:
        try:
            try:
                raise cause
            except BaseException as inner:
                raise httpx.ConnectError(str(inner)) from inner
        except httpx.HTTPError as outer:
            raise translated(outer) from outer
    except net.HTTPError as ours:
        return ours


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
        (net.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (
            net.ConnectError("[Errno -3] Temporary failure in name resolution"),
            "DNS lookup failed ([Errno -3] Temporary failure in name resolution)",
        ),
        (net.RemoteProtocolError("Server disconnected"), "the server closed the connection"),
        (net.ReadError(""), "ReadError"),
        # Through a proxy: httpx's errors, translated, their causes kept
        (_through_httpx(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (
            _through_httpx(socket.gaierror(-2, "Name or service not known")),
            "DNS lookup failed (Name or service not known)",
        ),
        (translated(httpx.ReadError("")), "ReadError"),
        (
            translated(httpx.ProxyError("407 Proxy Authentication Required")),
            "ProxyError: 407 Proxy Authentication Required",
        ),
    ],
)
def test_network_reason(error: BaseException, reason: str) -> None:
    assert network_reason(error) == reason
